//! The validated configuration every other module works from: defaults applied,
//! durations parsed, paths resolved against the settings file's folder, secrets resolved.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where a job or key was written, for messages a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLoc {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A password or token. Its `Debug` and `Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The value itself: call only where it is handed to a protocol.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The settings file this was loaded from.
    pub path: PathBuf,
    pub general: General,
    pub logging: Logging,
    pub email: Email,
    pub commands: Vec<CommandChannel>,
    pub jobs: Vec<Job>,
    /// `[defaults] notify`: where alerts about checker itself go (an unreadable state
    /// file, a tick that overran its deadline).
    pub default_notify: Vec<String>,
    /// `[serve]`: the status server peers ask.
    pub serve: Serve,
    /// `[pushover]`, when configured: the channel "pushover".
    pub pushover: Option<super::Pushover>,
    /// `[[webhooks]]`: one channel each, by name.
    pub webhooks: Vec<super::Webhook>,
    /// What is allowed but probably not meant (an empty jobs folder): `validate` prints
    /// these, ticks log them.
    pub warnings: Vec<super::Problem>,
    /// The problems of the job files that could not be loaded. Such a file adds no job
    /// (the others load): a tick skips its jobs, keeps their state and alerts about each
    /// problem once; `status` shows them first; `validate` fails on them.
    pub problems: Vec<super::Problem>,
    /// Each `*_env` key of the settings, with the variable it was read from: the
    /// environment of whoever ran checker, which may not be cron's (`validate` says so).
    pub env_reads: Vec<super::Problem>,
}

