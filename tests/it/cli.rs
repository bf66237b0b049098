//! The command line end to end, through the real binary (SPEC §2, §3, §8): configuration
//! errors with file, line and fix; `validate`, `list`, `status`; the cron tick's usage and
//! heartbeat; logging flags; finding the settings file; hostile configurations; the help,
//! completions and documents. (`history`, `prune` and retention are in `history`.)
//!
//! No test here depends on a check's result: the jobs either never run or are not due.
//! Status and history are fed by writing the state file and history day files directly.

use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::support::history::{event, rfc3339, seed_history, STATUS_JOBS};
use crate::support::{self, api, assert_exit, output_within, stderr, stdout, Fixture};

// ---------------------------------------------------------------------------------------
// Helpers

/// Runs `validate`, insists on exit 2 and returns stderr.
fn validate_fails(f: &Fixture) -> String {
    let out = f.run(&["validate"]);
    assert_exit(&out, 2);
    stderr(&out)
}

/// The problem lines of a configuration error: "  file:line: message" under the summary.
/// The message is printed once by `Error:`; take the lines after the last summary.
fn problem_lines(err: &str) -> Vec<String> {
    let start = err
        .rfind("Error: configuration has")
        .expect("a configuration error summary");
    err[start..]
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

fn jobs_path(f: &Fixture, file: &str) -> String {
    f.path().join("jobs").join(file).display().to_string()
}

const QUIET_JOBS: &str = r#"
[[job]]
name = "web"
kind = "http"
url = "http://127.0.0.1:9/"
notify_every = "state_change"
failures_before_notify = 3
failing_for = "1h"

[[job]]
name = "db port"
kind = "tcp"
host = "127.0.0.1"
port = 5432
frequency = "hour"

[[job]]
name = "backup"
kind = "command"
command = ["./backup.sh", "--quiet"]
frequency = "day"

[[job]]
name = "report"
kind = "command"
command = ["true"]
frequency = "day_noon"

[[job]]
name = "queue"
kind = "command"
command = ["true"]
every = "5m"

[[job]]
name = "old thing"
kind = "command"
command = ["true"]
enabled = false
"#;

// ---------------------------------------------------------------------------------------
// 1. Configuration errors: exit 2, file:line and the fix

#[test]
fn an_unknown_key_in_a_job_file_names_the_file_the_line_and_the_nearest_key() {
    let f = Fixture::new();
    f.write(
        "jobs/web.toml",
        "[[job]]\nname = \"web\"\nkind = \"http\"\nurll = \"http://127.0.0.1:9/\"\n",
    );
    let err = validate_fails(&f);
    let path = jobs_path(&f, "web.toml");
    assert!(err.contains(&format!("{path}:4:")), "{err}");
    assert!(err.contains("unknown key `urll`"), "{err}");
    assert!(err.contains("did you mean `url`"), "{err}");
}

#[test]
fn an_unknown_key_in_settings_general_suggests_the_nearest_key() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("servername = ", "servrname = "),
    );
    let err = validate_fails(&f);
    let path = f.settings_path().display().to_string();
    assert!(err.contains(&format!("{path}:3:")), "{err}");
    assert!(err.contains("unknown key `servrname`"), "{err}");
    assert!(err.contains("did you mean `servername`"), "{err}");
}

#[test]
fn a_key_of_another_kind_is_an_error_naming_the_kind_it_belongs_to() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"web\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\nport = 80\n");
    let err = validate_fails(&f);
    assert!(
        err.contains(&format!("{}:5:", jobs_path(&f, "jobs.toml"))),
        "{err}"
    );
    assert!(err.contains("`port` belongs to kind \"tcp\""), "{err}");
}

#[test]
fn duplicate_job_names_across_two_files_name_both_locations() {
    let f = Fixture::new();
    f.write(
        "jobs/a.toml",
        "[[job]]\nname = \"nightly\"\nkind = \"command\"\ncommand = [\"true\"]\n",
    );
    f.write(
        "jobs/b.toml",
        "# the same again\n\n[[job]]\nname = \"nightly\"\nkind = \"command\"\ncommand = [\"true\"]\n",
    );
    let err = validate_fails(&f);
    assert!(err.contains("duplicate job name \"nightly\""), "{err}");
    assert!(
        err.contains(&format!("{}:3:", jobs_path(&f, "b.toml"))),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:1", jobs_path(&f, "a.toml"))),
        "{err}"
    );
}

#[test]
fn a_value_of_the_wrong_type_names_its_key_and_line() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = \"5432\"\n");
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(
        problems[0],
        format!(
            "{}:5: `port` must be a whole number, not text (\"5432\"): write 5432 without quotes",
            jobs_path(&f, "jobs.toml")
        ),
        "{err}"
    );
}

#[test]
fn a_bad_duration_is_reported_with_its_line() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"true\"]\ntimeout = \"10 parsecs\"\n");
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    assert_eq!(problems.len(), 1, "{err}");
    assert!(
        problems[0].starts_with(&format!("{}:5:", jobs_path(&f, "jobs.toml"))),
        "{err}"
    );
    assert!(problems[0].contains("`timeout`"), "{err}");
    assert!(problems[0].contains("10 parsecs"), "{err}");
}

#[test]
fn an_unknown_channel_in_notify_suggests_the_nearest_channel() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"nightly\"\nkind = \"command\"\ncommand = [\"true\"]\nnotify = [\"captur\"]\n");
    let err = validate_fails(&f);
    assert!(
        err.contains(&format!("{}:5:", jobs_path(&f, "jobs.toml"))),
        "{err}"
    );
    assert!(err.contains("unknown channel \"captur\""), "{err}");
    assert!(err.contains("did you mean \"capture\""), "{err}");
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let f = Fixture::new();
    f.jobs("# a job\n[[job]]\nname = \"unterminated\nkind = \"command\"\n");
    let err = validate_fails(&f);
    assert!(
        err.contains(&format!("{}:3:", jobs_path(&f, "jobs.toml"))),
        "{err}"
    );
}

