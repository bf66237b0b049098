//! What an alert says a job looks at and what it expected to find there, in words:
//! `GET http://127.0.0.1:8081/` expecting `200`, `db.example.com:5432` expecting `a
//! connection within 10s`. Configured secrets in them (a password in a URL) are masked on
//! the way out like everything else an alert carries (`crate::redact`); command arguments
//! that look like credentials (`--password=...`) are masked here.

use crate::config::{Job, JobKind, PeerTarget};
use crate::duration::format as short;

/// The longest target an alert title carries; the body has it whole.
pub const TITLE_MAX: usize = 100;

/// What the job looks at: the method and URL, `host:port`, the command line, the query...
pub fn target(job: &Job) -> String {
    match &job.kind {
        JobKind::Http(h) => format!("{} {}", h.method, h.url),
        JobKind::Tcp(t) => format!("{}:{}", t.host, t.port),
        JobKind::Command(c) => command_line(&c.command),
        JobKind::TlsCert(t) if t.sni != t.host => {
            format!("{}:{} (name {})", t.host, t.port, t.sni)
        }
        JobKind::TlsCert(t) => format!("{}:{}", t.host, t.port),
        JobKind::File(f) => tidy(&f.path.display().to_string()),
        JobKind::Dns(d) => match d.server {
            Some(server) => format!("{} {} @{server}", d.query, d.record.as_str()),
            None => format!("{} {}", d.query, d.record.as_str()),
        },
        JobKind::Peer(p) => match &p.target {
            PeerTarget::Url(_) => format!("GET {}", p.target.describe()),
            PeerTarget::Command(c) => command_line(&c.command),
        },
        JobKind::Passive(_) => "pushed results (report, wrap)".into(),
    }
}

/// What a passing check finds, when it can be said shortly ("200", "OK, exit 0").
pub fn expected(job: &Job) -> Option<String> {
    Some(match &job.kind {
        JobKind::Http(h) => {
            let codes: Vec<String> = if h.expect_status.is_empty() {
                vec!["200".into()]
            } else {
                h.expect_status.iter().map(u16::to_string).collect()
            };
            let mut out = codes.join(" or ");
            if let Some(c) = &h.contains {
                out.push_str(&format!(
                    " with a body containing {:?}",
                    crate::text::truncate(c, 60)
                ));
            }
            if let Some(max) = h.max_response_time {
                out.push_str(&format!(" within {}", short(max)));
            }
            out
        }
        JobKind::Tcp(_) => format!("a connection within {}", short(job.timeout)),
        JobKind::Command(c) if c.warning_is_failure => "OK, exit 0".into(),
        JobKind::Command(_) => "OK or WARNING, exit 0 or 1".into(),
        JobKind::TlsCert(t) => {
            let days = match t.warn_days {
                1 => "1 day".to_string(),
                n => format!("{n} days"),
            };
            if t.verify {
                format!("a trusted certificate valid for more than {days} (warn_days)")
            } else {
                format!("a certificate valid for more than {days} (warn_days)")
            }
        }
        JobKind::File(f) => {
            let mut parts = vec!["the file exists".to_string()];
            if let Some(age) = f.max_age {
                parts.push(format!("modified within {}", short(age)));
            }
            if let Some(size) = f.min_size {
                parts.push(format!("at least {size} bytes"));
            }
            parts.join(", ")
        }
        JobKind::Dns(d) if d.expect.is_empty() => format!("an {} answer", d.record.as_str()),
        JobKind::Dns(d) => d.expect.join(", "),
        JobKind::Peer(_) => "True".into(),
        JobKind::Passive(p) => match p.expect_every {
            Some(every) => format!(
                "a successful result every {} (grace {})",
                short(every),
                short(p.grace)
            ),
            None => "a successful result".into(),
        },
    })
}

