//! The history end to end, through the real binary: `history` and its filters, `prune`,
//! retention and archives, `uptime`, the SQLite database's schema, corruption and
//! refusal, the import of earlier JSON-lines files, and a full disk.
//!
//! History is fed by writing day files of the earlier format (imported on first use) or
//! by real runs.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::support::history::{day_file, event, rfc3339, seed_history, STATUS_JOBS};
use crate::support::{self, assert_exit, settings_with_general, stderr, stdout, Fixture};

// ---------------------------------------------------------------------------------------
// 5. history

fn seed_history_log(f: &Fixture, now: DateTime<Utc>) {
    f.jobs(STATUS_JOBS);
    let m = |n: i64| now - Duration::minutes(n);
    seed_history(
        f,
        &[
            event(m(60 * 26), "db", "result", Some(true), "connected"),
            event(m(50), "web", "result", Some(false), "connection refused"),
            event(m(49), "web", "notify", Some(true), "alert sent"),
            event(m(40), "db", "result", Some(true), "connected"),
            event(m(30), "web", "result", Some(true), "200 OK"),
            event(m(29), "web", "recover", Some(false), "capture is broken"),
            event(m(10), "db", "result", Some(false), "timed out"),
        ],
    );
}

fn history_json(f: &Fixture, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["history", "--json"];
    all.extend_from_slice(args);
    let out = f.run_ok(&all, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("history --json is JSON");
    v.as_array().expect("an array").clone()
}

fn messages(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect()
}

#[test]
fn history_json_lists_events_newest_first_with_their_fields() {
    let f = Fixture::new();
    seed_history_log(&f, Utc::now());
    let events = history_json(&f, &[]);
    assert_eq!(
        messages(&events),
        [
            "timed out",
            "capture is broken",
            "200 OK",
            "connected",
            "alert sent",
            "connection refused",
            "connected"
        ]
    );
    for e in &events {
        for key in ["ts", "job", "event", "ok", "message", "channel"] {
            assert!(e.get(key).is_some(), "{key} missing from {e}");
        }
    }
    assert_eq!(events[1]["event"], "recover");
    assert_eq!(events[1]["channel"], "capture");
    assert_eq!(events[1]["ok"], false);
    assert_eq!(events[0]["channel"], Value::Null);
    let ts: Vec<DateTime<Utc>> = events
        .iter()
        .map(|e| e["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "{ts:?}");
}

#[test]
fn history_filters_by_job_by_failures_and_by_limit() {
    let f = Fixture::new();
    seed_history_log(&f, Utc::now());
    let web = history_json(&f, &["--job", "web"]);
    assert_eq!(
        messages(&web),
        [
            "capture is broken",
            "200 OK",
            "alert sent",
            "connection refused"
        ]
    );
    let failures = history_json(&f, &["--failures"]);
    assert_eq!(
        messages(&failures),
        ["timed out", "capture is broken", "connection refused"]
    );
    let two = history_json(&f, &["--limit", "2"]);
    assert_eq!(messages(&two), ["timed out", "capture is broken"]);
    let combined = history_json(&f, &["--job", "db", "--failures", "--limit", "5"]);
    assert_eq!(messages(&combined), ["timed out"]);

    // The table says the same, newest first.
    let out = f.run_ok(&["history", "--job", "web"], 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains("recover") && lines[0].contains("via capture"),
        "{text}"
    );
    assert!(
        lines[3].contains("FAIL") && lines[3].contains("connection refused"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// 6. prune and retention

/// How many days back each recorded event lies, oldest first.
fn event_ages(f: &Fixture, now: DateTime<Utc>) -> Vec<i64> {
    let mut ages: Vec<i64> = f
        .history()
        .iter()
        .map(|e| {
            let ts: DateTime<Utc> = e["ts"].as_str().unwrap().parse().unwrap();
            (now.date_naive() - ts.date_naive()).num_days()
        })
        .collect();
    ages.sort_unstable_by(|a, b| b.cmp(a));
    ages
}

#[test]
fn prune_older_than_drops_older_events_and_keeps_newer_ones() {
    let f = Fixture::new();
    let now = Utc::now();
    for days in [5, 3, 1, 0] {
        day_file(&f, now, days);
    }
    let out = f.run_ok(&["prune", "--older-than", "2d"], 0);
    assert_eq!(event_ages(&f, now), vec![1, 0], "{}", stdout(&out));
    assert!(
        stdout(&out).contains("2 event(s) deleted"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn prune_without_older_than_uses_history_days() {
    let f = Fixture::new();
    f.write("settings.toml", &settings_with_general("history_days = 4"));
    let now = Utc::now();
    day_file(&f, now, 6);
    day_file(&f, now, 3);
    f.run_ok(&["prune"], 0);
    assert_eq!(
        event_ages(&f, now),
        vec![3],
        "a day older than history_days is pruned, one within it kept"
    );
}

#[test]
fn prune_with_a_bad_duration_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.run(&["prune", "--older-than", "soon"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--older-than"), "{}", stderr(&out));
}

#[test]
fn a_tick_applies_history_retention() {
    let f = Fixture::new();
    f.write("settings.toml", &settings_with_general("history_days = 3"));
    let now = Utc::now();
    day_file(&f, now, 10);
    day_file(&f, now, 1);
    // The first tick on a database never pruned prunes (as a day tick would).
    f.tick("minute");
    assert_eq!(
        event_ages(&f, now),
        vec![1],
        "the tick pruned past history_days"
    );
}

/// Reads every line of every `*.jsonl.gz` in `dir`, by file name.
fn archived(dir: &std::path::Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("archive folder") {
        let p = e.unwrap().path();
        let gz = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&p)
            .output()
            .expect("gzip runs");
        assert!(gz.status.success(), "{} is gzip", p.display());
        let lines = String::from_utf8(gz.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("archived line is JSON"))
            .collect();
        out.insert(p.file_name().unwrap().to_string_lossy().into_owned(), lines);
    }
    out
}

#[test]
fn prune_archive_writes_each_pruned_day_as_gzipped_json_lines_before_deleting() {
    let f = Fixture::new();
    let now = Utc::now();
    let day = |n: i64| (now - Duration::days(n)).date_naive();
    let at = |n: i64, h: u32| day(n).and_hms_opt(h, 0, 0).unwrap().and_utc();
    seed_history(
        &f,
        &[
            event(at(5, 9), "web", "result", Some(true), "200 OK"),
            event(at(5, 10), "web", "result", Some(false), "refused"),
            event(
                at(5, 10) + Duration::minutes(1),
                "web",
                "notify",
                Some(true),
                "alert sent",
            ),
            event(at(4, 9), "db", "result", Some(true), "connected"),
            event(at(2, 9), "db", "result", Some(true), "connected"),
        ],
    );
    let attic = f.path().join("attic");
    let out = f.run_ok(
        &[
            "prune",
            "--older-than",
            "3d",
            "--archive",
            attic.to_str().unwrap(),
        ],
        0,
    );
    assert!(stdout(&out).contains("4 archived"), "{}", stdout(&out));
    let files = archived(&attic);
    let name = |n: i64| format!("{}.jsonl.gz", day(n).format("%Y-%m-%d"));
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        vec![name(5), name(4)]
    );
    let five = &files[&name(5)];
    assert_eq!(five.len(), 3);
    assert_eq!(five[1]["message"], "refused");
    assert_eq!(five[1]["ok"], false);
    assert_eq!(five[2]["event"], "notify");
    assert_eq!(five[2]["channel"], "capture");
    assert_eq!(event_ages(&f, now), vec![2], "what was archived is gone");

    // history_archive_dir does the same on the tick's retention.
    f.write(
        "settings.toml",
        &settings_with_general("history_days = 1\nhistory_archive_dir = \"cellar\""),
    );
    f.tick("day");
    let cellar = archived(&f.path().join("cellar"));
    assert_eq!(cellar.len(), 1);
    assert_eq!(cellar[&name(2)][0]["job"], "db");
}

#[test]
fn history_keep_last_keeps_a_weekly_jobs_last_results_past_the_retention() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &settings_with_general("history_days = 7\nhistory_keep_last = 2"),
    );
    let now = Utc::now();
    let at = |weeks: i64| now - Duration::days(7 * weeks) - Duration::hours(1);
    seed_history(
        &f,
        &[
            event(at(4), "weekly", "result", Some(true), "w4"),
            event(at(3), "weekly", "result", Some(false), "w3"),
            event(at(2), "weekly", "result", Some(true), "w2"),
            event(at(4), "daily", "result", Some(true), "d-old"),
            event(
                now - Duration::hours(2),
                "daily",
                "result",
                Some(true),
                "d1",
            ),
            event(
                now - Duration::hours(1),
                "daily",
                "result",
                Some(true),
                "d0",
            ),
        ],
    );
    let out = f.run_ok(&["prune"], 0);
    assert!(
        stdout(&out).contains("kept by history_keep_last"),
        "{}",
        stdout(&out)
    );
    let left: Vec<String> = f
        .history()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, vec!["w3", "w2", "d1", "d0"]);
}

// ---------------------------------------------------------------------------------------
// 6b. the history database: time filters, uptime, schema, damage, upgrade

fn with_duration(mut e: Value, ms: u64) -> Value {
    e["duration_ms"] = json!(ms);
    e
}

#[test]
fn history_since_and_until_bound_the_events_shown() {
    let f = Fixture::new();
    let now = Utc::now();
    seed_history_log(&f, now);
    let since = rfc3339(now - Duration::minutes(45));
    let until = rfc3339(now - Duration::minutes(20));
    let mid = history_json(&f, &["--since", &since, "--until", &until]);
    assert_eq!(messages(&mid), ["capture is broken", "200 OK", "connected"]);
    let recent = history_json(&f, &["--since", "35m"]);
    assert_eq!(
        messages(&recent),
        ["timed out", "capture is broken", "200 OK"]
    );
    let out = f.run(&["history", "--since", "yesterdayish"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--since"), "{}", stderr(&out));
}

#[test]
fn uptime_figures_match_a_hand_computed_case() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let now = Utc::now();
    let hour = now.timestamp() - now.timestamp().rem_euclid(3600);
    let t0 = DateTime::<Utc>::from_timestamp(hour - 10 * 3600, 0).unwrap();
    let at = |min: i64| t0 + Duration::minutes(min);
    // web: ok, fail, fail, ok, fail, ok: 3 of 6, two incidents, down 20 + 10 minutes;
    // response times 100, 200, 300, 100, 400, 100 ms: mean 200; p95 falls in the
    // 300-500 ms bucket, 70% of the way (440), held to the slowest seen: 400.
    // db: failing since two hours ago, nothing since: one incident, down 2 h so far.
    seed_history(
        &f,
        &[
            with_duration(event(at(0), "web", "result", Some(true), "200 OK"), 100),
            with_duration(event(at(10), "web", "result", Some(false), "503"), 200),
            with_duration(event(at(20), "web", "result", Some(false), "503"), 300),
            with_duration(event(at(30), "web", "result", Some(true), "200 OK"), 100),
            with_duration(
                event(at(40), "web", "result", Some(false), "timed out"),
                400,
            ),
            with_duration(event(at(50), "web", "result", Some(true), "200 OK"), 100),
            event(
                now - Duration::hours(2),
                "db",
                "result",
                Some(false),
                "refused",
            ),
            // Two days back: outside --days 1.
            event(
                now - Duration::days(2),
                "db",
                "result",
                Some(true),
                "connected",
            ),
        ],
    );
    let out = f.run_ok(&["uptime", "--days", "1", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("uptime --json is JSON");
    assert_eq!(v["days"], 1);
    let job = |name: &str| {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == name)
            .unwrap_or_else(|| panic!("{name} in {v}"))
            .clone()
    };
    let web = job("web");
    assert_eq!(web["attempts"], 6);
    assert_eq!(web["successes"], 3);
    assert_eq!(web["uptime_percent"], 50.0);
    assert_eq!(web["incidents"], 2);
    assert_eq!(web["downtime_ms"], 30 * 60 * 1000);
    assert_eq!(web["mean_response_ms"], 200.0);
    assert_eq!(web["p95_response_ms"], 400.0);
    let db = job("db");
    assert_eq!(db["attempts"], 1);
    assert_eq!(db["uptime_percent"], 0.0);
    assert_eq!(db["incidents"], 1);
    let down = db["downtime_ms"].as_i64().unwrap();
    assert!(
        (2 * 3600 * 1000..2 * 3600 * 1000 + 60_000).contains(&down),
        "an open streak is down until now: {down}"
    );
    assert_eq!(db["mean_response_ms"], Value::Null);
    // Over three days the older success counts too.
    let out = f.run_ok(&["uptime", "db", "--days", "3", "--json"], 0);
    let v3: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v3["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(v3["jobs"][0]["attempts"], 2);
    assert_eq!(v3["jobs"][0]["uptime_percent"], 50.0);
    // The table shows the same.
    let out = f.run_ok(&["uptime", "--days", "1"], 0);
    let text = stdout(&out);
    let web_line = text.lines().find(|l| l.starts_with("web")).unwrap();
    assert!(
        web_line.contains("50.000%") && web_line.contains("30m"),
        "{text}"
    );
    assert!(
        web_line.contains("200 ms") && web_line.contains("400 ms"),
        "{text}"
    );
}

/// Opens the fixture's database directly.
fn db(f: &Fixture) -> rusqlite::Connection {
    rusqlite::Connection::open(f.path().join("history.db")).expect("open history.db")
}

#[test]
fn an_older_checker_meeting_a_newer_schema_refuses_with_exit_3_and_changes_nothing() {
    let f = Fixture::new();
    f.tick("minute");
    db(&f)
        .pragma_update(None, "user_version", 99)
        .expect("set user_version");
    for args in [&["status"][..], &["history"][..], &["-c", "minute"][..]] {
        let out = f.run(args);
        assert_exit(&out, 3);
        let err = stderr(&out);
        assert!(
            err.contains("schema version 99") && err.contains("upgrade checker"),
            "{args:?}: {err}"
        );
    }
    let v: i64 = db(&f)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99, "the newer database is left as it was");
}

#[test]
fn a_corrupt_database_is_moved_aside_with_an_error_event_and_an_alert_and_the_tick_goes_on() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"local\"\nkind = \"command\"\ncommand = [\"true\"]\n");
    f.write("history.db", &"this is not a database. ".repeat(400));
    // A reader only says so.
    let out = f.run(&["status"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("unreadable"), "{}", stderr(&out));
    // A tick moves it aside, starts afresh, records and alerts.
    f.tick("minute");
    let aside: Vec<String> = std::fs::read_dir(f.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("history.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = std::fs::read_to_string(f.path().join(&aside[0])).unwrap();
    assert!(kept.starts_with("this is not a database"));
    let history = f.history();
    assert!(
        history.iter().any(
            |e| e["event"] == "error" && e["message"].as_str().unwrap().contains("moved aside")
        ),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|e| e["job"] == "local" && e["ok"] == true),
        "the tick's result is in the fresh database: {history:?}"
    );
    let alerts = f.alerts();
    assert!(
        alerts.iter().any(|a| a["job"] == "checker history"
            && a["message"].as_str().unwrap().contains("unreadable")),
        "{alerts:?}"
    );
    f.run_ok(&["status"], 0);
}

#[test]
fn a_fifo_or_a_directory_in_place_of_the_database_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let f = Fixture::new();
    let path = f.path().join("history.db");
    let made = Command::new("mkfifo").arg(&path).status().expect("mkfifo");
    assert!(made.success());
    for args in [&["-c", "minute"][..], &["status"][..]] {
        let out = f.run(args);
        assert_exit(&out, 3);
        assert!(
            stderr(&out).contains("is a FIFO, not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    assert!(std::fs::metadata(&path).unwrap().file_type().is_fifo());
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let out = f.run(&["-c", "minute"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    assert!(path.is_dir());
    // A symlink is followed.
    std::fs::remove_dir(&path).unwrap();
    std::fs::create_dir(f.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(f.path().join("elsewhere/real.db"), &path).unwrap();
    f.jobs("[[job]]\nname = \"local\"\nkind = \"command\"\ncommand = [\"true\"]\n");
    f.tick("minute");
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(f.path().join("elsewhere/real.db").metadata().unwrap().len() > 0);
    assert_eq!(f.history().len(), 1);
}

#[test]
fn the_import_of_earlier_json_lines_survives_a_kill_half_way_and_a_second_run() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let now = Utc::now();
    // 120,000 results over the last 40 hours, a torn line and a cut character among them.
    let mut days: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let (mut ok, mut all, mut in_24h) = (0u64, 0u64, 0u64);
    for i in 0..120_000i64 {
        let ts = now - Duration::milliseconds(40 * 3600 * 1000 - i * 1200) - Duration::minutes(1);
        // None just after the 24 h boundary: `status` runs a little later than `now`.
        let age = now - ts;
        if age < Duration::hours(24) && age > Duration::hours(24) - Duration::minutes(3) {
            continue;
        }
        let good = i % 7 != 0;
        let line = event(
            ts,
            if i % 2 == 0 { "web" } else { "db" },
            "result",
            Some(good),
            "x",
        );
        let buf = days.entry(ts.format("%Y-%m-%d").to_string()).or_default();
        buf.extend_from_slice(line.to_string().as_bytes());
        buf.push(b'\n');
        all += 1;
        ok += u64::from(good);
        if ts > now - Duration::hours(24) {
            in_24h += 1;
        }
        if i == 5_000 {
            buf.extend_from_slice(
                b"{\"ts\": \"2026-01-01T00:00:00Z\", \"job\": \"w\xc3\n{\"ts\": \"20",
            );
            buf.push(b'\n');
        }
    }
    for (day, bytes) in &days {
        let p = f.path().join(format!("history/{day}.jsonl"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    // Kill the first import once it has committed part of the work.
    let mut child = f
        .cmd()
        .args(["status", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let progressed = rusqlite::Connection::open_with_flags(
            f.path().join("history.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .and_then(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(events), 0) FROM import_progress",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .unwrap_or(0);
        if progressed > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import finished before it could be interrupted"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "no import progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let total = |f: &Fixture, hours: &str| -> (u64, u64) {
        let out = f.run_ok(&["status", "--json", "--hours", hours], 0);
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .fold((0, 0), |(a, s), j| {
                (
                    a + j["total_attempts"].as_u64().unwrap(),
                    s + j["successful"].as_u64().unwrap(),
                )
            })
    };
    // The next command finishes it: nothing lost, nothing twice.
    assert_eq!(total(&f, "48"), (all, ok));
    assert_eq!(total(&f, "24").0, in_24h);
    assert!(
        !f.path().join("history").exists(),
        "the files were moved aside"
    );
    let moved = std::fs::read_dir(f.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("history.imported-")
        })
        .expect("history.imported-<time>");
    assert_eq!(std::fs::read_dir(moved.path()).unwrap().count(), days.len());
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(log.contains("2 unreadable line(s) skipped"), "{log}");
    // Putting the files back by hand imports them again (a new upgrade); running twice
    // without doing so changes nothing.
    assert_eq!(total(&f, "48"), (all, ok));
}

/// A small tmpfs, unmounted when dropped (the tests run as root, as CI does).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: std::path::PathBuf, size: &str) -> SmallDisk {
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .expect("mount runs");
        assert!(
            st.success(),
            "this test mounts a small tmpfs and needs root"
        );
        SmallDisk(at)
    }

    /// Fills the disk to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![7u8; 4096];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&[7]).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_never_a_half_written_state_file_or_database() {
    let f = Fixture::new();
    let disk = SmallDisk::mount(f.path().join("small"), "2m");
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace(
            "state_file = \"state.json\"",
            "state_file = \"small/state.json\"",
        ),
    );
    f.jobs("[[job]]\nname = \"pushed\"\nkind = \"passive\"\nexpect_every = \"1h\"\nnotify = []\n");
    f.run_ok(&["report", "pushed", "--ok", "--message", "before"], 0);
    assert!(f.path().join("small/history.db").exists());
    disk.fill();
    let mut failed = None;
    for i in 0..300 {
        let out = f.run(&[
            "report",
            "pushed",
            "--ok",
            "--message",
            &format!("full {i}"),
        ]);
        let state = std::fs::read_to_string(f.path().join("small/state.json")).unwrap();
        serde_json::from_str::<Value>(&state).expect("the state file is always whole");
        if !out.status.success() {
            failed = Some(out);
            break;
        }
    }
    let out = failed.expect("a full disk makes a report fail");
    assert_exit(&out, 3);
    let err = stderr(&out).to_lowercase();
    assert!(err.contains("no space left"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_file(f.path().join("small/filler")).unwrap();
    // With room again everything works, and what was recorded is readable.
    f.run_ok(&["report", "pushed", "--ok", "--message", "after"], 0);
    let history = history_json(&f, &["--limit", "1000"]);
    assert_eq!(history.last().unwrap()["message"], "before");
    assert_eq!(history.first().unwrap()["message"], "after");
    f.run_ok(&["status"], 0);
    drop(disk);
}