#[test]
fn validate_reports_every_problem_in_one_run() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("servername = ", "servrname = "),
    );
    // One file holding several problems, in several jobs, of several sorts.
    f.write(
        "jobs/a.toml",
        r#"[[job]]
name = "web"
kind = "http"
urll = "http://127.0.0.1:9/"

[[job]]
name = "slow"
kind = "command"
command = ["true"]
timeout = "10 parsecs"
notify = ["captur"]

[[job]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = 5432
hots = "x"

[[job]]
name = "web2"
kind = "http"
url = "http://127.0.0.1:9/"
port = 80
"#,
    );
    f.write(
        "jobs/b.toml",
        "[[job]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"true\"]\n",
    );
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    let a = jobs_path(&f, "a.toml");
    let expected = [
        format!("{}:3:", f.settings_path().display()),
        format!("{a}:4:"),
        format!("{a}:10:"),
        format!("{a}:11:"),
        format!("{a}:18:"),
        format!("{a}:24:"),
        format!("{}:1:", jobs_path(&f, "b.toml")),
    ];
    assert_eq!(problems.len(), expected.len(), "{err}");
    assert!(
        err.contains(&format!("configuration has {} problems", expected.len())),
        "{err}"
    );
    for place in &expected {
        assert!(
            problems.iter().any(|p| p.starts_with(place.as_str())),
            "no problem at {place}:\n{err}"
        );
    }
}

#[test]
fn a_settings_file_error_stops_a_tick_and_other_commands_with_exit_2() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"web\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\n");
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("[general]\n", "[general]\nservernam = \"x\"\n"),
    );
    for args in [&["-c", "minute"][..], &["list"], &["status"], &["run-once"]] {
        let out = f.run(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("unknown key `servernam`"), "{args:?}");
    }
    assert!(!f.path().join("state.json").exists());
}

// ---------------------------------------------------------------------------------------
// 2. validate on a good configuration

#[test]
fn validate_on_a_good_config_prints_which_jobs_run_on_which_tick() {
    let f = Fixture::new();
    f.jobs(QUIET_JOBS);
    f.script("jobs/backup.sh", "#!/bin/sh\nexit 0\n");
    let out = f.run_ok(&["validate"], 0);
    let text = stdout(&out);
    let line = |needle: &str| -> String {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
            .to_string()
    };
    assert!(text.contains("OK (6 job(s)"), "{text}");
    assert!(line("every minute").contains("web"), "{text}");
    assert!(line("every hour").contains("db port"), "{text}");
    assert!(line("(day tick)").contains("backup"), "{text}");
    assert!(line("(day_noon tick)").contains("report"), "{text}");
    assert!(line("every 5m").contains("queue"), "{text}");
    assert!(line("disabled").contains("old thing"), "{text}");
    // A disabled job is listed as disabled only, never as running.
    assert_eq!(text.matches("old thing").count(), 1, "{text}");
    // validate only reads: no state, no history.
    assert!(!f.path().join("state.json").exists());
}

// ---------------------------------------------------------------------------------------
// 3. list

#[test]
fn list_shows_each_job_with_kind_target_schedule_and_rule() {
    let f = Fixture::new();
    f.jobs(QUIET_JOBS);
    let out = f.run_ok(&["list"], 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("JOB"), "{text}");
    for h in ["KIND", "TARGET", "SCHEDULE", "NOTIFY RULE", "CHANNELS"] {
        assert!(lines[0].contains(h), "{text}");
    }
    assert_eq!(lines.len(), 7, "{text}");
    let row = |job: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(job))
            .unwrap()
            .to_string()
    };
    let web = row("web");
    for part in [
        "http",
        "http://127.0.0.1:9/",
        "minute",
        "state_change after 3",
        "failing for 1h",
        "capture",
    ] {
        assert!(web.contains(part), "{part:?} missing from {web:?}");
    }
    assert!(row("db port").contains("127.0.0.1:5432"), "{text}");
    assert!(row("queue").contains("every 5m"), "{text}");
    assert!(row("old thing").contains("disabled"), "{text}");
}