/// A command line as a person would type it: arguments with spaces quoted, and the value
/// of an argument that names a credential (`--password=x`, `--token x`) masked.
pub fn command_line(argv: &[String]) -> String {
    let mut out: Vec<String> = Vec::with_capacity(argv.len());
    let mut mask_next = false;
    for (i, arg) in argv.iter().enumerate() {
        // The program, resolved in the jobs folder: "/etc/checker/jobs/./x.sh" reads as
        // "/etc/checker/jobs/x.sh".
        let tidied;
        let arg = if i == 0 {
            tidied = tidy(arg);
            &tidied
        } else {
            arg
        };
        let shown = if mask_next {
            mask_next = false;
            crate::redact::MASK.to_string()
        } else if let Some((name, _)) = arg
            .split_once('=')
            .filter(|(name, _)| name.starts_with('-') && crate::redact::sensitive_name(name))
        {
            format!("{name}={}", crate::redact::MASK)
        } else {
            if arg.starts_with('-') && !arg.contains('=') && crate::redact::sensitive_name(arg) {
                mask_next = true;
            }
            arg.clone()
        };
        out.push(quote(&shown));
    }
    out.join(" ")
}

/// A path without its "." components.
fn tidy(path: &str) -> String {
    if !path.contains("/./") {
        return path.to_string();
    }
    std::path::Path::new(path)
        .components()
        .collect::<std::path::PathBuf>()
        .display()
        .to_string()
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,*".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn every_kind_names_its_target_and_expectation() {
        let (_dir, config) = crate::engine::test_config(
            r#"
[[job]]
name = "shop home"
kind = "http"
url = "http://127.0.0.1:8081/"
[[job]]
name = "api"
kind = "http"
method = "post"
url = "https://api.example.com/health"
expect_status = [200, 204]
contains = "ok"
max_response_time = "2s"
[[job]]
name = "db"
kind = "tcp"
host = "db.example.com"
port = 5432
timeout = "5s"
[[job]]
name = "cert"
kind = "tls_cert"
host = "10.0.0.1"
sni = "shop.example.com"
warn_days = 14
verify = true
[[job]]
name = "backup"
kind = "command"
command = ["/usr/bin/check_backup", "--dir", "/srv/backups"]
[[job]]
name = "dump"
kind = "file"
path = "/var/backups/db.dump"
max_age = "1d"
min_size = 1024
[[job]]
name = "mx"
kind = "dns"
query = "example.com"
record = "MX"
expect = ["mail.example.com"]
[[job]]
name = "nightly"
kind = "passive"
expect_every = "1d"
"#,
        );
        let about = |name: &str| {
            let job = config.job(name).expect("job loaded");
            (target(job), expected(job).unwrap_or_default())
        };
        let table = [
            ("shop home", "GET http://127.0.0.1:8081/", "200"),
            (
                "api",
                "POST https://api.example.com/health",
                "200 or 204 with a body containing \"ok\" within 2s",
            ),
            ("db", "db.example.com:5432", "a connection within 5s"),
            (
                "cert",
                "10.0.0.1:443 (name shop.example.com)",
                "a trusted certificate valid for more than 14 days (warn_days)",
            ),
            (
                "backup",
                "/usr/bin/check_backup --dir /srv/backups",
                "OK, exit 0",
            ),
            (
                "dump",
                "/var/backups/db.dump",
                "the file exists, modified within 1d, at least 1024 bytes",
            ),
            ("mx", "example.com MX", "mail.example.com"),
            (
                "nightly",
                "pushed results (report, wrap)",
                "a successful result every 1d (grace 1h)",
            ),
        ];
        for (name, want_target, want_expected) in table {
            assert_eq!(
                about(name),
                (want_target.to_string(), want_expected.to_string()),
                "{name}"
            );
        }
        // Peers: the URL without its password, or the command.
        let mut peer = config.job("db").expect("job loaded").clone();
        peer.kind = JobKind::Peer(Box::new(crate::config::PeerSpec {
            name: "backup".into(),
            target: PeerTarget::Url("http://watch:pw1234@backup.example.com:5000/".into()),
            jobs: None,
            token: None,
            accept_invalid_certs: false,
        }));
        assert_eq!(
            (target(&peer), expected(&peer)),
            (
                "GET http://watch:***@backup.example.com:5000/".to_string(),
                Some("True".to_string())
            )
        );
    }

    #[test]
    fn a_command_line_quotes_spaces_and_masks_credential_arguments() {
        assert_eq!(
            command_line(&argv(&[
                "/usr/lib/nagios/./plugins/check_http",
                "-H",
                "example.com",
                "--password=hunter22",
                "--token",
                "abc123",
                "it's here"
            ])),
            "/usr/lib/nagios/plugins/check_http -H example.com --password=*** --token *** 'it'\\''s here'"
        );
        assert_eq!(command_line(&argv(&["./backup.sh"])), "./backup.sh");
    }
}
