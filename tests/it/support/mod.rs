//! The fixtures every area shares: a temp dir with settings and job files (`Fixture`),
//! the real `checker` binary run against it (`Test`, in the style of just's), readers for
//! its state, history and alerts, and ways to make time pass without waiting for it.
//! The servers tests talk to live in the submodules, one file per kind.
#![allow(dead_code)]

pub mod alertmanager;
pub mod api;
pub mod dns;
pub mod history;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod net;
pub mod peers;
pub mod receiver;
pub mod tls;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

// The parts of BASE_SETTINGS as macros, so that it stays one `const` and the parts can
// be used on their own.
macro_rules! general_and_logging {
    () => {
        r#"
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
"#
    };
}

macro_rules! capture_channel {
    () => {
        r#"[[commands]]
name = "capture"
command = ["./capture.sh"]
timeout = "10s"
"#
    };
}

/// Settings used unless a test writes its own: email off, everything inside the temp dir.
pub const BASE_SETTINGS: &str = concat!(
    general_and_logging!(),
    r#"
[defaults]
notify = ["capture"]
# The tests count alerts per failure: every failure alerts (not the quiet built-in
# defaults, state_change after 2, which tests of their own cover).
notify_every = "every"
failures_before_notify = 1

"#,
    capture_channel!()
);

/// BASE_SETTINGS' `[general]` and `[logging]`: everything inside the temp dir, the log at
/// debug level, warnings on stderr.
pub const GENERAL_AND_LOGGING: &str = general_and_logging!();

/// BASE_SETTINGS' `capture` channel: the `[[commands]]` table of capture.sh, which every
/// fixture holds.
pub const CAPTURE_CHANNEL: &str = capture_channel!();

/// A notification channel that appends each alert (JSON on one line) to alerts.jsonl.
const CAPTURE: &str = "#!/bin/sh\nset -e\nif [ -e \"$(dirname \"$0\")/capture.fail\" ]; then echo 'capture is broken' >&2; exit 1; fi\nline=$(tr -d '\\n')\nprintf '%s\\n' \"$line\" >> \"$(dirname \"$0\")/alerts.jsonl\"\n";

/// A command job's script that passes, and one that fails (CRITICAL, exit 2).
pub const OK_SCRIPT: &str = "#!/bin/sh\necho 'OK - fine'\nexit 0\n";
pub const FAIL_SCRIPT: &str = "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n";

/// How long a `checker` run may take before the test calls it hung.
const RUN_BOUND: Duration = Duration::from_secs(120);

