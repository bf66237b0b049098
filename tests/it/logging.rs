//! The log file and stderr sinks against a real file in a temporary folder: rotation,
//! independent levels, dependency filtering, unopenable files and concurrent writers.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use log::Log;

use crate::support;
use crate::support::api::config::{Level, Logging};
use crate::support::api::logging::{self, Logger};

/// A stderr stand-in the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn cfg(file: Option<PathBuf>, max_bytes: u64, backups: u32) -> Logging {
    Logging {
        file,
        max_bytes,
        backups,
        file_level: Level::Info,
        stderr_level: Level::Warn,
    }
}

fn logger(cfg: &Logging, verbose: bool, debug: bool) -> (Logger, Captured) {
    let err = Captured::default();
    let logger = Logger::with_stderr(cfg, verbose, debug, Box::new(err.clone()));
    (logger, err)
}

fn emit(logger: &Logger, level: log::Level, target: &str, msg: &str) {
    logger.log(
        &log::Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{msg}"))
            .build(),
    );
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// The message part of each line (after `] `).
fn messages(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_once("] ").map(|(_, m)| m.to_string()).unwrap())
        .collect()
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn line_format_and_folder_creation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/checker.log");
    let (log, err) = logger(&cfg(Some(path.clone()), 1 << 20, 3), false, false);
    emit(&log, log::Level::Info, "checker::tick", "tick started");

    let text = read(&path);
    let line = text.strip_suffix('\n').unwrap();
    let (ts, rest) = line.split_once(' ').unwrap();
    assert_eq!(ts.len(), "2026-11-23T11:00:00.123Z".len(), "{line}");
    assert!(ts.ends_with('Z'), "{line}");
    chrono::DateTime::parse_from_rfc3339(ts).unwrap();
    assert_eq!(
        rest,
        format!("INFO  [pid {}] tick started", std::process::id())
    );
    assert_eq!(err.text(), "", "info is below the stderr level");
}

#[test]
fn rotation_keeps_exactly_backups_bounded_files_with_newest_in_main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let max = 1_000;
    let (log, err) = logger(&cfg(Some(path.clone()), max, 3), false, false);
    let total = 500;
    for i in 0..total {
        emit(&log, log::Level::Info, "checker", &format!("record {i:05}"));
    }

    let expected: BTreeSet<String> = [
        "checker.log",
        "checker.log.1",
        "checker.log.2",
        "checker.log.3",
        "checker.log.lock",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(file_names(dir.path()), expected);

    let mut kept = Vec::new();
    for name in [
        "checker.log.3",
        "checker.log.2",
        "checker.log.1",
        "checker.log",
    ] {
        let size = fs::metadata(dir.path().join(name)).unwrap().len();
        assert!(size <= max, "{name} has {size} bytes");
        assert!(size > 0, "{name} is empty");
        kept.extend(messages(&read(&dir.path().join(name))));
    }
    // The kept records are the newest, in order, with none missing, ending in checker.log.
    let first: usize = kept[0]["record ".len()..].parse().unwrap();
    let want: Vec<String> = (first..total).map(|i| format!("record {i:05}")).collect();
    assert_eq!(kept, want);
    assert!(messages(&read(&path))
        .last()
        .is_some_and(|m| m == &format!("record {:05}", total - 1)));
    assert_eq!(err.text(), "");
}

#[test]
fn backups_zero_truncates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let (log, _err) = logger(&cfg(Some(path.clone()), 500, 0), false, false);
    for i in 0..100 {
        emit(&log, log::Level::Warn, "checker", &format!("record {i:05}"));
    }
    let names = file_names(dir.path());
    assert!(!names.contains("checker.log.1"), "{names:?}");
    let text = read(&path);
    assert!(text.len() as u64 <= 500);
    assert!(text.ends_with("record 00099\n"), "{text}");
}

#[test]
fn a_record_larger_than_max_bytes_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let (log, _err) = logger(&cfg(Some(path.clone()), 50, 2), false, false);
    let big = "x".repeat(200);
    emit(&log, log::Level::Info, "checker", &big);
    emit(&log, log::Level::Info, "checker", &big);
    assert!(read(&path).contains(&big));
    assert!(read(&dir.path().join("checker.log.1")).contains(&big));
}