#[test]
fn list_json_gives_each_job_with_the_fields_scripts_need() {
    let f = Fixture::new();
    f.jobs(QUIET_JOBS);
    let out = f.run_ok(&["list", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("list --json is JSON");
    let jobs = v["jobs"].as_array().expect("jobs array");
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["web", "db port", "backup", "report", "queue", "old thing"]
    );
    let web = &jobs[0];
    assert_eq!(web["kind"], "http");
    assert_eq!(web["target"], "http://127.0.0.1:9/");
    assert_eq!(web["schedule"], "minute");
    assert_eq!(web["notify_every"], "state_change");
    assert_eq!(web["failures_before_notify"], 3);
    assert_eq!(web["failing_for"], "1h");
    assert_eq!(web["notify"], json!(["capture"]));
    assert_eq!(web["enabled"], true);
    assert_eq!(jobs[1]["target"], "127.0.0.1:5432");
    assert_eq!(jobs[1]["schedule"], "hour");
    assert_eq!(jobs[1]["notify_every"], "every");
    assert_eq!(jobs[1]["failures_before_notify"], 1);
    assert_eq!(jobs[4]["schedule"], "every 5m");
    assert_eq!(jobs[5]["enabled"], false);
}

// ---------------------------------------------------------------------------------------
// 4. status

/// web failing (3 in a row), db fine, fresh never run, retired disabled; history around
/// `now` with events 1, 2 and 3 hours back (inside 24 h) and 30 hours back (outside).
fn seed_status(f: &Fixture, now: DateTime<Utc>) {
    f.jobs(STATUS_JOBS);
    let h = |n: i64| now - Duration::hours(n);
    let state = json!({
        "version": 1,
        "jobs": {
            "web": {
                "status": "failing",
                "consecutive_failures": 3,
                "first_failure": rfc3339(h(2)),
                "last_run": rfc3339(h(1)),
                "last_success": rfc3339(h(30)),
                "last_error": "connection refused",
                "recent": "++-+---",
            },
            "db": {
                "status": "ok",
                "last_run": rfc3339(h(1)),
                "last_success": rfc3339(h(1)),
                "last_error": "an old error, long recovered",
                "recent": "+++",
            },
            "retired": {"status": "ok", "last_run": rfc3339(h(200)), "last_success": rfc3339(h(200))},
        },
    });
    f.write("state.json", &serde_json::to_string_pretty(&state).unwrap());
    let mut report = event(h(3), "web", "report", Some(true), "pushed");
    report["count"] = json!(5);
    let mut old_report = event(h(30), "web", "report", Some(true), "pushed long ago");
    old_report["count"] = json!(100);
    seed_history(
        f,
        &[
            old_report,
            event(h(30), "db", "result", Some(false), "refused, long ago"),
            report,
            event(h(2), "web", "result", Some(false), "connection refused"),
            event(h(2), "web", "notify", Some(true), "alert sent"),
            event(h(1), "web", "result", Some(true), "200 OK"),
            event(h(1), "db", "result", Some(true), "connected"),
        ],
    );
}

#[test]
fn status_json_counts_only_the_events_inside_the_hours_window() {
    let f = Fixture::new();
    let now = Utc::now();
    seed_status(&f, now);
    let out = f.run_ok(&["status", "--json", "--hours", "24"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("status --json is JSON");
    assert_eq!(v["window_hours"], 24);
    let jobs = v["jobs"].as_array().unwrap();
    let job = |name: &str| jobs.iter().find(|j| j["job"] == name).unwrap().clone();
    for j in jobs {
        for key in [
            "job",
            "kind",
            "state",
            "consecutive_failures",
            "total_attempts",
            "successful",
            "failed",
            "success_rate",
            "total_count",
            "last_success",
            "last_attempt",
            "last_error",
        ] {
            assert!(j.get(key).is_some(), "{key} missing from {j}");
        }
    }
    let web = job("web");
    assert_eq!(web["kind"], "http");
    assert_eq!(web["state"], "failing");
    assert_eq!(web["consecutive_failures"], 3);
    // report (count 5), failure, success: the notify event is not an attempt, and the
    // report 30 h back is outside the window.
    assert_eq!(web["total_attempts"], 3);
    assert_eq!(web["successful"], 2);
    assert_eq!(web["failed"], 1);
    assert_eq!(web["success_rate"], 66.7);
    assert_eq!(web["total_count"], 5);
    assert_eq!(web["last_error"], "connection refused");
    let last_attempt: DateTime<Utc> = web["last_attempt"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        last_attempt.timestamp(),
        (now - Duration::hours(1)).timestamp()
    );
    let last_success: DateTime<Utc> = web["last_success"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        last_success.timestamp(),
        (now - Duration::hours(30)).timestamp()
    );

    let db = job("db");
    assert_eq!(db["state"], "ok");
    assert_eq!(
        (db["total_attempts"].clone(), db["failed"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(db["success_rate"], 100.0);
    assert_eq!(db["last_error"], Value::Null, "an ok job shows no error");

    let fresh = job("fresh");
    assert_eq!(fresh["state"], "pending");
    assert_eq!(fresh["total_attempts"], 0);
    assert_eq!(fresh["success_rate"], Value::Null);
    assert_eq!(fresh["last_success"], Value::Null);
    assert_eq!(fresh["last_attempt"], Value::Null);

    assert_eq!(job("retired")["state"], "disabled");

    // A wider window takes in the older events.
    let out = f.run_ok(&["status", "--json", "--hours", "48"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["window_hours"], 48);
    let web = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "web")
        .unwrap()
        .clone();
    assert_eq!(web["total_attempts"], 4);
    assert_eq!(web["total_count"], 105);
    let db = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "db")
        .unwrap()
        .clone();
    assert_eq!(
        (db["total_attempts"].clone(), db["failed"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(db["success_rate"], 50.0);
}

#[test]
fn status_table_has_a_header_and_a_row_per_job() {
    let f = Fixture::new();
    seed_status(&f, Utc::now());
    let out = f.run_ok(&["status"], 0);
    let text = stdout(&out);
    // The table, a blank line, then mail health, the last tick and the outbox.
    let lines: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 5, "{text}");
    let tail: Vec<&str> = text.lines().skip(lines.len() + 1).collect();
    assert_eq!(
        tail.first().copied(),
        Some("mail: off (alerts are recorded, not sent)"),
        "{text}"
    );
    assert!(tail[1].starts_with("last tick: "), "{text}");
    assert_eq!(
        tail[2], "outbox: empty (no alert waiting for delivery)",
        "{text}"
    );
    for h in [
        "JOB",
        "STATE",
        "FAILS",
        "LAST SUCCESS",
        "LAST ATTEMPT",
        "24h OK/ALL",
        "LAST ERROR",
    ] {
        assert!(lines[0].contains(h), "{h} missing from the header: {text}");
    }
    let row = |job: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(job))
            .unwrap()
            .to_string()
    };
    let web = row("web ");
    for part in ["failing", "2/3", "66.7%", "connection refused", "++-+---"] {
        assert!(web.contains(part), "{part:?} missing from {web:?}");
    }
    assert!(row("fresh").contains("pending"), "{text}");
    assert!(row("fresh").contains("never"), "{text}");
    assert!(row("retired").contains("disabled"), "{text}");
}

#[test]
fn status_table_has_no_colour_when_stdout_is_not_a_terminal() {
    let f = Fixture::new();
    seed_status(&f, Utc::now());
    let mut cmd = f.cmd();
    cmd.env_remove("NO_COLOR").arg("status");
    let out = cmd.output().unwrap();
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("failing"));
    assert!(!stdout(&out).contains('\x1b'), "{:?}", stdout(&out));
}

/// Runs checker under a pseudo-terminal (util-linux `script`), so stdout is a terminal.
fn status_on_a_tty(f: &Fixture, no_color: Option<&str>) -> String {
    let line = format!(
        "'{}' -f '{}' status",
        env!("CARGO_BIN_EXE_checker"),
        f.settings_path().display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env_remove("CHECKER_CONFIG");
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().expect("run script(1)");
    assert_exit(&out, 0);
    stdout(&out)
}

#[test]
fn status_colours_the_state_on_a_terminal_unless_no_color_is_set() {
    let f = Fixture::new();
    seed_status(&f, Utc::now());
    let tty = status_on_a_tty(&f, None);
    assert!(tty.contains("\x1b[31mfailing\x1b[0m"), "{tty:?}");
    assert!(tty.contains("\x1b[32mok\x1b[0m"), "{tty:?}");
    assert!(tty.contains("\x1b[33mpending\x1b[0m"), "{tty:?}");
    let header = tty.lines().next().unwrap();
    assert!(!header.contains('\x1b'), "the header is plain: {header:?}");

    let plain = status_on_a_tty(&f, Some("1"));
    assert!(plain.contains("failing"), "{plain:?}");
    assert!(
        !plain.contains('\x1b'),
        "NO_COLOR=1 on a terminal: {plain:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. usage

#[test]
fn no_arguments_is_a_usage_error_with_a_hint() {
    let f = Fixture::new();
    let out = f.run(&[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("-c TICK") && err.contains("--help"), "{err}");
}

#[test]
fn the_original_m_cron_form_runs_a_tick_and_records_the_heartbeat() {
    let f = Fixture::new();
    let before = Utc::now();
    f.run_ok(&["-m", "cron", "-c", "minute"], 0);
    let hb = f.state()["heartbeat"].clone();
    assert_eq!(hb["last_tick"], "minute", "{hb}");
    let started: DateTime<Utc> = hb["last_tick_started"].as_str().unwrap().parse().unwrap();
    let finished: DateTime<Utc> = hb["last_tick_finished"].as_str().unwrap().parse().unwrap();
    assert!(
        started >= before - Duration::seconds(1) && finished >= started,
        "{hb}"
    );
    assert_eq!(hb["last_tick_error"], Value::Null);

    // `-c minute` alone does the same.
    let g = Fixture::new();
    g.tick("minute");
    assert!(g.state()["heartbeat"]["last_tick_finished"].is_string());
}

#[test]
fn m_cron_without_a_tick_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.run(&["-m", "cron"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("-c"), "{}", stderr(&out));
}

#[test]
fn run_once_with_an_unknown_job_is_a_usage_error() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let out = f.run(&["run-once", "nosuchjob"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("unknown job \"nosuchjob\""),
        "{}",
        stderr(&out)
    );
    assert!(!f.path().join("state.json").exists(), "nothing ran");
}

#[test]
fn an_invalid_tick_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.run(&["-c", "fortnight"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("fortnight") && err.contains("day_noon"),
        "{err}"
    );
    assert!(!f.path().join("state.json").exists());
}

#[test]
fn a_tick_with_a_subcommand_is_a_usage_error() {
    let f = Fixture::new();
    let out = f.run(&["-c", "minute", "list"]);
    assert_exit(&out, 2);
}

// ---------------------------------------------------------------------------------------
// 8. logging

#[test]
fn d_puts_debug_lines_on_stderr() {
    let f = Fixture::new();
    let out = f.run_ok(&["-d", "-c", "minute"], 0);
    let err = stderr(&out);
    assert!(
        err.contains("DEBUG") && err.contains("nothing due"),
        "{err}"
    );
}

#[test]
fn without_d_debug_lines_stay_off_stderr() {
    let f = Fixture::new();
    let out = f.tick("minute");
    let err = stderr(&out);
    assert!(
        !err.contains("nothing due") && !err.contains("DEBUG"),
        "{err}"
    );
    // They still reach the log file, whose level is debug in the fixture.
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(log.contains("nothing due"), "{log}");
}

#[test]
fn v_writes_debug_lines_to_the_log_file_even_at_file_level_warn() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("file_level = \"debug\"", "file_level = \"warn\""),
    );
    f.tick("minute");
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap_or_default();
    assert!(
        !log.contains("nothing due"),
        "warn level keeps debug out: {log}"
    );

    let out = f.run_ok(&["-v", "-c", "minute"], 0);
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains("DEBUG") && log.contains("nothing due"),
        "{log}"
    );
    assert!(
        !stderr(&out).contains("nothing due"),
        "-v is for the file only"
    );
}

// ---------------------------------------------------------------------------------------
// 9. finding the settings file

#[test]
fn a_missing_settings_file_is_a_configuration_error_naming_it() {
    let f = Fixture::new();
    let missing = f.path().join("nowhere.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_checker"))
        .arg("-f")
        .arg(&missing)
        .arg("list")
        .env_remove("CHECKER_CONFIG")
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
}

/// The binary without the fixture's `-f`, run from an empty folder.
fn bare(cwd: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_checker"));
    c.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("CHECKER_CONFIG");
    c
}

#[test]
fn checker_config_is_honoured_when_f_is_absent() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = bare(elsewhere.path())
        .env("CHECKER_CONFIG", f.settings_path())
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["jobs"][0]["job"], "web");

    // Relative paths in it resolve against its own folder, not the working directory.
    let out = bare(elsewhere.path())
        .env("CHECKER_CONFIG", f.settings_path())
        .args(["-c", "minute"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(f.path().join("state.json").exists());
    assert!(!elsewhere.path().join("state.json").exists());

    // A CHECKER_CONFIG naming a missing file is named in the error.
    let missing = elsewhere.path().join("missing.toml");
    let out = bare(elsewhere.path())
        .env("CHECKER_CONFIG", &missing)
        .arg("list")
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn f_wins_over_checker_config() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let other = Fixture::new();
    let out = bare(other.path())
        .env("CHECKER_CONFIG", other.settings_path())
        .arg("-f")
        .arg(f.settings_path())
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["jobs"].as_array().unwrap().len(), 4);
}

#[test]
fn without_f_or_checker_config_the_settings_toml_in_the_working_directory_is_used() {
    let f = Fixture::new();
    f.jobs(STATUS_JOBS);
    let out = bare(f.path()).args(["list", "--json"]).output().unwrap();
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["jobs"].as_array().unwrap().len(), 4);
}

#[test]
fn completions_print_a_script_for_the_shell_asked() {
    let f = Fixture::new();
    let out = f.run_ok(&["completions", "bash"], 0);
    let text = support::stdout(&out);
    assert!(
        text.contains("_checker()") && text.contains("run-once"),
        "{text}"
    );
    f.run_ok(&["completions", "tcsh"], 2);
}

#[test]
fn a_reader_that_closes_the_pipe_early_does_not_make_list_panic() {
    let f = Fixture::new();
    let mut jobs = String::new();
    for i in 0..3000 {
        jobs.push_str(&format!(
            "[[job]]\nname = \"job {i}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n"
        ));
    }
    f.jobs(&jobs);
    let mut child = f
        .cmd()
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

// ---------------------------------------------------------------------------------------
// 10. Hostile configuration (issue #10): every problem a clear error with its line

#[test]
fn an_overlong_duration_is_refused_in_every_section_with_its_line_key_and_maximum() {
    let f = Fixture::new();
    let settings = support::BASE_SETTINGS
        .replace(
            "[general]\n",
            "[general]\ntick_deadline = \"99999999999d\"\nstale_after = \"400d\"\nundeliverable_after = \"99999999999d\"\n",
        )
        .replace("timeout = \"10s\"", "timeout = \"99999999999d\"")
        + "\n[email]\nenabled = false\ntimeout = \"99999999999d\"\nself_check = \"9999d\"\n\
           \n[[webhooks]]\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\ntimeout = \"2d\"\n";
    f.write("settings.toml", &settings);
    f.jobs(
        "[[job]]\nname = \"p\"\nkind = \"passive\"\nexpect_every = \"99999999999d\"\n\
         [[job]]\nname = \"c\"\nkind = \"command\"\ncommand = [\"true\"]\ntimeout = \"25h\"\nevery = \"367d\"\nretry_backoff = \"2h\"\n",
    );
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    let s = f.settings_path().display().to_string();
    let j = jobs_path(&f, "jobs.toml");
    let line_of = |text: &str| settings.lines().position(|l| l == text).unwrap() + 1;
    let expected = [
        format!(
            "{s}:{}: `tick_deadline`: duration \"99999999999d\" is too long: at most 1d",
            line_of("tick_deadline = \"99999999999d\"")
        ),
        format!(
            "{s}:{}: `stale_after`: duration \"400d\" is too long: at most 366d",
            line_of("stale_after = \"400d\"")
        ),
        format!(
            "{s}:{}: `undeliverable_after`: duration \"99999999999d\" is too long: at most 366d",
            line_of("undeliverable_after = \"99999999999d\"")
        ),
        format!(
            "{s}:{}: `timeout`: duration \"99999999999d\" is too long: at most 1d",
            line_of("timeout = \"99999999999d\"")
        ),
        format!(
            "{s}:{}: `self_check`: duration \"9999d\" is too long: at most 366d",
            line_of("self_check = \"9999d\"")
        ),
        format!(
            "{s}:{}: `timeout`: duration \"2d\" is too long: at most 1d",
            line_of("timeout = \"2d\"")
        ),
        format!(
            "{j}:4: job \"p\": `expect_every`: duration \"99999999999d\" is too long: at most 366d"
        ),
        format!("{j}:9: job \"c\": `timeout`: duration \"25h\" is too long: at most 1d"),
        format!("{j}:10: job \"c\": `every`: duration \"367d\" is too long: at most 366d"),
        format!("{j}:11: job \"c\": `retry_backoff`: duration \"2h\" is too long: at most 1h"),
    ];
    for want in &expected {
        assert!(problems.contains(want), "missing {want:?} in\n{err}");
    }
    // The [[commands]] and [email] timeouts share a text: both lines are reported.
    let long_timeouts = problems
        .iter()
        .filter(|p| p.contains("`timeout`: duration \"99999999999d\""))
        .count();
    assert_eq!(long_timeouts, 2, "{err}");
    assert_eq!(problems.len(), expected.len() + 1, "{err}");
}

#[test]
fn a_missing_jobs_folder_is_a_configuration_error_and_an_empty_one_a_warning() {
    let f = Fixture::new();
    let settings = support::BASE_SETTINGS.replace("jobs_dir = \"jobs\"", "jobs_dir = \"nope\"");
    f.write("settings.toml", &settings);
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    let line = settings
        .lines()
        .position(|l| l == "jobs_dir = \"nope\"")
        .unwrap()
        + 1;
    assert_eq!(
        problems,
        [format!(
            "{}:{line}: the jobs folder {} does not exist: create it (it may stay empty), or point `jobs_dir` in [general] at the folder of your job files",
            f.settings_path().display(),
            f.path().join("nope").display()
        )]
    );
    // Ticks and peers do not carry on as if all were well.
    assert_exit(&f.run(&["-c", "minute"]), 2);
    assert_exit(&f.run(&["peer-status"]), 2);
    assert!(!f.path().join("state.json").exists());

    // A file where the folder should be.
    f.write("nope", "not a folder");
    let err = validate_fails(&f);
    assert!(err.contains("cannot read the jobs folder"), "{err}");

    // An empty folder: allowed, with a warning from validate and in the tick's log.
    std::fs::remove_file(f.path().join("nope")).unwrap();
    std::fs::create_dir(f.path().join("nope")).unwrap();
    f.write("nope/README", "job files go here\n");
    let out = f.run_ok(&["validate"], 0);
    assert!(
        stdout(&out).contains("warning: ")
            && stdout(&out).contains("holds no *.toml job files: no jobs are checked"),
        "{}",
        stdout(&out)
    );
    let out = f.run_ok(&["-c", "minute"], 0);
    assert_eq!(stderr(&out), "", "cron would mail it every minute");
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(log.contains("holds no *.toml job files"), "{log}");
}

#[test]
fn validate_refuses_methods_headers_urls_cwds_and_env_keys_that_can_never_work() {
    let f = Fixture::new();
    f.jobs(
        r#"[[job]]
name = "m1"
kind = "http"
url = "http://127.0.0.1:9/"
method = "GET\r\nX: y"

[[job]]
name = "m2"
kind = "http"
url = "http://127.0.0.1:9/"
method = ""

[[job]]
name = "h1"
kind = "http"
url = "http://127.0.0.1:9/"
headers = { "X Y" = "1" }

[[job]]
name = "h2"
kind = "http"
url = "http://127.0.0.1:9/"
headers = { "X-Ok" = "a\r\nInjected: yes" }

[[job]]
name = "h3"
kind = "http"
url = "http://127.0.0.1:9/"
headers = { "X-Bad\n" = "1" }

[[job]]
name = "u"
kind = "http"
url = "http://[::1"

[[job]]
name = "cwd"
kind = "command"
command = ["true"]
cwd = "no-such-folder"

[[job]]
name = "env"
kind = "command"
command = ["true"]
env = { "A=B" = "1" }

[[job]]
name = "fine"
kind = "http"
url = "http://[::1]:9/"
method = "PATCH"
headers = { "X-Token" = "abc def" }
"#,
    );
    let err = validate_fails(&f);
    let problems = problem_lines(&err);
    let j = jobs_path(&f, "jobs.toml");
    for (line, text) in [
        (
            5,
            "job \"m1\": `method` \"GET\\r\\nX: y\" is not an HTTP method",
        ),
        (11, "job \"m2\": `method` \"\" is not an HTTP method"),
        (
            17,
            "job \"h1\": `headers`: \"X Y\" is not a valid header name",
        ),
        (
            23,
            "job \"h2\": `headers`: the value of \"X-Ok\" holds a line break",
        ),
        (
            29,
            "job \"h3\": `headers`: \"X-Bad\\n\" is not a valid header name",
        ),
        (34, "job \"u\": `url` \"http://[::1\" is not a valid URL"),
        (40, "job \"cwd\": `cwd` "),
        (46, "job \"env\": `env`: \"A=B\" is not a variable name"),
    ] {
        let want = format!("{j}:{line}: {text}");
        assert!(
            problems.iter().any(|p| p.starts_with(&want)),
            "no {want:?} in\n{err}"
        );
    }
    assert_eq!(problems.len(), 8, "{err}");
}

#[test]
fn settings_and_job_files_must_be_regular_files_of_at_most_ten_mib() {
    let f = Fixture::new();
    // A device: refused at once, without reading it (under 1 GiB of address space, an
    // unbounded read fails loudly instead of eating the machine's memory).
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -v 1048576; exec \"$0\" -f /dev/zero validate"])
        .arg(env!("CARGO_BIN_EXE_checker"));
    let out = output_within(cmd, 20);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "/dev/zero: cannot read settings file: it is a character device, not a regular file"
        ),
        "{}",
        stderr(&out)
    );

    // A FIFO: refused, not waited on.
    let fifo = f.path().join("fifo.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_checker"));
    cmd.arg("-f").arg(&fifo).arg("validate");
    let out = output_within(cmd, 20);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("it is a FIFO, not a regular file"),
        "{}",
        stderr(&out)
    );
    // ... in the jobs folder too.
    assert!(Command::new("mkfifo")
        .arg(f.path().join("jobs/pipe.toml"))
        .status()
        .unwrap()
        .success());
    let mut cmd = f.cmd();
    cmd.arg("validate");
    let out = output_within(cmd, 20);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!(
            "{}: cannot read job file: it is a FIFO, not a regular file",
            jobs_path(&f, "pipe.toml")
        )),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(f.path().join("jobs/pipe.toml")).unwrap();

    // A job file over 10 MiB, however innocent its contents.
    let mut big = String::from("# padding\n");
    while big.len() <= 10 * 1024 * 1024 {
        big.push_str(&"#".repeat(1023));
        big.push('\n');
    }
    f.write("jobs/big.toml", &big);
    let err = validate_fails(&f);
    assert!(
        err.contains(&format!(
            "{}: cannot read job file: it is larger than 10 MiB",
            jobs_path(&f, "big.toml")
        )),
        "{err}"
    );
}