/// A temp dir holding settings.toml (BASE_SETTINGS), jobs/, and the `capture` channel.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = Fixture { dir };
        std::fs::create_dir_all(f.path().join("jobs")).expect("jobs dir");
        f.write("settings.toml", BASE_SETTINGS);
        f.script("capture.sh", CAPTURE);
        f
    }

    /// A fixture whose settings are `text`.
    pub fn with_settings(text: &str) -> Self {
        let f = Fixture::new();
        f.settings(text);
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

    pub fn settings(&self, text: &str) -> &Self {
        self.write("settings.toml", text)
    }

    pub fn jobs(&self, text: &str) -> &Self {
        self.write("jobs/jobs.toml", text)
    }

    /// jobs/ok.sh, a command that passes.
    pub fn ok_script(&self) -> &Self {
        self.script("jobs/ok.sh", OK_SCRIPT)
    }

    /// jobs/fail.sh, a command that fails with "CRITICAL - broken".
    pub fn fail_script(&self) -> &Self {
        self.script("jobs/fail.sh", FAIL_SCRIPT)
    }

    /// `checker -f settings.toml`, ready for arguments (no CHECKER_CONFIG, no colour).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_checker"));
        c.arg("-f").arg(self.settings_path());
        c.env_remove("CHECKER_CONFIG");
        c.env("NO_COLOR", "1");
        c
    }

    /// A run of `checker` against this fixture, to be given arguments and expectations.
    pub fn test(&self) -> Test<'_> {
        Test::on(Place::Borrowed(self))
    }

    /// Runs `checker args`, whatever its exit status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.test().args(args).any_status().run().output
    }

    /// Runs and insists on an exit status, showing output when it differs.
    pub fn run_ok(&self, args: &[&str], status: i32) -> Output {
        self.test().args(args).status(status).run().output
    }

    /// `run_ok`, failing instead of hanging when the command takes over `secs`.
    pub fn run_within(&self, args: &[&str], status: i32, secs: u64) -> Output {
        self.test()
            .args(args)
            .status(status)
            .within(Duration::from_secs(secs))
            .run()
            .output
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
        let mut events = api::read_history(&db, &self.path().join("history"));
        events.reverse();
        events
    }

    /// The history events of one kind ("result", "notify", "error"...), oldest first.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.history()
            .into_iter()
            .filter(|e| e["event"] == kind)
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

    /// Makes `by` pass for checker without waiting for it: every instant the state file
    /// records (last runs, streaks, heartbeat, mail health, outbox retry times...) moves
    /// `by` into the past, under the state lock. The alerts queued in the outbox keep
    /// their texts: they are messages, not clocks.
    pub fn age_state(&self, by: Duration) {
        let path = self.path().join("state.json");
        let _lock = StateLock::take(&path);
        let text = std::fs::read_to_string(&path).expect("state.json");
        let mut state: Value = serde_json::from_str(&text).expect("state.json parses");
        let by = chrono::Duration::from_std(by).expect("a short duration");
        shift_instants(&mut state, by);
        let tmp = self.path().join("state.json.aging");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(&state).expect("serialises"),
        )
        .expect("write the aged state");
        std::fs::rename(&tmp, &path).expect("replace the state file");
    }

    /// Makes time pass until every alert waiting in the outbox may be tried again (its
    /// retry time come, and any lease a killed process left run out), and at least a
    /// second (delivery_retry); returns how much passed.
    pub fn age_to_next_retry(&self) -> Duration {
        let now = chrono::Utc::now();
        let instant = |v: &Value| {
            v.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        let due = self.state()["outbox"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let lease = instant(&e["lease_until"]).unwrap_or(now);
                instant(&e["next_attempt"]).map(|next| next.max(lease))
            })
            .max()
            .unwrap_or(now);
        let wait = (due - now).to_std().unwrap_or_default() + Duration::from_millis(100);
        let wait = wait.max(Duration::from_millis(1100));
        self.age_state(wait);
        wait
    }

    /// Makes `by` pass for the history: every event and open run moves `by` into the past.
    pub fn age_history(&self, by: Duration) {
        history::age(&self.path().join("history.db"), by);
    }
}

/// Moves every RFC 3339 instant in `v` back by `by`, except inside queued alerts.
fn shift_instants(v: &mut Value, by: chrono::Duration) {
    match v {
        Value::String(s) => {
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                let moved = t.with_timezone(&chrono::Utc) - by;
                *s = moved.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| shift_instants(i, by)),
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key != "alert" {
                    shift_instants(value, by);
                }
            }
        }
        _ => {}
    }
}

/// The state file's lock (flock on `<state>.lock`, as checker takes it), held while alive.
struct StateLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

impl StateLock {
    fn take(state: &Path) -> StateLock {
        let mut lock = state.as_os_str().to_owned();
        lock.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(lock))
            .expect("open the state lock");
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive) {
            Ok(held) => StateLock(held),
            Err((_, e)) => panic!("could not lock the state: {e}"),
        }
    }
}

// ------------------------------------------------------------------------------ Test

/// What a stream must hold.
#[derive(Debug)]
enum Expect {
    Is(String),
    Contains(String),
    Lacks(String),
}

impl Expect {
    fn check(&self, stream: &str, text: &str) -> Option<String> {
        match self {
            Expect::Is(want) if text != want => Some(format!("{stream} is not {want:?}")),
            Expect::Contains(part) if !text.contains(part.as_str()) => {
                Some(format!("{stream} lacks {part:?}"))
            }
            Expect::Lacks(part) if text.contains(part.as_str()) => {
                Some(format!("{stream} holds {part:?}"))
            }
            _ => None,
        }
    }
}

/// The fixture a test runs in: its own, or one the test keeps for further steps.
enum Place<'f> {
    Owned(Box<Fixture>),
    Borrowed(&'f Fixture),
}

impl std::ops::Deref for Place<'_> {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        match self {
            Place::Owned(f) => f,
            Place::Borrowed(f) => f,
        }
    }
}