#[test]
fn file_and_stderr_levels_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    // (file_level, stderr_level, -v, -d) → which of error/warn/info/debug reach each sink.
    let cases = [
        (Level::Info, Level::Warn, false, false, "EWI", "EW"),
        (Level::Info, Level::Warn, true, false, "EWID", "EW"),
        (Level::Info, Level::Warn, false, true, "EWI", "EWID"),
        (Level::Error, Level::Debug, false, false, "E", "EWID"),
        (Level::Off, Level::Off, false, false, "", ""),
        (Level::Off, Level::Off, true, true, "EWID", "EWID"),
    ];
    for (n, (file_level, stderr_level, v, d, want_file, want_err)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{n}/checker.log"));
        let config = Logging {
            file_level: *file_level,
            stderr_level: *stderr_level,
            ..cfg(Some(path.clone()), 1 << 20, 2)
        };
        let (log, err) = logger(&config, *v, *d);
        for (level, tag) in [
            (log::Level::Error, "E"),
            (log::Level::Warn, "W"),
            (log::Level::Info, "I"),
            (log::Level::Debug, "D"),
            (log::Level::Trace, "T"),
        ] {
            emit(&log, level, "checker::check", tag);
        }
        let got_file: String = messages(&read(&path)).concat();
        let got_err: String = messages(&err.text()).concat();
        assert_eq!(&got_file, want_file, "file, case {n}");
        assert_eq!(&got_err, want_err, "stderr, case {n}");
    }
}

#[test]
fn dependency_chatter_is_filtered_even_with_debug_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let config = Logging {
        file_level: Level::Trace,
        stderr_level: Level::Trace,
        ..cfg(Some(path.clone()), 1 << 20, 2)
    };
    let (log, err) = logger(&config, true, true);
    for target in [
        "rustls::conn",
        "hyper::proto",
        "reqwest",
        "h2::codec",
        "lettre",
    ] {
        for level in [log::Level::Info, log::Level::Debug, log::Level::Trace] {
            emit(&log, level, target, "noise");
        }
        emit(&log, log::Level::Warn, target, &format!("{target} warning"));
    }
    emit(&log, log::Level::Debug, "some_crate", "noise");
    emit(&log, log::Level::Info, "some_crate", "some_crate info");
    emit(&log, log::Level::Trace, "checker::notify", "own trace");

    for text in [read(&path), err.text()] {
        assert!(!text.contains("noise"), "{text}");
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.contains("hyper::proto warning"));
        assert!(text.contains("some_crate info"));
        assert!(text.contains("own trace"));
    }
}

#[test]
fn unopenable_file_is_reported_once_and_stderr_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // The "folder" is a regular file, so neither the folder nor the log file can be created.
    let blocker = dir.path().join("not-a-dir");
    fs::write(&blocker, "x").unwrap();
    let path = blocker.join("checker.log");
    let (log, err) = logger(&cfg(Some(path.clone()), 1 << 20, 2), false, false);
    for i in 0..5 {
        emit(&log, log::Level::Info, "checker", &format!("info {i}"));
        emit(&log, log::Level::Error, "checker", &format!("error {i}"));
    }
    let text = err.text();
    assert_eq!(text.matches("cannot write log file").count(), 1, "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert_eq!(text.matches("] error ").count(), 5, "{text}");
    assert!(!text.contains("] info "), "{text}");
    assert!(!path.exists());
}

#[test]
fn a_file_moved_away_by_someone_else_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let (log, _err) = logger(&cfg(Some(path.clone()), 1 << 20, 2), false, false);
    emit(&log, log::Level::Info, "checker", "before");
    fs::rename(&path, dir.path().join("moved.log")).unwrap();
    emit(&log, log::Level::Info, "checker", "after");
    assert_eq!(messages(&read(&path)), vec!["after"]);
    assert_eq!(
        messages(&read(&dir.path().join("moved.log"))),
        vec!["before"]
    );
}

/// Every line of every file in `dir` but the lock file, checked to be whole records.
fn all_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for name in file_names(dir) {
        if name.starts_with("checker.log") && name != "checker.log.lock" {
            lines.extend(messages(&read(&dir.join(name))));
        }
    }
    lines
}