#[test]
fn a_duplicate_key_error_names_the_key_and_its_line() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"a\"\nkind = \"passive\"\nname = \"b\"\n");
    let err = validate_fails(&f);
    assert_eq!(
        problem_lines(&err),
        [format!(
            "{}:4: duplicate key `name` in [[job]]: a key can be set only once per table (remove one, or use [[...]] for a list of tables)",
            jobs_path(&f, "jobs.toml")
        )]
    );
}

#[test]
fn overlong_prune_and_status_windows_are_usage_errors_not_panics() {
    let f = Fixture::new();
    for (args, expected) in [
        (
            ["prune", "--older-than", "99999999999d"],
            "duration \"99999999999d\" is too long: at most 36500d",
        ),
        (["status", "--hours", "3000000000"], "not in 1..=876000"),
        (["status", "--hours", "0"], "not in 1..=876000"),
    ] {
        let out = f.run(&args);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains(args[1]) && err.contains(expected),
            "{args:?}: {err}"
        );
    }
    // The longest windows allowed work.
    f.run_ok(&["prune", "--older-than", "36500d"], 0);
    f.run_ok(&["status", "--hours", "876000"], 0);
}

#[test]
fn status_history_and_run_once_show_terminal_escapes_escaped_and_json_keeps_them_exact() {
    const EVIL: &str = "\u{1b}]0;owned\u{7}\u{1b}[2Jgone\rover";
    const SHOWN: &str = "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jgone\\rover";
    let f = Fixture::new();
    f.script(
        "jobs/evil.sh",
        "#!/bin/sh\nprintf 'CRITICAL \\033[2Jcleared\\033]0;retitled\\007\\n'\nexit 2\n",
    );
    f.jobs(
        "[[job]]\nname = \"pushed\"\nkind = \"passive\"\n\n\
         [[job]]\nname = \"plugin\"\nkind = \"command\"\ncommand = [\"./evil.sh\"]\nfrequency = \"day\"\n",
    );
    f.run_ok(&["report", "pushed", "--fail", "--message", EVIL], 0);

    let out = f.run_ok(&["run-once", "plugin"], 1);
    let text = stdout(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("CRITICAL \\u{1b}[2Jcleared\\u{1b}]0;retitled\\u{7}"),
        "{text}"
    );
    let v: Value =
        serde_json::from_str(&stdout(&f.run_ok(&["run-once", "plugin", "--json"], 1))).unwrap();
    assert_eq!(
        v["results"][0]["message"],
        "CRITICAL \u{1b}[2Jcleared\u{1b}]0;retitled\u{7}"
    );

    for args in [&["status"][..], &["history"]] {
        let text = stdout(&f.run_ok(args, 0));
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'),
            "{args:?}: {text:?}"
        );
        assert!(text.contains(SHOWN), "{args:?}: {text}");
    }
    let v: Value = serde_json::from_str(&stdout(&f.run_ok(&["status", "--json"], 0))).unwrap();
    let pushed = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "pushed")
        .unwrap();
    assert_eq!(pushed["last_error"], EVIL);
    let v: Value = serde_json::from_str(&stdout(&f.run_ok(&["history", "--json"], 0))).unwrap();
    assert!(
        v.as_array().unwrap().iter().any(|e| e["message"] == EVIL),
        "{v}"
    );
}