/// One `checker` run in the style of just's `Test`: the files it reads, its arguments and
/// environment, then what it must do: exit status, stdout and stderr (exact or a part),
/// values in the state file, events in the history, alerts. `run` checks them all and
/// shows the whole output when one fails.
///
/// ```ignore
/// Test::new()
///     .jobs("[[job]]\nname = \"web\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\n")
///     .args(["-c", "minute"])
///     .state("/jobs/web/status", "failing")
///     .events("result", 1)
///     .run();
/// f.test().args(["validate"]).status(2).stderr_contains("line 4: unknown key").run();
/// ```
#[must_use = "a Test does nothing until run"]
pub struct Test<'f> {
    place: Place<'f>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    current_dir: Option<PathBuf>,
    settings_flag: bool,
    stdin: Option<Vec<u8>>,
    within: Duration,
    status: Option<i32>,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
    state: Vec<(String, Value)>,
    events: Vec<(String, usize)>,
    alerts: Option<usize>,
}

impl Test<'static> {
    /// A test in a fresh fixture of its own.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Test<'static> {
        Test::on(Place::Owned(Box::default()))
    }
}

impl<'f> Test<'f> {
    fn on(place: Place<'f>) -> Test<'f> {
        Test {
            place,
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            current_dir: None,
            settings_flag: true,
            stdin: None,
            within: RUN_BOUND,
            status: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
            state: Vec::new(),
            events: Vec::new(),
            alerts: None,
        }
    }

    // The files, written at once.

    pub fn settings(self, text: &str) -> Self {
        self.place.settings(text);
        self
    }

    pub fn jobs(self, text: &str) -> Self {
        self.place.jobs(text);
        self
    }

    pub fn write(self, rel: &str, text: &str) -> Self {
        self.place.write(rel, text);
        self
    }

    pub fn script(self, rel: &str, text: &str) -> Self {
        self.place.script(rel, text);
        self
    }

    // The run.

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Runs in `dir` (default: the test's own working directory).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Runs without `-f settings.toml` (how checker finds its settings is under test).
    pub fn without_settings_flag(mut self) -> Self {
        self.settings_flag = false;
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Fails the test, killing the run, when it takes longer than `bound` (default 120 s).
    pub fn within(mut self, bound: Duration) -> Self {
        self.within = bound;
        self
    }

    // What it must do.

    /// The exit status (default 0).
    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit status will do (the test looks at it itself).
    pub fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    pub fn stdout(mut self, exact: impl Into<String>) -> Self {
        self.stdout.push(Expect::Is(exact.into()));
        self
    }

    pub fn stdout_contains(mut self, part: impl Into<String>) -> Self {
        self.stdout.push(Expect::Contains(part.into()));
        self
    }

    pub fn stdout_lacks(mut self, part: impl Into<String>) -> Self {
        self.stdout.push(Expect::Lacks(part.into()));
        self
    }

    pub fn stderr(mut self, exact: impl Into<String>) -> Self {
        self.stderr.push(Expect::Is(exact.into()));
        self
    }

    pub fn stderr_contains(mut self, part: impl Into<String>) -> Self {
        self.stderr.push(Expect::Contains(part.into()));
        self
    }

    pub fn stderr_lacks(mut self, part: impl Into<String>) -> Self {
        self.stderr.push(Expect::Lacks(part.into()));
        self
    }

    /// A value in the state file afterwards, by JSON pointer ("/jobs/web/status").
    pub fn state(mut self, pointer: &str, value: impl Into<Value>) -> Self {
        self.state.push((pointer.to_string(), value.into()));
        self
    }

    /// How many history events of `kind` there are afterwards.
    pub fn events(mut self, kind: &str, count: usize) -> Self {
        self.events.push((kind.to_string(), count));
        self
    }

    /// How many alerts the capture channel has received afterwards.
    pub fn alerts(mut self, count: usize) -> Self {
        self.alerts = Some(count);
        self
    }

    /// Runs `checker` and checks every expectation.
    pub fn run(self) -> Ran<'f> {
        let f: &Fixture = &self.place;
        let mut cmd = if self.settings_flag {
            f.cmd()
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_checker"));
            c.env("NO_COLOR", "1");
            c
        };
        cmd.args(&self.args);
        for key in &self.env_remove {
            cmd.env_remove(key);
        }
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        let output = output_within_bound(cmd, self.stdin.as_deref(), self.within);
        let (out, err) = (stdout(&output), stderr(&output));
        let mut problems = Vec::new();
        if let Some(code) = self.status {
            if output.status.code() != Some(code) {
                problems.push(format!("exit status {:?}, not {code}", output.status));
            }
        }
        problems.extend(self.stdout.iter().filter_map(|e| e.check("stdout", &out)));
        problems.extend(self.stderr.iter().filter_map(|e| e.check("stderr", &err)));
        if !self.state.is_empty() {
            let state = f.state();
            for (pointer, want) in &self.state {
                let got = state.pointer(pointer).unwrap_or(&Value::Null);
                if got != want {
                    problems.push(format!("state {pointer} is {got}, not {want}"));
                }
            }
        }
        for (kind, want) in &self.events {
            let got = f.events(kind).len();
            if got != *want {
                problems.push(format!("{got} {kind} event(s) in the history, not {want}"));
            }
        }
        if let Some(want) = self.alerts {
            let got = f.alerts();
            if got.len() != want {
                problems.push(format!("{} alert(s), not {want}: {got:#?}", got.len()));
            }
        }
        assert!(
            problems.is_empty(),
            "checker {:?}:\n  {}\nstdout:\n{out}\nstderr:\n{err}",
            self.args,
            problems.join("\n  ")
        );
        Ran {
            place: self.place,
            output,
        }
    }
}

/// A finished run: its output, and the fixture it ran in for the next steps.
pub struct Ran<'f> {
    place: Place<'f>,
    pub output: Output,
}

impl Ran<'_> {
    pub fn stdout(&self) -> String {
        stdout(&self.output)
    }

