//! Jobs as the library takes them, for the tests that call the checks directly: `Job`
//! values with test defaults, specs for each kind, plugin scripts in a temp dir (and
//! Debian's monitoring plugins, required), and waits on the processes they start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::api::config::{
    CommandSpec, HttpSpec, Job, JobKind, NotifyEvery, Rules, Schedule, SourceLoc, TcpSpec,
};

pub fn http_spec(url: &str) -> HttpSpec {
    HttpSpec {
        url: url.to_string(),
        // Parsed by the check, as a spec built by hand is; jobs loaded from a file carry
        // theirs (tests/it/checks.rs has both).
        parsed_url: None,
        method: "GET".into(),
        headers: Vec::new(),
        body: None,
        expect_status: vec![200],
        contains: None,
        max_response_time: None,
        follow_redirects: false,
        accept_invalid_certs: false,
        not_contains: None,
        json: Vec::new(),
        ca_file: None,
    }
}

pub fn tcp_spec(port: u16) -> TcpSpec {
    TcpSpec {
        host: "127.0.0.1".into(),
        port,
    }
}

/// A job with test defaults: 5 s timeout, no retries, 10 ms backoff.
pub fn job(name: &str, kind: JobKind) -> Job {
    Job {
        name: name.to_string(),
        kind,
        schedule: Schedule::Tick(checker::schedule::Tick::Minute),
        rules: Rules {
            notify_every: NotifyEvery::Every,
            failures_before_notify: 1,
            failing_for: None,
            notify_recovery: true,
        },
        notify: Vec::new(),
        contact: None,
        timeout: Duration::from_secs(5),
        retries: 0,
        retry_backoff: Duration::from_millis(10),
        enabled: true,
        description: None,
        group: None,
        depends_on: Vec::new(),
        public: None,
        source: SourceLoc {
            file: PathBuf::from("jobs/test.toml"),
            line: 1,
        },
        confirm: None,
    }
}

/// Plugin scripts in a temp dir.
pub struct Scripts {
    pub dir: tempfile::TempDir,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes an executable `#!/bin/sh` script.
    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `script` through /bin/sh, so no test execs a file it has just written (another
/// test thread forking at that moment would make the exec fail with "text file busy").
pub fn sh(script: &Path, args: &[&str]) -> CommandSpec {
    let mut command = vec!["/bin/sh".to_string(), script.display().to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    CommandSpec {
        command,
        env: BTreeMap::new(),
        cwd: None,
        warning_is_failure: true,
    }
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped), waiting up
/// to ten seconds for it to happen (a loaded machine may be slow to end it).
pub async fn process_ended(pid: u32) -> bool {
    for _ in 0..200 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // The state follows the command name in parentheses: "1234 (sleep) Z ...".
            Ok(stat) => {
                let state = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().chars().next());
                if state == Some(Some('Z')) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits (up to ten seconds) for a script to have written a pid into `file`.
pub async fn read_pid(file: &Path) -> u32 {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pid written to {}", file.display());
}

pub const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// The path of a Debian monitoring plugin; panics, saying what to install, when missing.
pub fn plugin(name: &str) -> String {
    let path = Path::new(PLUGINS).join(name);
    assert!(
        path.exists(),
        "{} is missing: these tests run Debian's monitoring-plugins-basic (run scripts/install-test-deps.sh)",
        path.display()
    );
    path.display().to_string()
}
