//! A job as the rest of checker works from it, whichever file it came from (a job file's
//! `[[job]]`, or `[[peers]]` in the settings): its kind and what that kind checks, when it
//! runs, its notification rules and channels.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::problem::SourceLoc;
use super::secret::Secret;
use super::when::Rules;
use crate::schedule::Schedule;

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub kind: JobKind,
    pub schedule: Schedule,
    pub rules: Rules,
    /// Channel names, in order.
    pub notify: Vec<String>,
    /// Email recipients for this job; `None`: `alertcontact`.
    pub contact: Option<Vec<String>>,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub enabled: bool,
    pub description: Option<String>,
    /// What the job belongs to ("shop", "mail"): a label of its Alertmanager alerts, and
    /// how the status page sorts jobs.
    pub group: Option<String>,
    /// Jobs whose failure holds back this one's failure alerts (SPEC §10), by name.
    pub depends_on: Vec<String>,
    /// `public`: on the status page or not, whatever `[status_page] public_jobs` says.
    pub public: Option<bool>,
    pub source: SourceLoc,
    /// `confirm_with` and its keys: a failure alerts only when enough places see it.
    pub confirm: Option<Confirm>,
}

/// Confirmation from other places (`confirm_with`, SPEC §12): the peers asked whether they
/// see this job failing too, and how many places must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// `[[peers]]` names, in the order written.
    pub with: Vec<String>,
    /// Places (this instance and the peers) that must see the failure; between 1 and
    /// 1 + `with.len()`. Default: a majority of them.
    pub min: u32,
    /// The job's name on the peers, when it differs (`confirm_job`).
    pub job: Option<String>,
    /// How a peer that gives no usable answer counts.
    pub unknown: UnknownCounts,
    /// The line of `confirm_with`, for the problems found once the peers are known.
    pub line: usize,
}

impl Confirm {
    /// A majority of `places`: 2 of 2, 2 of 3, 3 of 4, 3 of 5.
    pub fn majority(places: usize) -> u32 {
        u32::try_from(places / 2 + 1).unwrap_or(u32::MAX)
    }

    /// This instance and the peers.
    pub fn places(&self) -> usize {
        self.with.len().saturating_add(1)
    }
}

/// `confirm_unknown`: what a peer that does not answer (or answers late, stale, without
/// the job, or malformed) counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCounts {
    /// It does not confirm the failure (the default): a site that cannot be asked never
    /// makes an alert go out.
    NotConfirming,
    /// It counts as seeing the failure: an unreachable site is taken as a sign of trouble.
    Failing,
}

impl UnknownCounts {
    pub const NAMES: &'static [&'static str] = &["not_confirming", "failing"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not_confirming" => Some(UnknownCounts::NotConfirming),
            "failing" => Some(UnknownCounts::Failing),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UnknownCounts::NotConfirming => "not_confirming",
            UnknownCounts::Failing => "failing",
        }
    }
}

impl Job {
    /// What the job looks at, for tables: a URL, `host:port`, a command line.
    pub fn target(&self) -> String {
        match &self.kind {
            JobKind::Http(h) => h.url.clone(),
            JobKind::Tcp(t) => format!("{}:{}", t.host, t.port),
            JobKind::Command(c) => c.command.join(" "),
            JobKind::TlsCert(t) => format!("{}:{}", t.host, t.port),
            JobKind::File(f) => f.path.display().to_string(),
            JobKind::Dns(d) => format!("{} {}", d.query, d.record.as_str()),
            JobKind::Peer(p) => p.target.describe(),
            JobKind::Passive(p) => p.describe(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum JobKind {
    /// Boxed, as `Peer`: the largest kinds would make every job as large as they are.
    Http(Box<HttpSpec>),
    Tcp(TcpSpec),
    Command(CommandSpec),
    TlsCert(TlsCertSpec),
    File(FileSpec),
    Dns(DnsSpec),
    /// Built from `[[peers]]`, not from job files.
    Peer(Box<PeerSpec>),
    /// No check of its own: fed by `report` and `wrap`, with a dead-man's-switch deadline.
    Passive(PassiveSpec),
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Http(_) => "http",
            JobKind::Tcp(_) => "tcp",
            JobKind::Command(_) => "command",
            JobKind::TlsCert(_) => "tls_cert",
            JobKind::File(_) => "file",
            JobKind::Dns(_) => "dns",
            JobKind::Peer(_) => "peer",
            JobKind::Passive(_) => "passive",
        }
    }

    /// Whether runs execute a check for this kind; passive jobs only have a deadline.
    pub fn runs_a_check(&self) -> bool {
        !matches!(self, JobKind::Passive(_))
    }
}

/// A `passive` job: results arrive by `report` / `wrap`; with `expect_every`, none within
/// `expect_every` + `grace` makes it fail as "missing". Without it there is no deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveSpec {
    pub expect_every: Option<Duration>,
    /// Default: a tenth of `expect_every`, at least 1 minute and at most 1 hour; zero
    /// without `expect_every`.
    pub grace: Duration,
}

impl PassiveSpec {
    /// The grace when none is given: a tenth of `expect_every`, at least 1 minute (cron's
    /// granularity) and at most 1 hour.
    pub fn default_grace(expect_every: Duration) -> Duration {
        (expect_every / 10).clamp(Duration::from_secs(60), Duration::from_secs(3600))
    }