/// Rotated files hold between `max - line` bytes (no double rotation) and `max` plus one
/// record per concurrent writer (a record can land in a file just renamed under it).
fn assert_backups_bounded(dir: &Path, max: u64, writers: u64) {
    let line = 120;
    for name in file_names(dir) {
        if name.starts_with("checker.log.") && name != "checker.log.lock" {
            let size = fs::metadata(dir.join(&name)).unwrap().len();
            assert!(
                size > max - line && size <= max + writers * line,
                "{name} has {size} bytes"
            );
        }
    }
}

fn assert_all_present(lines: &[String], writers: usize, per_writer: usize) {
    assert_eq!(lines.len(), writers * per_writer);
    let unique: BTreeSet<&String> = lines.iter().collect();
    assert_eq!(unique.len(), lines.len(), "duplicated lines");
    for w in 0..writers {
        for i in 0..per_writer {
            let want = format!("writer {w} line {i:05} {}", "p".repeat(40));
            assert!(unique.contains(&want), "missing {want}");
        }
    }
}

#[test]
fn concurrent_writers_lose_no_line_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let (writers, per_writer) = (4, 2_000);
    // ~100 bytes a line, 8000 lines, 20 kB files: ~40 rotations, all kept.
    let config = cfg(Some(path.clone()), 20_000, 1_000);
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let config = config.clone();
            std::thread::spawn(move || {
                let (log, err) = logger(&config, false, false);
                for i in 0..per_writer {
                    let msg = format!("writer {w} line {i:05} {}", "p".repeat(40));
                    emit(&log, log::Level::Info, "checker", &msg);
                }
                err.text()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "", "no sink problem reported");
    }
    let files = file_names(dir.path()).len();
    assert!(files > 10, "expected many rotations, got {files} files");
    assert_backups_bounded(dir.path(), 20_000, writers as u64);
    assert_all_present(&all_lines(dir.path()), writers, per_writer);
}

const CHILD_PATH: &str = "CHECKER_LOGGING_TEST_PATH";
const CHILD_ID: &str = "CHECKER_LOGGING_TEST_WRITER";

/// Not a test of its own: the body of each child process of
/// `concurrent_processes_lose_no_line_across_rotations` (does nothing otherwise).
#[test]
fn child_writer_helper() {
    let (Ok(path), Ok(id)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_ID)) else {
        return;
    };
    let config = cfg(Some(PathBuf::from(path)), 20_000, 1_000);
    let (log, err) = logger(&config, false, false);
    for i in 0..1_000 {
        let msg = format!("writer {id} line {i:05} {}", "p".repeat(40));
        emit(&log, log::Level::Info, "checker", &msg);
    }
    assert_eq!(err.text(), "");
}

#[test]
fn concurrent_processes_lose_no_line_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checker.log");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "logging::child_writer_helper",
                    "--test-threads=1",
                ])
                .env(CHILD_PATH, &path)
                .env(CHILD_ID, w.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert!(file_names(dir.path()).len() > 5);
    assert_backups_bounded(dir.path(), 20_000, 4);
    assert_all_present(&all_lines(dir.path()), 4, 1_000);
}

/// Runs in a process of its own: the global logger it installs would otherwise receive
/// what every other test of this binary logs, and keep writing into its folder after it
/// is gone.
#[test]
fn global_init_twice_replaces_the_configuration() {
    if !support::in_child("global-logger") {
        let out = support::child_test(
            "logging::global_init_twice_replaces_the_configuration",
            "global-logger",
            &[],
        )
        .output()
        .expect("run the test in a child");
        assert!(
            out.status.success(),
            "{}{}",
            support::stdout(&out),
            support::stderr(&out)
        );
        assert!(support::stdout(&out).contains("1 passed"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("one/checker.log");
    let second = dir.path().join("two/checker.log");
    logging::init_stderr_only(Level::Off).unwrap();
    logging::init(&cfg(Some(first.clone()), 1 << 20, 2), false, false).unwrap();
    log::info!(target: "checker::global", "to the first file");
    log::debug!(target: "checker::global", "not at info");
    logging::init(&cfg(Some(second.clone()), 1 << 20, 2), true, false).unwrap();
    log::debug!(target: "checker::global", "to the second file");
    assert_eq!(messages(&read(&first)), vec!["to the first file"]);
    assert_eq!(messages(&read(&second)), vec!["to the second file"]);
}
