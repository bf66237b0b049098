//! The Debian package end to end (issue 17): `scripts/build-deb.sh` packages the binary
//! this test suite built, then the test installs it on this machine with dpkg, runs it as
//! the `checker` user, renders every man page, verifies every systemd unit, removes and
//! purges the package, and checks that nothing is left behind.
//!
//! Needs root (or passwordless sudo), cargo-deb (scripts/install-cargo-deb.sh) and man-db
//! and systemd (scripts/install-test-deps.sh); it fails, saying which, when one is
//! missing. It refuses to run on a machine where checker is installed or configured (a
//! `checker` package or user, /etc/checker, /var/lib/checker...), and purges what it
//! installed even when it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const USER_COMMENT: &str = "checker monitor (created by the checker package)";
const UNITS: [&str; 6] = [
    "checker@.service",
    "checker-minute.timer",
    "checker-hour.timer",
    "checker-day.timer",
    "checker-day_noon.timer",
    "checker-serve.service",
];
/// Every file the issue names, besides the man pages of the subcommands.
const FILES: [&str; 9] = [
    "/usr/bin/checker",
    "/etc/checker/settings.toml",
    "/etc/checker/jobs/example.toml",
    "/etc/cron.d/checker",
    "/usr/share/bash-completion/completions/checker",
    "/usr/share/zsh/vendor-completions/_checker",
    "/usr/share/fish/vendor_completions.d/checker.fish",
    "/usr/share/man/man1/checker.1.gz",
    "/usr/share/man/man5/checker.toml.5.gz",
];
/// What the package, its scripts or an admin may create outside the package's file list.
const STATE_PATHS: [&str; 2] = ["/etc/checker", "/var/lib/checker"];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs commands as root: directly when the test is root, else through `sudo -n`.
struct Root {
    sudo: bool,
}

impl Root {
    fn get() -> Root {
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        if text(&uid.stdout).trim() == "0" {
            return Root { sudo: false };
        }
        let sudo = Command::new("sudo").args(["-n", "true"]).output();
        match sudo {
            Ok(out) if out.status.success() => Root { sudo: true },
            _ => panic!(
                "the package test installs a .deb with dpkg: run the tests as root or with \
                 passwordless sudo"
            ),
        }
    }

    fn command(&self, program: &str) -> Command {
        if self.sudo {
            let mut c = Command::new("sudo");
            c.args(["-n", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }

    /// Runs and requires exit 0.
    fn ok(&self, program: &str, args: &[&str]) -> Output {
        let out = self.output(program, args);
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("{program} {}", args.join(" ")), &out)
        );
        out
    }

    /// Runs checker as the `checker` user, as cron or systemd would.
    fn as_checker(&self, args: &[&str]) -> Output {
        let mut all = vec!["-u", "checker", "--", "/usr/bin/checker"];
        all.extend_from_slice(args);
        self.output("runuser", &all)
    }
}

/// Purges what the test installed when it ends, whether it passed or not.
struct Cleanup<'a> {
    root: &'a Root,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.root.output("dpkg", &["--purge", "checker"]);
        // Before the test none of these existed (checked below): whatever is there now is
        // the test's own, left by a purge that failed half-way.
        for path in STATE_PATHS {
            let _ = self.root.output("rm", &["-rf", path]);
        }
        if user_comment().as_deref() == Some(USER_COMMENT) {
            let _ = self.root.output("userdel", &["checker"]);
            let _ = self.root.output("groupdel", &["checker"]);
        }
        for path in FILES {
            if Path::new(path).exists() {
                eprintln!("package test cleanup: {path} is still there; remove it by hand");
            }
        }
    }
}

fn getent(db: &str, key: &str) -> Option<String> {
    let out = Command::new("getent")
        .args([db, key])
        .output()
        .expect("run getent");
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_string())
}

fn user_comment() -> Option<String> {
    getent("passwd", "checker").and_then(|line| line.split(':').nth(4).map(str::to_string))
}

/// The package's status as dpkg knows it: None when dpkg has never heard of it.
fn package_status() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "checker"])
        .output()
        .expect("run dpkg-query");
    let status = text(&out.stdout).trim().to_string();
    (out.status.success() && !status.is_empty() && !status.ends_with("not-installed"))
        .then_some(status)
}