#[test]
fn every_docs_page_the_repository_points_at_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = Vec::new();
    for file in [
        "settings.example.toml",
        "README.md",
        "jobs/example.toml",
        "src/notify/template.rs",
        "src/notify/webhook.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for (at, _) in text.match_indices("docs/") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                .collect();
            let name = name.trim_end_matches('.');
            if name.ends_with(".md") {
                assert!(
                    root.join(name).is_file(),
                    "{file} points at {name}, which does not exist"
                );
                seen.push((file, name.to_string()));
            }
        }
    }
    for page in ["docs/channels.md", "docs/peers.md"] {
        assert!(
            seen.iter()
                .any(|(f, n)| *f == "settings.example.toml" && n == page),
            "settings.example.toml points at {page}: {seen:?}"
        );
    }
}

#[test]
fn targets_that_would_expand_past_64_mib_are_refused_not_built() {
    let f = Fixture::new();
    // A million placeholders times a 100-byte target would be 100 MB for one job; the
    // same in a file of 10 MiB with longer targets, terabytes.
    let body = "{target}".repeat(1_000_000);
    let target = "x".repeat(100);
    f.jobs(&format!(
        "[[job]]\nname = \"j {{target}}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ntargets = [\"{target}\", \"y\"]\nbody = \"{body}\"\n"
    ));
    let mut cmd = f.cmd();
    cmd.arg("validate");
    let out = output_within(cmd, 60);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!(
            "{}:5: job \"j {{target}}\": its 2 `targets` would make more than 64 MiB of jobs",
            jobs_path(&f, "jobs.toml")
        )),
        "{}",
        stderr(&out)
    );
    // Many small targets are fine.
    let many: Vec<String> = (0..2000).map(|i| format!("\"h{i}\"")).collect();
    f.jobs(&format!(
        "[[job]]\nname = \"p {{target}}\"\nkind = \"tcp\"\nhost = \"{{target}}\"\nport = 22\ntargets = [{}]\n",
        many.join(", ")
    ));
    let out = f.run_ok(&["validate"], 0);
    assert!(stdout(&out).contains("OK (2000 job(s)"), "{}", stdout(&out));
}