    pub fn stderr(&self) -> String {
        stderr(&self.output)
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        let text = self.stdout();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
    }

    /// The fixture the run happened in, for a test that began with `Test::new()`.
    pub fn fixture(&self) -> &Fixture {
        &self.place
    }
}

impl std::ops::Deref for Ran<'_> {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        &self.place
    }
}

// ------------------------------------------------------------------- processes, time

/// Runs `cmd`, killing it (and failing the test) if it has not ended within `secs`: for
/// commands that hung before a fix.
pub fn output_within(cmd: Command, secs: u64) -> Output {
    output_within_bound(cmd, None, Duration::from_secs(secs))
}

/// Runs `cmd` with `stdin` (none: /dev/null), reading its output as it comes; kills it
/// and fails the test when it has not ended within `bound`.
pub fn output_within_bound(mut cmd: Command, stdin: Option<&[u8]>, bound: Duration) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + bound;
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            );
            panic!(
                "{cmd:?} still running after {bound:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    };
    Output {
        status,
        // A background grandchild may keep a pipe open: its readers end with it.
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Polls `look` until it gives `Some`, at most `bound`; panics with `what` otherwise.
pub fn wait_until<T>(bound: Duration, what: &str, mut look: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = look() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until what `look` sees stops changing: nothing new for `quiet`, `bound` at most
/// in all. For "exactly one" checks: a duplicate arriving late restarts the wait, so it is
/// seen, where a fixed wait would have stopped looking.
pub fn wait_for_quiet<T: PartialEq>(
    quiet: Duration,
    bound: Duration,
    mut look: impl FnMut() -> T,
) -> T {
    let started = Instant::now();
    let mut last = look();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = look();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return last;
        }
        assert!(
            started.elapsed() < bound,
            "still changing after {bound:?}: never quiet for {quiet:?}"
        );
    }
}

/// Waits (up to `within`) for `path` to appear.
pub fn wait_for_file(path: &Path, within: Duration) {
    wait_until(
        within,
        &format!("{} never appeared", path.display()),
        || path.exists().then_some(()),
    );
}

/// Runs this test binary again as a child with `CHECKER_IT_CHILD=<role>`, running only
/// the test `name` (its full path), for tests that need a process of their own (global
/// state, several writers). True in the child, where the test does its part.
pub fn in_child(role: &str) -> bool {
    std::env::var("CHECKER_IT_CHILD").is_ok_and(|r| r == role)
}

/// Starts the child of `in_child`: `name` is the test's path ("logging::its_name").
pub fn child_test(name: &str, role: &str, envs: &[(&str, &str)]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env("CHECKER_IT_CHILD", role)
        .envs(envs.iter().copied());
    c
}

/// A unix datagram socket standing in for /dev/log: `checker` is pointed at it with
/// CHECKER_SYSLOG_SOCKET, and what it sent is read back.
pub struct Syslog {
    socket: std::os::unix::net::UnixDatagram,
    pub path: PathBuf,
}

impl Syslog {
    pub fn bind(f: &Fixture) -> Syslog {
        let path = f.path().join("syslog.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind a datagram socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
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

/// The base settings with another `[general]` key added.
pub fn settings_with_general(line: &str) -> String {
    BASE_SETTINGS.replace("[general]\n", &format!("[general]\n{line}\n"))
}

/// Insists on an exit status, showing the output when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}