/// Files named after a checker unit under `dirs`.
fn unit_files_in(dirs: &[&str]) -> Vec<String> {
    let out = Command::new("find")
        .args(dirs)
        .args(["-name", "checker[@-]*"])
        .output()
        .expect("run find");
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The links that enable a unit (systemctl enable, deb-systemd-helper enable).
fn enabled_links() -> Vec<String> {
    unit_files_in(&["/etc/systemd"])
}

/// Everything systemd's tools keep about the units: enable links, and deb-systemd-helper's
/// records of them (made at install so that purge can remove links an admin made).
fn systemd_leftovers() -> Vec<String> {
    unit_files_in(&[
        "/etc/systemd",
        "/var/lib/systemd/deb-systemd-helper-enabled",
        "/var/lib/systemd/deb-systemd-helper-masked",
    ])
}

fn require_tool(program: &str, install: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "the package test needs {program}: {install}");
}

/// The man pages `checker manpages` writes: what the package must ship in man1.
fn generated_man_pages() -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_checker"))
        .arg("manpages")
        .arg(dir.path())
        .output()
        .expect("run checker manpages");
    assert!(
        out.status.success(),
        "{}",
        describe("checker manpages", &out)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read man folder")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

fn build_package(out_dir: &Path) -> PathBuf {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb.sh"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_checker"))
        .arg("--output")
        .arg(out_dir)
        .arg("--fast")
        .output()
        .expect("run scripts/build-deb.sh");
    assert!(
        out.status.success(),
        "{}",
        describe("scripts/build-deb.sh", &out)
    );
    eprintln!("package built in {:.1?}", started.elapsed());
    let deb = PathBuf::from(text(&out.stdout).trim());
    assert!(
        deb.starts_with(out_dir) && deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "build-deb.sh should print the .deb it made in {}, printed {}",
        out_dir.display(),
        deb.display()
    );
    deb
}

/// `dpkg-deb -c`: every path in the package (folders end with `/`), with its mode.
fn package_listing(deb: &Path) -> Vec<(String, String)> {
    let out = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .expect("run dpkg-deb -c");
    assert!(out.status.success(), "{}", describe("dpkg-deb -c", &out));
    text(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mode = line.split_whitespace().next()?.to_string();
            let path = line
                .split_whitespace()
                .last()?
                .trim_start_matches('.')
                .to_string();
            Some((path, mode))
        })
        .collect()
}