// ---------------------------------------------------------------------------------------
// Issue #11: validate loads like a cron run; --help; the documents users get.

#[test]
fn validate_names_each_env_variable_read_from_this_shell_and_env_from_cron_refuses_them() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &format!(
            "{}\n[[webhooks]]\nname = \"hook\"\nurl_env = \"CHECKER_TEST_HOOK_URL\"\n",
            support::BASE_SETTINGS
        ),
    );
    let mut cmd = f.cmd();
    cmd.env("CHECKER_TEST_HOOK_URL", "https://hooks.example/abc");
    cmd.arg("validate");
    let out = output_within(cmd, 20);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let warning = text
        .lines()
        .find(|l| l.contains("warning:") && l.contains("`url_env`: CHECKER_TEST_HOOK_URL"))
        .unwrap_or_else(|| panic!("no warning naming the variable:\n{text}"));
    assert!(
        warning.contains("settings.toml:")
            && warning.contains("was read from this shell's environment")
            && warning.contains("--env-from-cron"),
        "{warning}"
    );
    assert!(
        !text.contains("https://hooks.example/abc"),
        "the value is never shown"
    );

    // As cron would run it: the variable is not there, a problem with file and line.
    let mut cmd = f.cmd();
    cmd.env("CHECKER_TEST_HOOK_URL", "https://hooks.example/abc");
    cmd.args(["validate", "--env-from-cron"]);
    let out = output_within(cmd, 20);
    assert_exit(&out, 2);
    let problems = problem_lines(&stderr(&out));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("settings.toml:")
            && problems[0].contains("`url_env`: environment variable CHECKER_TEST_HOOK_URL is not set in cron's environment"),
        "{problems:?}"
    );
}