impl Config {
    /// Every title and body template of every channel.
    pub fn templates(&self) -> Vec<&crate::notify::template::Template> {
        let mut all = vec![&self.email.templates];
        all.extend(self.pushover.iter().map(|p| &p.templates));
        all.extend(self.webhooks.iter().map(|w| &w.templates));
        all.into_iter()
            .flat_map(|t| t.title.iter().chain(t.body.iter()))
            .collect()
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// Whether `file` is a job file that could not be loaded (its jobs are left out).
    pub fn is_broken_file(&self, file: &std::path::Path) -> bool {
        self.problems.iter().any(|p| p.file == file)
    }

    /// The job files that could not be loaded, each once, in the order of their problems.
    pub fn broken_files(&self) -> Vec<&std::path::Path> {
        let mut files: Vec<&std::path::Path> = Vec::new();
        for p in &self.problems {
            if !files.contains(&p.file.as_path()) {
                files.push(&p.file);
            }
        }
        files
    }

    /// Every secret of the configuration, for masking in whatever checker stores, prints,
    /// logs or forwards (`crate::redact`): passwords, tokens, user keys, webhook URLs and
    /// headers, and the credentials inside configured URLs (userinfo passwords, key-like
    /// query values), credential-looking headers of http jobs and credential-named `env`
    /// values of commands.
    pub fn secrets(&self) -> Vec<String> {
        fn header(out: &mut Vec<String>, value: &str) {
            out.push(value.to_string());
            // "Bearer abc": the credential alone too, as a server may echo just that.
            if let Some((_, cred)) = value.trim().split_once(' ') {
                out.push(cred.trim().to_string());
            }
        }
        fn env(out: &mut Vec<String>, env: &BTreeMap<String, String>) {
            for (k, v) in env {
                if crate::redact::sensitive_name(k) {
                    out.push(v.clone());
                }
            }
        }
        let mut out: Vec<String> = Vec::new();
        let secret = |out: &mut Vec<String>, s: &Secret| out.push(s.expose().to_string());
        for s in [
            &self.email.password,
            &self.email.imap_password,
            &self.serve.token,
        ]
        .into_iter()
        .flatten()
        {
            secret(&mut out, s);
        }
        if let Some(p) = &self.pushover {
            secret(&mut out, &p.token);
            secret(&mut out, &p.user);
            out.extend(crate::redact::url_credentials(&p.api_url));
        }
        for w in &self.webhooks {
            secret(&mut out, &w.url);
            out.extend(crate::redact::url_credentials(w.url.expose()));
            for (_, v) in &w.headers {
                header(&mut out, v.expose());
            }
            if let Some(t) = &w.token {
                secret(&mut out, t);
            }
        }
        for c in &self.commands {
            env(&mut out, &c.env);
        }
        for j in &self.jobs {
            match &j.kind {
                JobKind::Http(h) => {
                    out.extend(crate::redact::url_credentials(&h.url));
                    for (k, v) in &h.headers {
                        if crate::redact::sensitive_name(k) {
                            header(&mut out, v);
                        }
                    }
                }
                JobKind::Command(c) => env(&mut out, &c.env),
                JobKind::Peer(p) => {
                    if let Some(t) = &p.token {
                        secret(&mut out, t);
                    }
                    match &p.target {
                        PeerTarget::Url(u) => out.extend(crate::redact::url_credentials(u)),
                        PeerTarget::Command(c) => env(&mut out, &c.env),
                    }
                }
                _ => {}
            }
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }

    /// Every channel name a job may list in `notify`.
    pub fn channel_names(&self) -> Vec<String> {
        let mut names = vec!["email".to_string()];
        names.extend(self.commands.iter().map(|c| c.name.clone()));
        if self.pushover.is_some() {
            names.push("pushover".to_string());
        }
        names.extend(self.webhooks.iter().map(|w| w.name.clone()));
        names
    }
}

#[derive(Debug, Clone)]
pub struct General {
    pub servername: String,
    pub alertcontact: Vec<String>,
    pub state_file: PathBuf,
    pub jobs_dir: PathBuf,
    pub history_dir: PathBuf,
    pub history_days: u32,
    /// The history database (default: `history.db` beside the state file).
    pub history_db: PathBuf,
    /// Where pruned events are archived as `YYYY-MM-DD.jsonl.gz`; `None`: deleted.
    pub history_archive_dir: Option<PathBuf>,
    /// Each job's last N events are kept whatever their age (0: no such floor).
    pub history_keep_last: u32,
    /// Retention of hourly rollups, in days.
    pub rollup_hours_days: u32,
    /// Retention of daily rollups, in days.
    pub rollup_days: u32,
    pub max_concurrency: usize,
    pub tick_deadline: Duration,
    pub stale_after: Duration,
    /// How long a command waits for the state lock before giving up (exit 3).
    pub lock_timeout: Duration,
    /// First retry delay of a failed delivery; it doubles per attempt, up to 30 minutes.
    pub delivery_retry: Duration,
    /// An alert queued this long without being delivered makes peers hear of it:
    /// `MailProblem` for email, `JobProblem` for another channel.
    pub undeliverable_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "off" => Level::Off,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            Level::Off => log::LevelFilter::Off,
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub file: Option<PathBuf>,
    pub max_bytes: u64,
    pub backups: u32,
    pub file_level: Level,
    pub stderr_level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (SMTPS 465, IMAPS 993).
    Tls,
    /// No encryption at all.
    None,
}

impl Security {
    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "none" => Some(Security::None),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Email {
    /// False: alerts are recorded as sent but nothing goes out (like `--nomail`).
    pub enabled: bool,
    pub from: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Subject (`title_template`) and body templates of alert emails.
    pub templates: crate::notify::template::Templates,
    /// IMAP login for the self-check when it differs from SMTP's (default: user/password).
    pub imap_user: Option<String>,
    pub imap_password: Option<Secret>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub imap_host: Option<String>,
    pub imap_port: u16,
    pub imap_security: Security,
    pub imap_mailbox: String,
    /// `None`: the self-check is off ("never").
    pub self_check: Option<crate::schedule::Schedule>,
    pub self_check_wait: Duration,
    pub ca_file: Option<PathBuf>,
    pub accept_invalid_certs: bool,
    pub bust_threading: bool,
    /// Connect-and-send limit for one delivery.
    pub timeout: Duration,
}

/// A `[[commands]]` channel: a program that receives the alert.
#[derive(Debug, Clone)]
pub struct CommandChannel {
    pub name: String,
    /// Program and arguments; a relative program path resolves against the settings folder.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Frequency {
    Minute,
    Hour,
    Day,
    DayNoon,
}

impl Frequency {
    pub fn parse(s: &str) -> Option<Frequency> {
        match s {
            "minute" => Some(Frequency::Minute),
            "hour" => Some(Frequency::Hour),
            "day" => Some(Frequency::Day),
            "day_noon" => Some(Frequency::DayNoon),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Minute => "minute",
            Frequency::Hour => "hour",
            Frequency::Day => "day",
            Frequency::DayNoon => "day_noon",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvery {
    Every,
    FiveMin,
    TenMin,
    Hour,
    Day,
    StateChange,
}

impl NotifyEvery {
    pub fn parse(s: &str) -> Option<NotifyEvery> {
        match s {
            "every" => Some(NotifyEvery::Every),
            "5min" => Some(NotifyEvery::FiveMin),
            "10min" => Some(NotifyEvery::TenMin),
            "hour" => Some(NotifyEvery::Hour),
            "day" => Some(NotifyEvery::Day),
            "state_change" => Some(NotifyEvery::StateChange),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvery::Every => "every",
            NotifyEvery::FiveMin => "5min",
            NotifyEvery::TenMin => "10min",
            NotifyEvery::Hour => "hour",
            NotifyEvery::Day => "day",
            NotifyEvery::StateChange => "state_change",
        }
    }
}

/// The notification rules of one job (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub notify_every: NotifyEvery,
    pub failures_before_notify: u32,
    pub failing_for: Option<Duration>,
    pub notify_recovery: bool,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub kind: JobKind,
    pub schedule: crate::schedule::Schedule,
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
    pub source: SourceLoc,
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
    Http(HttpSpec),
    Tcp(TcpSpec),
    Command(CommandSpec),
    TlsCert(TlsCertSpec),
    File(FileSpec),
    Dns(DnsSpec),
    /// Built from `[[peers]]`, not from job files.
    Peer(PeerSpec),
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

/// `[serve]`: the status server (`checker serve`).
#[derive(Debug, Clone)]
pub struct Serve {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// Bearer token every request must carry; `None`: open.
    pub token: Option<Secret>,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A client must send a whole request head within this long (also the keep-alive
    /// idle limit).
    pub header_timeout: Duration,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: "127.0.0.1:5000".into(),
            token: None,
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
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
