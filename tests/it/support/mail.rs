//! Real mail servers for tests: a postfix and a dovecot instance under a folder of their
//! own, started by `scripts/mail-servers.sh`.
//!
//! One pair serves the whole test run: the first test that asks starts it, and every mail
//! test has a mailbox of its own on it (`Mailbox::new()`: boxN@localhost, its password,
//! its Maildir). The pair is stopped when the test process ends, however it ends: a
//! reaper (`mail-servers.sh reap`) waits for the pipe this process holds to close. A test
//! that needs the servers to itself (it stops SMTP, or wants another certificate) starts
//! a pair of its own with `MailServer`, stopped when dropped.
//!
//! The packages must already be installed (`scripts/install-test-deps.sh`, as root): a
//! missing server makes the test panic, it is never skipped.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// A running postfix and dovecot pair: where they listen and what they trust.
#[derive(Debug, Clone)]
pub struct Servers {
    dir: PathBuf,
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
    /// PEM of the CA that signed the servers' certificate (for `ca_file`).
    pub ca_file: PathBuf,
}

/// One mailbox on a pair of servers, with the servers' addresses at hand (`m.host`,
/// `m.smtp_port_tls`... are its servers').
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub servers: Servers,
    /// The mailbox's address and login ("box7@localhost"); `address(tag)` gives
    /// "box7+tag@localhost", which lands in the same mailbox.
    pub user: String,
    pub password: String,
    pub maildir: PathBuf,
}

impl std::ops::Deref for Mailbox {
    type Target = Servers;
    fn deref(&self) -> &Servers {
        &self.servers
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mail-servers.sh")
}

/// Runs `mail-servers.sh action dir` and returns its stdout.
fn run_script(action: &str, dir: &Path, envs: &[(&str, &str)]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .arg(action)
        .arg(dir)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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

/// KEY=VALUE lines as a map.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get(env: &HashMap<String, String>, key: &str, from: &str) -> String {
    env.get(key)
        .unwrap_or_else(|| panic!("{key} missing from {from}"))
        .clone()
}

fn port(env: &HashMap<String, String>, key: &str, from: &str) -> u16 {
    get(env, key, from)
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {from} is not a port: {e}"))
}

fn require_packages() {
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
}

/// A fresh folder for a pair under /tmp (short: dovecot's unix sockets live under it).
fn new_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mail")
        .tempdir_in("/tmp")
        .expect("cannot create a temp dir under /tmp")
}

impl Servers {
    /// Starts a pair in `dir` and returns it with its first mailbox (checker@localhost).
    fn start_in(dir: &Path, envs: &[(&str, &str)]) -> Result<(Servers, Mailbox), String> {
        require_packages();
        run_script("start", dir, envs)
            .map_err(|e| format!("the test mail servers did not start: {e}"))?;
        let env_path = dir.join("env");
        let from = env_path.display().to_string();
        let text = std::fs::read_to_string(&env_path)
            .map_err(|e| format!("{from} not written by the script: {e}"))?;
        let env = parse_env(&text);
        let servers = Servers {
            dir: dir.to_path_buf(),
            host: get(&env, "SMTP_HOST", &from),
            smtp_port_starttls: port(&env, "SMTP_PORT_STARTTLS", &from),
            smtp_port_tls: port(&env, "SMTP_PORT_TLS", &from),
            smtp_port_plain: port(&env, "SMTP_PORT_PLAIN", &from),
            imap_port_starttls: port(&env, "IMAP_PORT_STARTTLS", &from),
            imap_port_tls: port(&env, "IMAP_PORT_TLS", &from),
            ca_file: PathBuf::from(get(&env, "CA_FILE", &from)),
        };
        let first = servers.mailbox(&env, &from);
        Ok((servers, first))
    }

    fn mailbox(&self, env: &HashMap<String, String>, from: &str) -> Mailbox {
        Mailbox {
            servers: self.clone(),
            user: get(env, "MAIL_USER", from),
            password: get(env, "MAIL_PASSWORD", from),
            maildir: PathBuf::from(get(env, "MAILDIR", from)),
        }
    }

    /// A new mailbox of its own on these servers.
    pub fn add_mailbox(&self) -> Mailbox {
        let text = run_script("add-user", &self.dir, &[])
            .unwrap_or_else(|e| panic!("could not add a mailbox: {e}"));
        self.mailbox(&parse_env(&text), "mail-servers.sh add-user")
    }

    /// The folder everything lives in (configs, logs, mailboxes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last lines of postfix's and dovecot's logs, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for log in ["postfix/maillog", "dovecot/dovecot.log"] {
            let text = std::fs::read_to_string(self.dir.join(log)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "== {log}\n{}\n",
                lines[lines.len().saturating_sub(20)..].join("\n")
            ));
        }
        out
    }
}

