//! Real mail servers for integration tests: a postfix and a dovecot instance of their own,
//! under a temp dir, started by `scripts/mail-servers.sh` and stopped on drop.
//!
//! The packages must already be installed (`scripts/install-test-deps.sh`, as root): a
//! missing server makes the test panic, it is never skipped. Self-contained (std and
//! tempfile only) so any test file can include it with
//! `#[path = "common/mailserver.rs"] mod mailserver;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

pub struct MailServer {
    dir: tempfile::TempDir,
    /// Where every server listens: "127.0.0.1".
    pub host: String,
    /// Submission with STARTTLS required before AUTH.
    pub smtp_port_starttls: u16,
    /// Implicit TLS (SMTPS, "wrapper mode").
    pub smtp_port_tls: u16,
    /// No TLS at all; AUTH allowed in the clear.
    pub smtp_port_plain: u16,
    pub imap_port_starttls: u16,
    pub imap_port_tls: u16,
    /// The mailbox's address and login: "checker@localhost". Mail to
    /// "checker+anything@localhost" lands in the same mailbox.
    pub user: String,
    pub password: String,
    /// PEM of the CA that signed the servers' certificate (for `ca_file`).
    pub ca_file: PathBuf,
    pub maildir: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mail-servers.sh")
}

fn run_script(action: &str, dir: &Path) -> Result<(), String> {
    run_script_with(action, dir, &[])
}

fn run_script_with(action: &str, dir: &Path, envs: &[(&str, &str)]) -> Result<(), String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(action)
        .arg(dir)
        .envs(envs.iter().copied())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {action} {} failed ({}):\n{}{}",
            script().display(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl MailServer {
    /// Starts both servers on free ports. Panics, with the reason and the servers' log
    /// tail, when they cannot run.
    pub fn start() -> MailServer {
        MailServer::start_with(&[])
    }

    /// Starts both servers with a self-signed certificate that names the host in its CN
    /// only, no subjectAltName (`ca_file` is that certificate).
    pub fn start_with_cn_only_certificate() -> MailServer {
        MailServer::start_with(&[("MAIL_CERT", "cn-only")])
    }

    /// Starts both servers with these variables for `scripts/mail-servers.sh`.
    pub fn start_with(envs: &[(&str, &str)]) -> MailServer {
        for (binary, package) in [
            ("/usr/sbin/postfix", "postfix"),
            ("/usr/sbin/dovecot", "dovecot-imapd"),
            ("/usr/lib/dovecot/imap", "dovecot-imapd"),
        ] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the mail tests need {package}; run scripts/install-test-deps.sh (as root) first"
            );
        }
        // Short path: dovecot's unix sockets live under it.
        let dir = tempfile::Builder::new()
            .prefix("mail")
            .tempdir_in("/tmp")
            .expect("cannot create a temp dir under /tmp");
        if let Err(e) = run_script_with("start", dir.path(), envs) {
            panic!("the test mail servers did not start: {e}");
        }
        let env_path = dir.path().join("env");
        let text = std::fs::read_to_string(&env_path)
            .unwrap_or_else(|e| panic!("{} not written by the script: {e}", env_path.display()));
        let env: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |key: &str| -> String {
            env.get(key)
                .unwrap_or_else(|| panic!("{key} missing from {}", env_path.display()))
                .to_string()
        };
        let port = |key: &str| -> u16 {
            get(key)
                .parse()
                .unwrap_or_else(|e| panic!("{key} in {} is not a port: {e}", env_path.display()))
        };
        MailServer {
            host: get("SMTP_HOST"),
            smtp_port_starttls: port("SMTP_PORT_STARTTLS"),
            smtp_port_tls: port("SMTP_PORT_TLS"),
            smtp_port_plain: port("SMTP_PORT_PLAIN"),
            imap_port_starttls: port("IMAP_PORT_STARTTLS"),
            imap_port_tls: port("IMAP_PORT_TLS"),
            user: get("MAIL_USER"),
            password: get("MAIL_PASSWORD"),
            ca_file: PathBuf::from(get("CA_FILE")),
            maildir: PathBuf::from(get("MAILDIR")),
            dir,
        }
    }

    /// The folder everything lives in (configs, logs, mailbox).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every message delivered so far (Maildir `new/` and `cur/`), raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                files.push((modified, entry.path()));
            }
        }
        files.sort();
        // A file can move from new/ to cur/ while we read (an IMAP client looked).
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Waits until at least `n` messages arrived and returns them all; panics after
    /// `timeout` with what did arrive and the tail of postfix's log.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {n} message(s) within {timeout:?}, got {}:\n{}\n--- postfix log tail:\n{}",
                    messages.len(),
                    messages.join("\n-----\n"),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of postfix's and dovecot's logs, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for log in ["postfix/maillog", "dovecot/dovecot.log"] {
            let text = std::fs::read_to_string(self.dir().join(log)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "== {log}\n{}\n",
                lines[lines.len().saturating_sub(20)..].join("\n")
            ));
        }
        out
    }

    /// Stops postfix only (an SMTP outage); its ports refuse connections afterwards.
    pub fn stop_smtp(&self) {
        if let Err(e) = run_script("stop-smtp", self.dir()) {
            panic!("could not stop postfix: {e}");
        }
    }

    /// Starts postfix again on the same ports.
    pub fn start_smtp(&self) {
        if let Err(e) = run_script("start-smtp", self.dir()) {
            panic!("could not restart postfix: {e}");
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        if let Err(e) = run_script("stop", self.dir()) {
            eprintln!("warning: {e}");
        }
    }
}