#[test]
fn validate_checks_that_every_program_exists_and_is_executable() {
    let f = Fixture::new();
    f.script("jobs/ok.sh", "#!/bin/sh\nexit 0\n");
    f.write("jobs/not-executable.sh", "#!/bin/sh\nexit 0\n");
    f.jobs(
        r#"[[job]]
name = "fine"
kind = "command"
command = ["./ok.sh"]

[[job]]
name = "on path"
kind = "command"
command = ["sh", "-c", "true"]

[[job]]
name = "typo"
kind = "command"
command = ["./okk.sh"]

[[job]]
name = "mode"
kind = "command"
command = ["./not-executable.sh"]

[[job]]
name = "nowhere"
kind = "command"
command = ["check_nothing_such"]

[[job]]
name = "off"
kind = "command"
command = ["./not-there-either.sh"]
enabled = false
"#,
    );
    f.write(
        "settings.toml",
        &format!(
            "{}\n[[commands]]\nname = \"pager\"\ncommand = [\"/nonexistent/page-me\"]\n\n[[peers]]\nname = \"backup\"\ncommand = [\"no-such-ssh\", \"backup\", \"checker\", \"peer-status\"]\n",
            support::BASE_SETTINGS
        ),
    );
    let problems = problem_lines(&validate_fails(&f));
    let jobs = jobs_path(&f, "jobs.toml");
    let settings = f.settings_path().display().to_string();
    let expected = [
        format!("{settings}: [[commands]] \"pager\": `command`: program /nonexistent/page-me does not exist"),
        format!("{jobs}:11: job \"typo\": `command`: program {} does not exist", f.path().join("jobs/./okk.sh").display()),
        format!("{jobs}:16: job \"mode\": `command`: program {} is not executable: chmod +x it", f.path().join("jobs/./not-executable.sh").display()),
        format!("{jobs}:21: job \"nowhere\": `command`: program \"check_nothing_such\" is not found on PATH"),
    ];
    for e in &expected {
        assert!(
            problems.iter().any(|p| p.starts_with(e.as_str())),
            "missing {e:?} in {problems:#?}"
        );
    }
    assert!(
        problems.iter().any(|p| p.contains(
            "job \"peer backup\": `command`: program \"no-such-ssh\" is not found on PATH"
        )),
        "{problems:#?}"
    );
    assert_eq!(
        problems.len(),
        5,
        "disabled jobs and programs that exist are fine: {problems:#?}"
    );
}

#[test]
fn validate_words_type_errors_for_people_and_reports_them_with_everything_else() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("[defaults]\n", "[defaults]\ntimeout = 10\n"),
    );
    f.write(
        "jobs/a.toml",
        r#"[[job]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = "5432"
frequency = "5m"
enabled = "yes"

[[job]]
name = "web"
kind = "http"
url = "http://127.0.0.1:9/"
notify = "capture"
"#,
    );
    f.write(
        "jobs/b.toml",
        "[job]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"true\"]\nfrequency = \"10m\"\n",
    );
    let problems = problem_lines(&validate_fails(&f));
    let settings = f.settings_path().display().to_string();
    let (a, b) = (jobs_path(&f, "a.toml"), jobs_path(&f, "b.toml"));
    assert_eq!(
        problems,
        vec![
            format!("{settings}:17: `timeout` must be a duration such as \"10s\", not a number"),
            format!("{a}:5: `port` must be a whole number, not text (\"5432\"): write 5432 without quotes"),
            // The job that lost a key is still checked for everything else.
            format!("{a}:6: job \"db\": `frequency` = \"5m\" is not valid: use one of \"minute\", \"hour\", \"day\", \"day_noon\"; for an interval write `every = \"5m\"` instead"),
            format!("{a}:7: `enabled` must be true or false, not text (\"yes\")"),
            format!("{a}:13: `notify` must be a list such as [\"a\", \"b\"], not text (\"capture\"): write [\"capture\"]"),
            format!("{b}:1: `[job]` must be `[[job]]`: each entry is one table of a list, so write [[job]] (two brackets) above each one"),
            format!("{b}:5: job \"disk\": `frequency` = \"10m\" is not valid: use one of \"minute\", \"hour\", \"day\", \"day_noon\"; for an interval write `every = \"10m\"` instead"),
        ],
    );
}

#[test]
fn validate_warns_about_jobs_whose_alerts_go_nowhere() {
    let f = Fixture::new();
    f.jobs(
        r#"[[job]]
name = "mailed"
kind = "command"
command = ["true"]
notify = ["email"]

[[job]]
name = "told"
kind = "command"
command = ["true"]

[[job]]
name = "mute"
kind = "command"
command = ["true"]
notify = []
"#,
    );
    // No [email] section: email is off.
    let out = f.run_ok(&["validate"], 0);
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning:")).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("1 job(s) alert only by email, which is off")
                && w.contains("\"mailed\"")
                && !w.contains("\"told\"")),
        "{text}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(&format!(
            "{}:12: job \"mute\" has `notify = []`",
            jobs_path(&f, "jobs.toml")
        ))),
        "{text}"
    );
    assert_eq!(warnings.len(), 2, "{text}");
    // Alerts about checker itself going nowhere are worth a word too.
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("notify = [\"capture\"]", "notify = [\"email\"]"),
    );
    f.jobs("[[job]]\nname = \"told\"\nkind = \"command\"\ncommand = [\"true\"]\nnotify = [\"capture\"]\n");
    let text = stdout(&f.run_ok(&["validate"], 0));
    assert!(
        text.contains("[defaults] `notify` names no channel that is on"),
        "{text}"
    );
}

