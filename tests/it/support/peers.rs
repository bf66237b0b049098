//! Peers: a running `checker serve`, the Python stand-in of the original Checker
//! (peer_standin.py beside this file), and settings for instances that peer with each
//! other.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
        .expect("start python3 peer_standin.py");
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
    format!(
        "{}/tests/it/support/peer_standin.py",
        env!("CARGO_MANIFEST_DIR")
    )
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
