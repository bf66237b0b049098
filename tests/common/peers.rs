//! Helpers for the peer tests: a running `checker serve`, the Python stand-in of the
//! original Checker, a raw HTTP/1.1 client, a server that never answers, a minimal SMTP
//! sink, and settings for instances that peer with each other.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Fixture;

/// A child process killed when dropped (only the one this test started).
pub struct Running {
    pub child: Child,
    pub port: u16,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the first line of a child's stdout (the line that names its port) and hands the
/// rest of the pipe to a thread that drains it, so the child never blocks on it.
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the first line");
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    line
}

/// Starts `checker serve --listen 127.0.0.1:0` for the fixture and waits until it listens.
pub fn serve(f: &Fixture) -> Running {
    serve_with(f, &[])
}

pub fn serve_with(f: &Fixture, envs: &[(&str, &str)]) -> Running {
    let mut cmd = f.cmd();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start checker serve");
    let line = first_line(&mut child);
    let port = line
        .trim()
        .strip_prefix("checker serve: listening on http://127.0.0.1:")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("checker serve did not say where it listens: {line:?}"));
    Running { child, port }
}

/// The stand-in of the original Checker's status site, answering every GET with the
/// word in `word_file`.
pub fn standin_site(word_file: &Path) -> Running {
    let mut child = Command::new("python3")
        .arg(standin_script())
        .arg("serve")
        .arg(word_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3 tests/peer_standin.py");
    let line = first_line(&mut child);
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("stand-in did not print its port: {line:?}"));
    Running { child, port }
}

/// The stand-in of the original Checker's peer check against `url`: its verdict line and
/// whether it found the peer healthy.
pub fn standin_check(url: &str) -> (bool, String) {
    let out = Command::new("python3")
        .arg(standin_script())
        .arg("check")
        .arg(url)
        .output()
        .expect("run the stand-in check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn standin_script() -> String {
    format!("{}/tests/peer_standin.py", env!("CARGO_MANIFEST_DIR"))
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): status and body.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    raw(port, request.as_bytes())
}

/// Sends raw bytes and reads the answer to its end: status and body ((0, "") when the
/// server closed without answering).
pub fn raw(port: u16, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The server may close before reading everything of a refused request.
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A server that accepts connections and never answers.
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    port
}

/// A minimal SMTP server that accepts every message (no TLS, no AUTH) and counts them.
pub struct SmtpSink {
    pub port: u16,
    received: Arc<AtomicU64>,
}

impl SmtpSink {
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP sink");
        let received = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&received);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let count = Arc::clone(&count);
                std::thread::spawn(move || smtp_session(conn, &count));
            }
        });
        SmtpSink { port, received }
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

fn smtp_session(conn: TcpStream, received: &AtomicU64) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut w = conn;
    let say = |w: &mut TcpStream, text: &str| w.write_all(text.as_bytes()).is_ok();
    if !say(&mut w, "220 sink ESMTP\r\n") {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250 sink\r\n",
            "MAIL" | "RCPT" | "RSET" | "NOOP" => "250 OK\r\n",
            "DATA" => {
                if !say(&mut w, "354 go ahead\r\n") {
                    return;
                }
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" || l == ".\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::SeqCst);
                "250 queued\r\n"
            }
            "QUIT" => {
                say(&mut w, "221 bye\r\n");
                return;
            }
            _ => "502 not implemented\r\n",
        };
        if !say(&mut w, reply) {
            return;
        }
    }
}

/// Settings for one instance: the base settings with `stale_after`, then `extra` (email,
/// serve) and one `[[peers]]` table per (name, url, admin).
pub fn instance_settings(stale_after: &str, extra: &str, peers: &[(&str, String, &str)]) -> String {
    let mut s = super::BASE_SETTINGS.replace(
        "delivery_retry = \"1s\"\n",
        &format!("delivery_retry = \"1s\"\nstale_after = \"{stale_after}\"\n"),
    );
    s.push_str(extra);
    for (name, url, admin) in peers {
        s.push_str(&format!(
            "\n[[peers]]\nname = \"{name}\"\nurl = \"{url}\"\nadmin = \"{admin}\"\nfrequency = \"minute\"\nnotify = [\"capture\"]\ntimeout = \"5s\"\n"
        ));
    }
    s
}

/// `[email]` that sends to a local SMTP port with no TLS and no login; the self-check off.
pub fn email_to(port: u16) -> String {
    format!(
        "\n[email]\nenabled = true\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\n\
         smtp_security = \"none\"\nself_check = \"never\"\ntimeout = \"3s\"\n"
    )
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS")
}