    pub fn describe(&self) -> String {
        match self.expect_every {
            Some(every) => format!(
                "pushed, expected every {} (grace {})",
                crate::duration::format(every),
                crate::duration::format(self.grace)
            ),
            None => "pushed, no deadline".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: String,
    /// `url` as parsed when the configuration was loaded: the check hands it to the
    /// client as it is instead of parsing the text again. `None` in a spec built by hand
    /// (a test's), whose check parses `url` itself.
    pub parsed_url: Option<reqwest::Url>,
    /// Upper-case method name, e.g. "GET".
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Accepted status codes (default: [200]).
    pub expect_status: Vec<u16>,
    /// Text the body must contain.
    pub contains: Option<String>,
    pub max_response_time: Option<Duration>,
    pub follow_redirects: bool,
    pub accept_invalid_certs: bool,
    /// Text the body must not contain.
    pub not_contains: Option<String>,
    /// JSON assertions: a JSON pointer (RFC 6901) and the value expected there.
    pub json: Vec<(String, serde_json::Value)>,
    /// Extra CA certificates (PEM) trusted besides the public roots, each also accepted as
    /// the server's own certificate (a pinned self-signed one).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Program and arguments; the program path is already resolved against the jobs folder
    /// when it was written relative with a `/` in it.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    /// Whether a WARNING (exit 1) fails the check (default) or passes it.
    pub warning_is_failure: bool,
}

#[derive(Debug, Clone)]
pub struct TlsCertSpec {
    pub host: String,
    pub port: u16,
    /// The name sent in the TLS handshake (and checked when `verify`).
    pub sni: String,
    /// Fail when the certificate expires within this many days.
    pub warn_days: u32,
    /// Also fail on an untrusted chain or a name mismatch.
    pub verify: bool,
    /// Extra CA (PEM) trusted with `verify`, besides the public roots.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Resolved against the jobs folder.
    pub path: PathBuf,
    pub max_age: Option<Duration>,
    pub min_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsRecord {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
}

impl DnsRecord {
    pub const NAMES: &'static [&'static str] = &["A", "AAAA", "CNAME", "MX", "TXT", "NS"];

    pub fn parse(s: &str) -> Option<DnsRecord> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => DnsRecord::A,
            "AAAA" => DnsRecord::Aaaa,
            "CNAME" => DnsRecord::Cname,
            "MX" => DnsRecord::Mx,
            "TXT" => DnsRecord::Txt,
            "NS" => DnsRecord::Ns,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecord::A => "A",
            DnsRecord::Aaaa => "AAAA",
            DnsRecord::Cname => "CNAME",
            DnsRecord::Mx => "MX",
            DnsRecord::Txt => "TXT",
            DnsRecord::Ns => "NS",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DnsSpec {
    /// The name to resolve.
    pub query: String,
    pub record: DnsRecord,
    /// Values that must all be among the answers.
    pub expect: Vec<String>,
    /// A nameserver to ask instead of the system resolver.
    pub server: Option<std::net::SocketAddr>,
}

/// A `[[peers]]` entry: another checker (or an original Python Checker) that is asked
/// whether it is running its jobs and can send mail.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    pub name: String,
    pub target: PeerTarget,
    /// Where its job states are asked for confirmation (`/jobs.json`, or `jobs-json` run
    /// the way its status is): `jobs_url` / `jobs_command`, else made from `url` /
    /// `command`; `None` when a command cannot be turned into one.
    pub jobs: Option<PeerTarget>,
    /// Bearer token sent to the peer (`Authorization: Bearer ...`).
    pub token: Option<Secret>,
    pub accept_invalid_certs: bool,
}

#[derive(Debug, Clone)]
pub enum PeerTarget {
    /// The peer's status URL; `GET` answers the status word.
    Url(String),
    /// A program that prints the status word, e.g. `ssh backup checker peer-status`;
    /// it runs in the settings file's folder.
    Command(CommandSpec),
}

impl PeerTarget {
    /// For tables and messages: the URL without any password in it, or the command line.
    pub fn describe(&self) -> String {
        match self {
            PeerTarget::Url(url) => redact_userinfo(url),
            PeerTarget::Command(c) => c.command.join(" "),
        }
    }
}

/// `http://user:pass@host/` becomes `http://user:***@host/`.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod peer_target_tests {
    use super::*;

    #[test]
    fn a_password_in_a_peer_url_is_never_shown() {
        assert_eq!(
            redact_userinfo("https://me:hunter2@peer.example/x@y"),
            "https://me:***@peer.example/x@y"
        );
        assert_eq!(
            redact_userinfo("http://peer.example:5000/"),
            "http://peer.example:5000/"
        );
        assert_eq!(
            redact_userinfo("http://me@peer.example/"),
            "http://me@peer.example/"
        );
    }
}