/// The pair every test of this run shares, and the pipe its reaper waits on.
struct Shared {
    servers: Servers,
    _reaper: Mutex<ChildStdin>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// The shared pair, started on first use; a start that failed fails every test that
/// asks, with the reason.
fn shared() -> &'static Servers {
    let shared = SHARED.get_or_init(|| {
        // Kept past this process: the reaper removes it once the servers are stopped.
        let dir = new_dir().keep();
        let servers = match Servers::start_in(&dir, &[]) {
            Ok((servers, _first)) => servers,
            Err(e) => {
                let _ = run_script("stop", &dir, &[]);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        // In a process group of its own: a Ctrl-C to the test run does not reach it.
        use std::os::unix::process::CommandExt;
        let mut reaper = Command::new("bash")
            .arg(script())
            .arg("reap")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the mail servers' reaper: {e}"))?;
        let pipe = reaper.stdin.take().expect("the reaper's stdin is piped");
        Ok(Shared {
            servers,
            _reaper: Mutex::new(pipe),
        })
    });
    match shared {
        Ok(s) => &s.servers,
        Err(e) => panic!("{e}"),
    }
}

impl Mailbox {
    /// A mailbox of its own on the servers this test run shares (started at first use).
    #[allow(clippy::new_without_default)]
    pub fn new() -> Mailbox {
        shared().add_mailbox()
    }

    /// The address `user+tag@domain`: another recipient, same mailbox.
    pub fn address(&self, tag: &str) -> String {
        let (local, domain) = self.user.split_once('@').expect("user@domain");
        format!("{local}+{tag}@{domain}")
    }

    /// The folder the servers live in.
    pub fn dir(&self) -> &Path {
        self.servers.dir()
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
    /// `timeout` with what did arrive and the tail of the servers' logs.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {n} message(s) within {timeout:?}, got {}:\n{}\n--- log tails:\n{}",
                    messages.len(),
                    messages.join("\n-----\n"),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The messages once the mailbox has been quiet (nothing new) for a second, waiting
    /// ten at most: "exactly one" sees a duplicate that arrives after the first.
    pub fn quiet_messages(&self) -> Vec<String> {
        super::wait_for_quiet(Duration::from_secs(1), Duration::from_secs(10), || {
            self.messages()
        })
    }

    pub fn log_tail(&self) -> String {
        self.servers.log_tail()
    }
}

/// A pair of servers of the test's own, stopped when dropped, with its first mailbox
/// (checker@localhost): for tests that stop SMTP or need another certificate.
pub struct MailServer {
    dir: tempfile::TempDir,
    mailbox: Mailbox,
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
        let dir = new_dir();
        match Servers::start_in(dir.path(), envs) {
            Ok((_, mailbox)) => MailServer { dir, mailbox },
            Err(e) => {
                let _ = run_script("stop", dir.path(), &[]);
                panic!("{e}")
            }
        }
    }

    /// Stops postfix only (an SMTP outage); its ports refuse connections afterwards.
    pub fn stop_smtp(&self) {
        if let Err(e) = run_script("stop-smtp", self.dir.path(), &[]) {
            panic!("could not stop postfix: {e}");
        }
    }

    /// Starts postfix again on the same ports.
    pub fn start_smtp(&self) {
        if let Err(e) = run_script("start-smtp", self.dir.path(), &[]) {
            panic!("could not restart postfix: {e}");
        }
    }
}

impl Deref for MailServer {
    type Target = Mailbox;
    fn deref(&self) -> &Mailbox {
        &self.mailbox
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        if let Err(e) = run_script("stop", self.dir.path(), &[]) {
            eprintln!("warning: {e}");
        }
    }
}

/// The body of a raw message with its transfer encoding (7bit, quoted-printable or
/// base64, as lettre picks for non-ASCII text) undone.
pub fn body_text(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (head, body) = message.split_once("\n\n").unwrap_or((message.as_str(), ""));
    let encoding = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-transfer-encoding")
                .then(|| value.trim().to_ascii_lowercase())
        })
        .unwrap_or_default();
    match encoding.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, joined)
                .unwrap_or_else(|e| panic!("the base64 body does not decode ({e}):\n{body}"));
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "quoted-printable" => {
            let b = body.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' {
                    // A soft line break, or a byte in hex.
                    if b.get(i + 1) == Some(&b'\n') {
                        i += 2;
                        continue;
                    }
                    let hex = b
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                }
                out.push(b[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        _ => body.to_string(),
    }
}