/// Held while the package is installed on this machine: waits for any other run.
fn machine_lock() -> std::fs::File {
    use fs4::FileExt;
    let path = Path::new("/tmp/checker-package-test.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    FileExt::lock(&file).unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

#[test]
fn the_debian_package_installs_runs_as_the_checker_user_and_purges_without_a_trace() {
    // The test installs onto this machine: two runs at once (two checkouts testing side
    // by side) would purge each other's install. One at a time, machine-wide.
    let _machine = machine_lock();
    let started = Instant::now();
    let root = Root::get();
    require_tool("dpkg-deb", "it comes with dpkg (a Debian machine)");
    require_tool("man", "scripts/install-test-deps.sh installs man-db");
    require_tool(
        "systemd-analyze",
        "scripts/install-test-deps.sh installs systemd",
    );
    require_tool("runuser", "it comes with util-linux");

    // This machine must not have a checker of its own: the test purges what it installs.
    assert_eq!(
        package_status(),
        None,
        "a checker package is installed here; the package test would replace and purge \
         it. Remove it first: dpkg --purge checker"
    );
    for path in STATE_PATHS.iter().chain(FILES.iter()) {
        assert!(
            !Path::new(path).exists(),
            "{path} exists: checker is installed or configured on this machine, and the \
             package test would overwrite and purge it. Move it away first"
        );
    }
    assert_eq!(
        getent("passwd", "checker"),
        None,
        "a user `checker` exists here; the package test creates and deletes its own"
    );

    // Build, and look inside before installing.
    let out_dir = tempfile::tempdir().expect("temp dir");
    let deb = build_package(out_dir.path());
    let listing = package_listing(&deb);
    let paths: BTreeSet<&str> = listing.iter().map(|(p, _)| p.as_str()).collect();
    let man1 = generated_man_pages();
    assert!(man1.len() > 10, "one page per subcommand: {man1:?}");
    let mut expected: Vec<String> = FILES.iter().map(|p| p.to_string()).collect();
    expected.extend(UNITS.iter().map(|u| format!("/lib/systemd/system/{u}")));
    expected.extend(man1.iter().map(|p| format!("/usr/share/man/man1/{p}.gz")));
    // The pictures the packaged docs show (status-page.md's screenshots) sit beside them.
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let pictures: Vec<String> = std::fs::read_dir(&docs)
        .expect("read docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".png"))
        .collect();
    assert!(
        !pictures.is_empty(),
        "docs/ has the status page's screenshots"
    );
    expected.extend(
        pictures
            .iter()
            .map(|n| format!("/usr/share/doc/checker/docs/{n}")),
    );
    for path in &expected {
        assert!(
            paths.contains(path.as_str()),
            "{path} is not in the package: {paths:#?}"
        );
    }
    let mode_of = |path: &str| {
        listing
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, m)| m.clone())
    };
    assert_eq!(mode_of("/usr/bin/checker").as_deref(), Some("-rwxr-xr-x"));
    assert_eq!(mode_of("/etc/checker/jobs/").as_deref(), Some("drwxr-xr-x"));

    let control = tempfile::tempdir().expect("temp dir");
    let out = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path())
        .output()
        .expect("run dpkg-deb -e");
    assert!(out.status.success(), "{}", describe("dpkg-deb -e", &out));
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap_or_default();
    for conffile in [
        "/etc/checker/settings.toml",
        "/etc/checker/jobs/example.toml",
        "/etc/cron.d/checker",
    ] {
        assert!(
            conffiles.lines().any(|l| l == conffile),
            "{conffile} is not a conffile: {conffiles:?}"
        );
    }

    // Install.
    let cleanup = Cleanup { root: &root };
    let deb_arg = deb.to_string_lossy().into_owned();
    root.ok("dpkg", &["-i", &deb_arg]);
    for path in &expected {
        assert!(
            Path::new(path).exists(),
            "{path} is in the package but not on disk after dpkg -i (a dpkg path-exclude?)"
        );
    }

    // The system user and its folder.
    let passwd = getent("passwd", "checker").expect("postinst creates the user `checker`");
    let fields: Vec<&str> = passwd.split(':').collect();
    assert_eq!(fields.get(4), Some(&USER_COMMENT), "{passwd}");
    assert_eq!(fields.get(5), Some(&"/var/lib/checker"), "{passwd}");
    assert_eq!(fields.get(6), Some(&"/usr/sbin/nologin"), "{passwd}");
    let uid: u32 = fields.get(2).and_then(|u| u.parse().ok()).expect("a uid");
    assert!(uid < 1000, "a system user has a uid below 1000: {passwd}");
    let out = Command::new("stat")
        .args(["-c", "%U:%G %a", "/var/lib/checker"])
        .output()
        .expect("run stat");
    assert_eq!(text(&out.stdout).trim(), "checker:checker 750");

    // The cron lines are there, commented out; no timer is enabled.
    let cron = std::fs::read_to_string("/etc/cron.d/checker").expect("read /etc/cron.d/checker");
    for tick in ["minute", "hour", "day", "day_noon"] {
        let line = cron
            .lines()
            .find(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.windows(2).any(|w| w == ["-c", tick])
            })
            .unwrap_or_else(|| panic!("no cron line for {tick}:\n{cron}"));
        assert!(
            line.starts_with('#'),
            "the {tick} line is not commented out: {line}"
        );
        assert!(
            line.contains(" checker "),
            "cron.d lines run as the checker user: {line}"
        );
    }
    assert!(
        cron.lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#')),
        "every line of /etc/cron.d/checker is a comment:\n{cron}"
    );
    assert_eq!(
        enabled_links(),
        Vec::<String>::new(),
        "timers are shipped, not enabled"
    );

    // As the checker user: validate, then one tick.
    let out = root.as_checker(&["-f", "/etc/checker/settings.toml", "validate"]);
    assert!(
        out.status.success(),
        "{}",
        describe("checker validate", &out)
    );
    let said = text(&out.stdout);
    assert!(said.contains("OK"), "{said}");
    assert!(said.contains("disabled: example web site"), "{said}");
    assert!(said.contains("email: off"), "{said}");
    let out = root.as_checker(&["-f", "/etc/checker/settings.toml", "-c", "minute"]);
    assert!(
        out.status.success(),
        "{}",
        describe("checker -c minute", &out)
    );
    let out = Command::new("stat")
        .args(["-c", "%U", "/var/lib/checker/state.json"])
        .output()
        .expect("run stat");
    assert_eq!(
        text(&out.stdout).trim(),
        "checker",
        "the tick wrote its state"
    );
    let out = root.as_checker(&["-f", "/etc/checker/settings.toml", "peer-status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        describe("checker peer-status", &out)
    );
    let health: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("peer-status --json prints JSON");
    assert_eq!(health["status"], "True", "{health}");
    assert!(health["last_tick_finished"].is_string(), "{health}");

    // Every man page renders, without a warning, and man finds them by name.
    let mut pages: Vec<String> = man1
        .iter()
        .map(|p| format!("/usr/share/man/man1/{p}.gz"))
        .collect();
    pages.push("/usr/share/man/man5/checker.toml.5.gz".to_string());
    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-l", page])
            .env("MANWIDTH", "80")
            .output()
            .expect("run man");
        let shown = text(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("man -l {page}"), &out)
        );
        assert!(
            text(&out.stderr).trim().is_empty(),
            "{}",
            describe(&format!("man -l {page}"), &out)
        );
        assert!(
            shown.contains("NAME") && shown.contains("SYNOPSIS"),
            "{page}:\n{shown}"
        );
    }
    for (name, path) in [
        ("checker", "/usr/share/man/man1/checker.1.gz"),
        ("checker.toml", "/usr/share/man/man5/checker.toml.5.gz"),
        (
            "checker-run-once",
            "/usr/share/man/man1/checker-run-once.1.gz",
        ),
    ] {
        let out = Command::new("man")
            .args(["-w", name])
            .output()
            .expect("run man -w");
        assert_eq!(
            text(&out.stdout).trim(),
            path,
            "{}",
            describe(&format!("man -w {name}"), &out)
        );
    }

    // The bash completion loads.
    let out = Command::new("bash")
        .args([
            "-c",
            ". /usr/share/bash-completion/completions/checker && complete -p checker",
        ])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        describe("bash completion", &out)
    );

    // Every unit verifies cleanly: no error, no warning (man pages, binary, keys).
    for unit in UNITS {
        let path = format!("/lib/systemd/system/{unit}");
        let out = Command::new("systemd-analyze")
            .args(["verify", &path])
            .current_dir("/")
            .output()
            .expect("run systemd-analyze");
        assert!(
            out.status.success(),
            "{}",
            describe(&format!("systemd-analyze verify {unit}"), &out)
        );
        assert!(
            text(&out.stderr).trim().is_empty(),
            "{}",
            describe(&format!("systemd-analyze verify {unit}"), &out)
        );
    }

    // An admin enables a timer and adds a job file of their own.
    root.ok("systemctl", &["enable", "checker-minute.timer"]);
    assert!(
        enabled_links()
            .iter()
            .any(|l| l.ends_with("timers.target.wants/checker-minute.timer")),
        "systemctl enable links the timer: {:?}",
        enabled_links()
    );
    root.ok(
        "cp",
        &[
            "/etc/checker/jobs/example.toml",
            "/etc/checker/jobs/mine.toml",
        ],
    );

    // remove keeps the configuration, the state and the user.
    root.ok("dpkg", &["--remove", "checker"]);
    assert!(
        !Path::new("/usr/bin/checker").exists(),
        "remove deletes the binary"
    );
    assert!(!Path::new("/lib/systemd/system/checker@.service").exists());
    for kept in [
        "/etc/checker/settings.toml",
        "/etc/checker/jobs/mine.toml",
        "/etc/cron.d/checker",
        "/var/lib/checker/state.json",
    ] {
        assert!(Path::new(kept).exists(), "remove keeps {kept}");
    }
    assert!(
        getent("passwd", "checker").is_some(),
        "remove keeps the user"
    );
    assert_eq!(
        package_status().as_deref(),
        Some("deinstall ok config-files")
    );

    // purge leaves nothing behind.
    root.ok("dpkg", &["--purge", "checker"]);
    assert_eq!(package_status(), None, "dpkg forgets the package");
    for (path, _) in &listing {
        let path = path.trim_end_matches('/');
        let owned_by_others = path.is_empty()
            || !path.contains("checker")
                && Command::new("dpkg")
                    .args(["-S", path])
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false);
        if !owned_by_others {
            assert!(!Path::new(path).exists(), "purge leaves {path} behind");
        }
    }
    for path in STATE_PATHS {
        assert!(!Path::new(path).exists(), "purge leaves {path} behind");
    }
    assert_eq!(
        getent("passwd", "checker"),
        None,
        "purge deletes the user it created"
    );
    assert_eq!(
        getent("group", "checker"),
        None,
        "purge deletes the group it created"
    );
    assert_eq!(
        systemd_leftovers(),
        Vec::<String>::new(),
        "purge removes the timer's links and deb-systemd-helper's records"
    );
    drop(cleanup);
    eprintln!("package test took {:.1?}", started.elapsed());
}

#[test]
fn manpages_into_a_folder_that_cannot_be_made_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").expect("write file");
    let out = Command::new(env!("CARGO_BIN_EXE_checker"))
        .arg("manpages")
        .arg(blocker.join("man"))
        .output()
        .expect("run checker manpages");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        describe("checker manpages", &out)
    );
    let said = text(&out.stderr);
    assert!(
        said.starts_with("Error: cannot create the man page folder ")
            && said.contains("a-file/man"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
}