#[test]
fn commands_a_person_runs_warn_about_job_files_that_cannot_be_loaded() {
    let f = Fixture::new();
    f.write(
        "jobs/good.toml",
        "[[job]]\nname = \"good\"\nkind = \"command\"\ncommand = [\"true\"]\n",
    );
    f.write(
        "jobs/bad.toml",
        "[[job]]\nname = \"bad\"\nkind = \"command\"\ncommandd = [\"true\"]\n",
    );
    let out = f.run_ok(&["list"], 0);
    assert!(stdout(&out).contains("good") && !stdout(&out).contains("bad"));
    assert!(
        stderr(&out).contains(&format!(
            "warning: job file not loaded (its jobs are left out; `checker validate` for all problems): {}:4: unknown key `commandd`",
            jobs_path(&f, "bad.toml")
        )),
        "{}",
        stderr(&out)
    );
    // A report for a job of that file: it may be there, says the error.
    let out = f.run(&["report", "bad", "--ok"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("it may be in a job file that cannot be loaded")
            && stderr(&out).contains("bad.toml"),
        "{}",
        stderr(&out)
    );
}

/// Every argument of every command, with the command's path.
fn all_args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for a in cmd.get_arguments() {
        out.push((path.to_string(), a.clone()));
    }
    for sub in cmd.get_subcommands() {
        all_args(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_flag_of_every_command_has_a_description() {
    let mut cmd = api::cli_command();
    cmd.build();
    let mut args = Vec::new();
    all_args(&cmd, "checker", &mut args);
    let undocumented: Vec<String> = args
        .iter()
        .filter(|(_, a)| a.get_help().is_none() && !a.is_hide_set())
        .map(|(path, a)| format!("{path} {}", a.get_id()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "flags without help: {undocumented:?}"
    );
    assert!(
        args.len() > 40,
        "the walk saw every command: {}",
        args.len()
    );
    // As a person sees it.
    let f = Fixture::new();
    let help = stdout(&f.run_ok(&["history", "--help"], 0));
    for flag in ["--job <NAME>", "--limit <N>", "--json"] {
        let line = help.lines().find(|l| l.contains(flag)).expect(&help);
        assert!(
            line.trim().len() > flag.len() + 5,
            "{flag} has no description: {line:?}"
        );
    }
}

#[test]
fn report_without_ok_or_fail_says_to_give_one() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"backup\"\nkind = \"passive\"\n");
    let out = f.run(&["report", "backup"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--ok or --fail"), "{}", stderr(&out));
    assert!(!f.path().join("state.json").exists());
    let help = stdout(&f.run_ok(&["report", "--help"], 0));
    assert!(
        help.contains("checker report <JOB> (--ok | --fail)"),
        "{help}"
    );
    let out = f.run(&["report", "backup", "--ok", "--fail"]);
    assert_exit(&out, 2);
}

#[test]
fn completions_does_not_offer_the_flags_that_make_no_sense_there() {
    let f = Fixture::new();
    let help = stdout(&f.run_ok(&["completions", "--help"], 0));
    for flag in ["--config", "--nomail", "-v ", "-d "] {
        assert!(!help.contains(flag), "{flag} in:\n{help}");
    }
    let status_help = stdout(&f.run_ok(&["status", "--help"], 0));
    assert!(status_help.contains("--config") && status_help.contains("--nomail"));
    let bash = stdout(&f.run_ok(&["completions", "bash"], 0));
    let opts_of = |sub: &str| {
        let at = bash
            .find(&format!("        checker__subcmd__{sub})"))
            .unwrap_or_else(|| panic!("no {sub} case in the bash script"));
        bash[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("opts="))
            .unwrap()
            .to_string()
    };
    let completions = opts_of("completions");
    assert!(
        !completions.contains("--config")
            && !completions.contains("--nomail")
            && !completions.contains("-f "),
        "{completions}"
    );
    let status = opts_of("status");
    assert!(
        status.contains("--config") && status.contains("--nomail"),
        "{status}"
    );
    // The flags still work where they make sense, after the command too.
    f.run_ok(&["status", "--nomail"], 0);
}

#[test]
fn cron_lines_in_the_documents_keep_stderr_and_the_readme_cites_nothing_users_lack() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["README.md", "crontab.example", "packaging/checker.cron"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let cron_lines: Vec<&str> = text
            .lines()
            .map(|l| l.trim_start_matches('#').trim())
            .filter(|l| {
                l.contains("checker")
                    && (l.contains(" -c ") || l.contains(" wrap "))
                    && l.split_whitespace().count() > 5
                    && l.starts_with(|c: char| c.is_ascii_digit() || c == '*')
            })
            .collect();
        assert!(!cron_lines.is_empty(), "{file} has cron lines");
        for l in cron_lines {
            assert!(
                !l.contains("2>&1") && !l.contains("2>/dev/null"),
                "{file} discards stderr: {l}"
            );
            assert!(
                !l.contains("/opt/checker"),
                "{file}: one install path, /etc/checker: {l}"
            );
        }
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for cited in ["SPEC", "§", "seed"] {
        let lines: Vec<&str> = readme
            .lines()
            .filter(|l| l.contains(cited) && !l.contains("seeds/"))
            .collect();
        assert!(lines.is_empty(), "README cites {cited:?}: {lines:#?}");
    }
    assert!(readme.contains("## When something is wrong with checker itself"));
    assert!(!readme.contains("/opt/checker"));
}

#[test]
fn the_first_command_of_the_readme_exits_1_as_it_says() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    let first = block
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .expect("a first command");
    assert!(
        !first.contains(';') && !first.contains("||"),
        "the exit status must be that of the command the README talks about: {first}"
    );
    assert!(
        readme.contains("exits 1"),
        "the README says what it exits with"
    );
    // Run it as written, with the built binary in place of `cargo build --release && ./target/release/checker`.
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        "settings.example.toml",
        "jobs/example.toml",
        "jobs/plugins/check_disk_free.sh",
    ] {
        let to = tmp.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), &to).unwrap();
    }
    let args = first
        .split("./target/release/checker")
        .nth(1)
        .expect("the command runs ./target/release/checker");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_checker"));
    cmd.args(args.split_whitespace()).current_dir(tmp.path());
    cmd.env_remove("CHECKER_CONFIG");
    let out = output_within(cmd, 60);
    assert_exit(&out, 1);
}
