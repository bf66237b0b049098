//! The fixture every integration test uses: a temp dir with settings and job files, the
//! real `checker` binary run against it, and readers for its state and history.
#![allow(dead_code)]

pub mod http;
pub mod mailserver;
pub mod peers;
pub mod receiver;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

/// Settings used unless a test writes its own: email off, everything inside the temp dir.
pub const BASE_SETTINGS: &str = r#"
[general]
servername = "testbox"
alertcontact = "ops@example.com"
state_file = "state.json"
jobs_dir = "jobs"
history_dir = "history"
lock_timeout = "60s"
delivery_retry = "1s"

[logging]
file = "checker.log"
file_level = "debug"
stderr_level = "warn"

[defaults]
notify = ["capture"]
# The tests count alerts per failure: every failure alerts (not the quiet built-in
# defaults, state_change after 2, which tests of their own cover).
notify_every = "every"
failures_before_notify = 1

[[commands]]
name = "capture"
command = ["./capture.sh"]
timeout = "10s"
"#;

/// A notification channel that appends each alert (JSON on one line) to alerts.jsonl.
const CAPTURE: &str = "#!/bin/sh\nset -e\nif [ -e \"$(dirname \"$0\")/capture.fail\" ]; then echo 'capture is broken' >&2; exit 1; fi\nline=$(tr -d '\\n')\nprintf '%s\\n' \"$line\" >> \"$(dirname \"$0\")/alerts.jsonl\"\n";

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = Fixture { dir };
        std::fs::create_dir_all(f.path().join("jobs")).expect("jobs dir");
        f.write("settings.toml", BASE_SETTINGS);
        f.script("capture.sh", CAPTURE);
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn settings_path(&self) -> PathBuf {
        self.path().join("settings.toml")
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write file");
        self
    }

    /// Writes an executable script.
    pub fn script(&self, rel: &str, text: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, text);
        let p = self.path().join(rel);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self
    }

    pub fn jobs(&self, text: &str) -> &Self {
        self.write("jobs/jobs.toml", text)
    }

    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_checker"));
        c.arg("-f").arg(self.settings_path());
        c.env_remove("CHECKER_CONFIG");
        c.env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run checker")
    }

    /// Runs and insists on an exit status, showing output when it differs.
    pub fn run_ok(&self, args: &[&str], status: i32) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(status),
            "checker {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `run_ok`, failing instead of hanging when the command takes over `secs`.
    pub fn run_within(&self, args: &[&str], status: i32, secs: u64) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args);
        let out = output_within(cmd, secs);
        assert_eq!(
            out.status.code(),
            Some(status),
            "checker {args:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn tick(&self, tick: &str) -> Output {
        self.run_ok(&["-c", tick], 0)
    }

    pub fn state(&self) -> Value {
        let text = std::fs::read_to_string(self.path().join("state.json")).expect("state.json");
        serde_json::from_str(&text).expect("state.json parses")
    }

    pub fn job_state(&self, job: &str) -> Value {
        self.state()["jobs"][job].clone()
    }

    /// Every history event, oldest first, as `history --json` gives them (read through
    /// the library, as a reader: no state lock).
    pub fn history(&self) -> Vec<Value> {
        let db = self.path().join("history.db");
        if !db.exists() && !self.path().join("history").exists() {
            return Vec::new();
        }
        let h = checker::history::History::new(
            &db,
            &self.path().join("history"),
            std::time::Duration::from_secs(60),
            checker::history::Access::Reader,
        );
        let mut events = h
            .read(&checker::history::Query::default())
            .expect("history readable");
        events.reverse();
        events
            .into_iter()
            .map(|e| serde_json::to_value(e).expect("event serialises"))
            .collect()
    }

    /// Alerts the capture channel received, oldest first.
    pub fn alerts(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.path().join("alerts.jsonl")) {
            Ok(text) => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("alert line parses"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Runs `cmd`, killing it (and failing the test) if it has not ended within `secs`: for
/// commands that hung before a fix.
pub fn output_within(mut cmd: std::process::Command, secs: u64) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "still running after {secs}s\nstdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A unix datagram socket standing in for /dev/log: `checker` is pointed at it with
/// CHECKER_SYSLOG_SOCKET, and what it sent is read back.
pub struct Syslog {
    socket: std::os::unix::net::UnixDatagram,
    pub path: std::path::PathBuf,
}

impl Syslog {
    pub fn bind(f: &Fixture) -> Syslog {
        let path = f.path().join("syslog.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind a datagram socket");
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .expect("timeout");
        Syslog { socket, path }
    }

    /// Every datagram received so far.
    pub fn received(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }
}
