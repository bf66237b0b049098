//! The engine end to end through the real binary: ticks and schedules, notification
//! rules seen through real runs, state under concurrency, crashes and corruption.

use std::time::Duration;

use crate::support::http::HttpServer;
use crate::support::{self, stdout, Fixture};

/// A command job that passes: a real script in the jobs folder.
fn ok_script(f: &Fixture) {
    f.script("jobs/ok.sh", "#!/bin/sh\necho 'OK - fine'\nexit 0\n");
}

#[test]
fn each_tick_runs_its_own_jobs_and_those_of_smaller_frequencies() {
    let f = Fixture::new();
    ok_script(&f);
    f.jobs(
        r#"
[[job]]
name = "m"
kind = "command"
command = ["./ok.sh"]
frequency = "minute"
[[job]]
name = "h"
kind = "command"
command = ["./ok.sh"]
frequency = "hour"
[[job]]
name = "d"
kind = "command"
command = ["./ok.sh"]
frequency = "day"
[[job]]
name = "n"
kind = "command"
command = ["./ok.sh"]
frequency = "day_noon"
"#,
    );
    let runs = |f: &Fixture| -> Vec<u64> {
        let s = f.state();
        ["m", "h", "d", "n"]
            .iter()
            .map(|j| s["jobs"][j]["total_attempts"].as_u64().unwrap_or(0))
            .collect()
    };
    f.tick("minute");
    assert_eq!(runs(&f), vec![1, 0, 0, 0]);
    f.tick("hour");
    assert_eq!(runs(&f), vec![2, 1, 0, 0]);
    f.tick("day");
    assert_eq!(runs(&f), vec![3, 2, 1, 0]);
    f.tick("day_noon");
    assert_eq!(runs(&f), vec![4, 3, 1, 1]);
    // The original's form.
    f.run_ok(&["-m", "cron", "-c", "minute"], 0);
    assert_eq!(runs(&f), vec![5, 3, 1, 1]);
}

#[test]
fn every_jobs_run_on_any_tick_once_their_interval_has_passed() {
    let f = Fixture::new();
    ok_script(&f);
    f.jobs("[[job]]\nname = \"e\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\nevery = \"1h\"\n");
    let attempts = |f: &Fixture| f.job_state("e")["total_attempts"].as_u64().unwrap_or(0);
    f.tick("minute");
    assert_eq!(attempts(&f), 1);
    f.tick("day");
    assert_eq!(attempts(&f), 1, "interval not passed yet");
    f.age_state(Duration::from_secs(3600 + 60));
    f.tick("hour");
    assert_eq!(attempts(&f), 2);
}

fn http_job(url: &str, extra: &str) -> String {
    format!(
        "[[job]]\nname = \"web\"\nkind = \"http\"\nurl = \"{url}\"\ntimeout = \"5s\"\n{extra}\n"
    )
}

#[test]
fn state_change_alerts_once_per_streak_and_tells_the_recovery_end_to_end() {
    let f = Fixture::new();
    let server = HttpServer::start();
    f.jobs(&http_job(
        &server.url("/"),
        "notify_every = \"state_change\"\nfailures_before_notify = 2",
    ));
    f.tick("minute");
    server.set_status(503);
    f.tick("minute"); // n = 1: below the threshold
    assert!(f.alerts().is_empty());
    f.tick("minute"); // n = 2 = m: the one alert
    f.tick("minute"); // n = 3: nothing more
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "failure");
    assert_eq!(a["job"], "web");
    assert_eq!(a["servername"], "testbox");
    assert_eq!(a["consecutive_failures"], 2);
    assert!(a["message"].as_str().unwrap().contains("503"), "{a}");
    assert!(
        a["subject"].as_str().unwrap().starts_with("[testbox] "),
        "{a}"
    );
    let body = a["body"].as_str().unwrap();
    for field in [
        "Latest error:",
        "Consecutive failures:",
        "Failing since:",
        "Last success:",
        "Next reminder:",
    ] {
        assert!(body.contains(field), "body lacks {field}: {body}");
    }
    server.set_status(200);
    f.tick("minute");
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["kind"], "recovery");
    assert_eq!(
        alerts[1]["consecutive_failures"], 3,
        "the recovery tells the streak that ended"
    );
    let s = f.job_state("web");
    assert_eq!(s["status"], "ok");
    assert_eq!(s["total_attempts"], 6);
    assert_eq!(s["recent"], "+---++");
}

#[test]
fn every_mode_alerts_on_each_failure_past_the_threshold_and_not_for_short_blips() {
    let f = Fixture::new();
    let server = HttpServer::start();
    f.jobs(&http_job(
        &server.url("/"),
        "notify_every = \"every\"\nfailures_before_notify = 2",
    ));
    server.set_status(500);
    f.tick("minute");
    server.set_status(200);
    f.tick("minute");
    assert!(
        f.alerts().is_empty(),
        "a single failure below the threshold alerts nobody, and recovers silently"
    );
    server.set_status(404);
    for _ in 0..4 {
        f.tick("minute");
    }
    let kinds: Vec<String> = f
        .alerts()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["failure", "failure", "failure"]);
}

#[test]
fn hour_mode_does_not_repeat_within_the_hour_across_real_ticks() {
    let f = Fixture::new();
    let server = HttpServer::start();
    f.jobs(&http_job(&server.url("/"), "notify_every = \"hour\""));
    server.set_status(503);
    for _ in 0..3 {
        f.tick("minute");
    }
    assert_eq!(f.alerts().len(), 1);
    assert!(f.alerts()[0]["next_reminder"]
        .as_str()
        .unwrap()
        .contains("(hour)"));
}

#[test]
fn failing_for_waits_until_the_streak_is_old_enough() {
    let f = Fixture::new();
    let server = HttpServer::start();
    f.jobs(&http_job(
        &server.url("/"),
        "notify_every = \"state_change\"\nfailing_for = \"1h\"",
    ));
    server.set_status(503);
    f.tick("minute");
    f.tick("minute");
    assert!(f.alerts().is_empty());
    f.age_state(Duration::from_secs(3600 + 60));
    f.tick("minute");
    f.tick("minute");
    assert_eq!(f.alerts().len(), 1);
}

#[test]
fn concurrent_ticks_and_by_hand_runs_lose_no_attempt() {
    let f = Fixture::new();
    ok_script(&f);
    f.script("jobs/slowish.sh", "#!/bin/sh\nsleep 0.2\necho 'OK'\n");
    let mut jobs = String::new();
    for i in 0..10 {
        let script = if i % 2 == 0 {
            "./ok.sh"
        } else {
            "./slowish.sh"
        };
        jobs.push_str(&format!(
            "[[job]]\nname = \"j{i}\"\nkind = \"command\"\ncommand = [\"{script}\"]\n"
        ));
    }
    f.jobs(&jobs);
    let mut children = Vec::new();
    for _ in 0..8 {
        children.push(f.cmd().args(["-c", "minute"]).spawn().expect("spawn tick"));
    }
    for _ in 0..3 {
        children.push(f.cmd().args(["run-once"]).spawn().expect("spawn run-once"));
    }
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let state = f.state();
    let total: u64 = (0..10)
        .map(|i| {
            state["jobs"][format!("j{i}")]["total_attempts"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 11 * 10, "every run of every job is counted");
    let results = f
        .history()
        .iter()
        .filter(|e| e["event"] == "result")
        .count();
    assert_eq!(results, 110, "and every result is in the history");
    assert!(state["heartbeat"]["last_tick_finished"].is_string());
}

#[test]
fn a_corrupt_state_file_is_kept_aside_reported_and_the_tick_goes_on() {
    let f = Fixture::new();
    ok_script(&f);
    f.jobs("[[job]]\nname = \"a\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n");
    f.write(
        "state.json",
        "{\"version\": 1, \"jobs\": {\"a\": {\"status\": ",
    );
    f.tick("minute");
    assert_eq!(f.job_state("a")["total_attempts"], 1);
    let aside: Vec<String> = std::fs::read_dir(f.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    let corrupt = std::fs::read_to_string(f.path().join(&aside[0])).unwrap();
    assert!(
        corrupt.contains("\"status\": "),
        "the bad file is kept as it was"
    );
    let errors: Vec<_> = f.events("error");
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("moved aside"));
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "an alert says so");
    assert_eq!(alerts[0]["job"], "checker state");
}

/// The files `name*` moved aside in the fixture's folder.
fn moved_aside(f: &Fixture, prefix: &str) -> Vec<String> {
    std::fs::read_dir(f.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Every writer of the state goes through one transaction, so each notes a state file or
/// a history database it had to move aside the same way: an error event and an alert.
#[test]
fn every_writer_that_finds_the_state_or_the_history_corrupt_says_so_with_an_event_and_an_alert() {
    for (what, file, args) in [
        ("state", "state.json", &["test-notify", "capture"][..]),
        ("state", "state.json", &["report", "pushed", "--ok"][..]),
        ("history", "history.db", &["test-notify", "capture"][..]),
        ("history", "history.db", &["report", "pushed", "--fail"][..]),
    ] {
        let f = Fixture::new();
        f.jobs("[[job]]\nname = \"pushed\"\nkind = \"passive\"\n");
        if file == "state.json" {
            f.write(file, "{\"version\": 1, \"jobs\": {\"a\": {\"status\": ");
        } else {
            f.write(file, &"this is not a database. ".repeat(400));
        }
        let out = f.run(args);
        assert!(
            out.status.code().is_some_and(|c| c == 0 || c == 1),
            "{args:?}: {}",
            crate::support::stderr(&out)
        );
        assert_eq!(
            moved_aside(&f, &format!("{file}.corrupt-")).len(),
            1,
            "{args:?} moves the {what} aside"
        );
        let history = f.history();
        assert!(
            history.iter().any(|e| e["event"] == "error"
                && e["message"].as_str().unwrap_or("").contains("moved aside")),
            "{args:?}: an error event says the {what} was moved aside: {history:?}"
        );
        // Sent, or queued for the next run (test-notify sends only its test).
        let mut alerts = f.alerts();
        let state = f.state();
        alerts.extend(
            state["outbox"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["alert"].clone()),
        );
        assert!(
            alerts.iter().any(|a| a["job"] == format!("checker {what}")),
            "{args:?}: an alert about checker's {what}: {alerts:?}"
        );
    }
}

#[test]
fn a_process_killed_at_any_moment_leaves_a_readable_state_and_loses_no_queued_alert() {
    let f = Fixture::new();
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    let mut jobs = String::new();
    for i in 0..30 {
        jobs.push_str(&format!(
            "[[job]]\nname = \"f{i}\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\n"
        ));
    }
    f.jobs(&jobs);
    // Deliveries fail while the flag file exists: alerts stay queued in the outbox.
    f.write("capture.fail", "");
    let mut queued = std::collections::BTreeSet::new();
    for i in 0..25u64 {
        let mut child = f.cmd().args(["-c", "minute"]).spawn().expect("spawn");
        // Spread the kills over the whole tick: loading, checks, merging, delivery.
        std::thread::sleep(Duration::from_millis(5 + (i * 37) % 400));
        let _ = child.kill();
        let _ = child.wait();
        if f.path().join("state.json").exists() {
            let state = f.state(); // panics if unreadable
            for e in state["outbox"].as_array().unwrap() {
                queued.insert((
                    e["alert"]["job"].as_str().unwrap().to_string(),
                    e["alert"]["at"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    // Mend the channel; ticks deliver everything that was ever queued.
    std::fs::remove_file(f.path().join("capture.fail")).unwrap();
    f.write("jobs/jobs.toml", "");
    // Each round, time passes until the first queued alert may be tried again.
    let mut rounds = 0;
    while f.state()["outbox"]
        .as_array()
        .is_some_and(|o| !o.is_empty())
    {
        rounds += 1;
        assert!(
            rounds <= 50,
            "outbox never drained: {} entries left",
            f.state()["outbox"].as_array().map_or(0, |o| o.len())
        );
        f.age_to_next_retry();
        f.tick("minute");
    }
    let delivered: std::collections::BTreeSet<(String, String)> = f
        .alerts()
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap().to_string(),
                a["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        !queued.is_empty(),
        "the test must have queued alerts to be meaningful"
    );
    let lost: Vec<_> = queued.difference(&delivered).collect();
    assert!(lost.is_empty(), "queued alerts never delivered: {lost:?}");
}

#[test]
fn a_failed_delivery_stays_queued_and_goes_out_once_the_channel_works() {
    let f = Fixture::new();
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.jobs("[[job]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\nnotify_every = \"state_change\"\n");
    f.write("capture.fail", "");
    f.tick("minute");
    let outbox = f.state()["outbox"].clone();
    assert_eq!(outbox.as_array().unwrap().len(), 1);
    assert!(
        outbox[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("capture is broken"),
        "{outbox}"
    );
    std::fs::remove_file(f.path().join("capture.fail")).unwrap();
    f.age_state(Duration::from_millis(1100)); // delivery_retry = 1s
    f.tick("minute");
    f.tick("minute");
    assert_eq!(f.alerts().len(), 1, "delivered exactly once");
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    let attempts: Vec<bool> = f
        .history()
        .iter()
        .filter(|e| e["event"] == "notify")
        .map(|e| {
            assert_eq!(e["channel"], "capture");
            e["ok"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(
        attempts,
        vec![false, true],
        "each delivery attempt is in the history"
    );
}

#[test]
fn run_once_runs_named_jobs_now_and_reports_json() {
    let f = Fixture::new();
    ok_script(&f);
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.jobs(
        "[[job]]\nname = \"good\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\nfrequency = \"day\"\n\
         [[job]]\nname = \"bad\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\nfrequency = \"day\"\n",
    );
    let out = f.run_ok(&["run-once", "good", "--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["job"], "good");
    assert_eq!(v["results"][0]["ok"], true);
    assert!(v["results"][0]["duration_ms"].is_u64());
    let out = f.run_ok(&["run-once", "--json"], 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(v["notifications"][0]["job"], "bad");
    assert_eq!(v["notifications"][0]["channel"], "capture");
    assert_eq!(v["notifications"][0]["kind"], "failure");
    assert_eq!(v["notifications"][0]["delivered"], true);
    assert_eq!(f.job_state("bad")["total_attempts"], 1);
    // --dry-run changes nothing and sends nothing.
    let before = std::fs::read(f.path().join("state.json")).unwrap();
    f.run_ok(&["run-once", "--dry-run"], 1);
    assert_eq!(std::fs::read(f.path().join("state.json")).unwrap(), before);
    assert_eq!(f.alerts().len(), 1);
}

#[test]
fn email_off_records_alerts_instead_of_sending() {
    let f = Fixture::new();
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("notify = [\"capture\"]", "notify = [\"email\"]").replace(
            "[defaults]",
            "[email]\nenabled = false\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = 1\n\n[defaults]",
        ),
    );
    f.jobs("[[job]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\n");
    f.tick("minute");
    let notes: Vec<_> = f.events("notify");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["ok"], true);
    assert!(notes[0]["message"]
        .as_str()
        .unwrap()
        .contains("recorded, not sent"));
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
}

/// Runs checker with `args`, insisting that it ends within `within` (a FIFO must never
/// hang a command): kills it and fails the test otherwise.
fn run_within(f: &Fixture, args: &[&str], within: Duration) -> std::process::Output {
    f.test().args(args).any_status().within(within).run().output
}

fn file_type(path: &std::path::Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path)
        .expect("still there")
        .file_type()
}

fn passive_job(f: &Fixture) {
    f.jobs("[[job]]\nname = \"x\"\nkind = \"passive\"\nexpect_every = \"1h\"\n");
}

#[test]
fn a_device_node_fifo_or_folder_as_state_file_is_refused_with_exit_3_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    for kind in ["char", "fifo", "dir"] {
        let f = Fixture::new();
        passive_job(&f);
        f.write(
            "settings.toml",
            &support::BASE_SETTINGS
                .replace("state_file = \"state.json\"", "state_file = \"mynull\""),
        );
        let path = f.path().join("mynull");
        let made = match kind {
            "char" => std::process::Command::new("mknod")
                .args(["-m", "666"])
                .arg(&path)
                .args(["c", "1", "3"])
                .status(),
            "fifo" => std::process::Command::new("mkfifo").arg(&path).status(),
            _ => std::fs::create_dir(&path).map(|_| std::process::ExitStatus::default()),
        }
        .expect("make the node");
        assert!(made.success(), "mknod needs root: the tests run as root");
        for args in [
            &["report", "x", "--ok"][..],
            &["-c", "minute"],
            &["status"],
            &["peer-status"],
        ] {
            let out = run_within(&f, args, Duration::from_secs(20));
            assert_eq!(out.status.code(), Some(3), "{kind} {args:?}: {out:?}");
            let err = support::stderr(&out);
            assert!(
                err.contains("mynull") && err.contains("not a regular file"),
                "{kind} {args:?}: {err}"
            );
        }
        let ft = file_type(&path);
        let untouched = match kind {
            "char" => ft.is_char_device(),
            "fifo" => ft.is_fifo(),
            _ => ft.is_dir(),
        };
        assert!(untouched, "{kind}: the node is left as it was");
        let names: Vec<String> = std::fs::read_dir(f.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.contains("corrupt") && !n.contains(".tmp-")),
            "{kind}: nothing moved aside or left behind: {names:?}"
        );
    }
}

#[test]
fn a_fifo_or_device_as_lock_or_log_file_is_refused_with_exit_3_without_hanging() {
    use std::os::unix::fs::FileTypeExt;
    for which in ["state.json.lock", "checker.log"] {
        for node in ["fifo", "char"] {
            let f = Fixture::new();
            passive_job(&f);
            let path = f.path().join(which);
            let made = if node == "fifo" {
                std::process::Command::new("mkfifo").arg(&path).status()
            } else {
                std::process::Command::new("mknod")
                    .args(["-m", "666"])
                    .arg(&path)
                    .args(["c", "1", "3"])
                    .status()
            }
            .expect("make the node");
            assert!(made.success());
            let out = run_within(&f, &["report", "x", "--ok"], Duration::from_secs(20));
            assert_eq!(out.status.code(), Some(3), "{which} {node}: {out:?}");
            let err = support::stderr(&out);
            assert!(
                err.contains(which) && err.contains("not a regular file"),
                "{which} {node}: {err}"
            );
            let ft = file_type(&path);
            assert!(
                if node == "fifo" {
                    ft.is_fifo()
                } else {
                    ft.is_char_device()
                },
                "{which} {node} left as it was"
            );
            assert!(!f.path().join("checker.log.1").exists());
        }
    }
}

#[test]
fn a_symlinked_state_file_and_log_file_stay_links_and_their_targets_are_written() {
    let f = Fixture::new();
    passive_job(&f);
    std::fs::create_dir(f.path().join("data")).unwrap();
    std::os::unix::fs::symlink("data/real-state.json", f.path().join("state.json")).unwrap();
    std::os::unix::fs::symlink("data/real.log", f.path().join("checker.log")).unwrap();
    f.run_ok(&["report", "x", "--ok", "--message", "first"], 0);
    f.run_ok(&["report", "x", "--ok", "--message", "second"], 0);
    f.tick("minute");
    for link in ["state.json", "checker.log"] {
        assert!(
            file_type(&f.path().join(link)).is_symlink(),
            "{link} is still a link"
        );
    }
    let real: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(f.path().join("data/real-state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(real["jobs"]["x"]["total_attempts"], 2);
    assert_eq!(f.job_state("x")["last_message"], "second");
    let log = std::fs::read_to_string(f.path().join("data/real.log")).unwrap();
    assert!(log.contains("pushed result recorded"), "{log}");
}

#[test]
fn a_state_file_of_a_far_future_version_is_refused_not_moved_aside() {
    let f = Fixture::new();
    passive_job(&f);
    f.write("state.json", "{\"version\": 4294967296, \"jobs\": {}}");
    let out = f.run(&["report", "x", "--ok"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        support::stderr(&out).contains("has version 4294967296, newer than this checker"),
        "{}",
        support::stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(f.path().join("state.json")).unwrap(),
        "{\"version\": 4294967296, \"jobs\": {}}"
    );
    assert!(std::fs::read_dir(f.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .all(|e| !e.file_name().to_string_lossy().contains("corrupt")));
}

#[test]
fn with_email_off_the_log_says_recorded_not_sent_and_the_history_names_the_recipients() {
    let f = Fixture::new();
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("notify = [\"capture\"]", "notify = [\"email\"]").replace(
            "[defaults]",
            "[email]\nenabled = false\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = 1\n\n[defaults]",
        ),
    );
    f.jobs(
        "[[job]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\n\
         contact = [\"a@example.com\", \"b@example.com\"]\nfailures_before_notify = 1\n",
    );
    f.tick("minute");
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains("recorded, not sent") && log.contains("a@example.com, b@example.com"),
        "{log}"
    );
    assert!(!log.contains("delivered through email"), "{log}");
    let notes: Vec<_> = f.events("notify");
    assert_eq!(notes.len(), 1);
    let m = notes[0]["message"].as_str().unwrap();
    assert!(
        m.starts_with("recorded, not sent (email off), for a@example.com, b@example.com: "),
        "{m}"
    );
}

#[test]
fn a_removed_jobs_state_is_marked_dropped_after_a_week_and_validate_says_so() {
    let f = Fixture::new();
    ok_script(&f);
    f.jobs(
        "[[job]]\nname = \"old\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n\
         [[job]]\nname = \"kept\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n",
    );
    f.tick("minute");
    assert!(f.job_state("old").is_object());
    f.jobs("[[job]]\nname = \"kept\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\n");
    let out = stdout(&f.run_ok(&["validate"], 0));
    assert!(
        out.contains("no longer configured: \"old\": its state is dropped in 7d"),
        "{out}"
    );
    f.tick("minute");
    let left = f.job_state("old")["left_config"]
        .as_str()
        .unwrap()
        .to_string();
    // Pretend the job left eight days ago: the next tick drops its state, not its history.
    let mut state = f.state();
    let eight_days_ago = chrono::Utc::now() - chrono::Duration::days(8);
    state["jobs"]["old"]["left_config"] = serde_json::json!(eight_days_ago);
    f.write("state.json", &state.to_string());
    assert!(!left.is_empty());
    f.tick("minute");
    assert!(f.state()["jobs"].get("old").is_none(), "{}", f.state());
    assert!(f.job_state("kept").is_object());
    assert!(f
        .history()
        .iter()
        .any(|e| e["job"] == "old" && e["event"] == "result"));
    let out = stdout(&f.run_ok(&["validate"], 0));
    assert!(!out.contains("no longer configured"), "{out}");
}

#[test]
fn status_shows_which_tick_ran_last_and_when_and_what_waits_in_the_outbox() {
    let f = Fixture::new();
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.jobs(
        "[[job]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\n\
         notify_every = \"state_change\"\nfailures_before_notify = 1\n",
    );
    // Before cron ever ran, status says so.
    let text = stdout(&f.run_ok(&["status"], 0));
    assert!(
        text.contains("\nlast tick: none yet (is cron running `checker -c minute`?)\n"),
        "{text}"
    );
    assert!(
        text.contains("\noutbox: empty (no alert waiting for delivery)"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&f.run_ok(&["status", "--json"], 0))).unwrap();
    assert_eq!(v["last_tick"], serde_json::Value::Null);
    assert_eq!(v["outbox"], serde_json::json!({}));

    // A tick whose alert cannot be delivered.
    f.write("capture.fail", "");
    f.tick("hour");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&f.run_ok(&["status", "--json"], 0))).unwrap();
    let tick = &v["last_tick"];
    assert_eq!(tick["tick"], "hour", "{v}");
    let started: chrono::DateTime<chrono::Utc> = tick["started"].as_str().unwrap().parse().unwrap();
    let finished: chrono::DateTime<chrono::Utc> =
        tick["finished"].as_str().unwrap().parse().unwrap();
    assert!(started <= finished && (chrono::Utc::now() - started).num_seconds() < 60);
    assert_eq!(tick["error"], serde_json::Value::Null);
    let capture = &v["outbox"]["capture"];
    assert_eq!(capture["queued"], 1, "{v}");
    assert!(
        capture["last_error"]
            .as_str()
            .unwrap()
            .contains("capture is broken"),
        "{v}"
    );
    assert!(capture["oldest_age_seconds"].as_i64().unwrap() < 60, "{v}");
    let text = stdout(&f.run_ok(&["status"], 0));
    let tick_line = text
        .lines()
        .find(|l| l.starts_with("last tick: "))
        .unwrap_or_default();
    assert!(
        tick_line.starts_with(&format!(
            "last tick: hour, started {} (",
            started.format("%Y-%m-%d %H:%M:%S UTC")
        )) && tick_line.contains(" ago), took "),
        "{text}"
    );
    assert!(
        text.contains("\noutbox (alerts waiting for delivery):\n  capture  1 queued, oldest "),
        "{text}"
    );
    assert!(
        text.contains("; last error: command channel \"capture\""),
        "{text}"
    );
}

#[test]
fn a_failure_alert_names_its_target_and_expectation_and_the_recovery_its_span() {
    let f = Fixture::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    f.jobs(&format!(
        "[[job]]\nname = \"shop home\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/\"\n\
         timeout = \"5s\"\nfailures_before_notify = 1\nnotify_every = \"state_change\"\n"
    ));
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(
        a["subject"],
        format!(
            "[testbox] FAILED: shop home — GET http://127.0.0.1:{port}/ → connection refused (expected 200)"
        )
    );
    assert_eq!(a["target"], format!("GET http://127.0.0.1:{port}/"));
    assert_eq!(a["expected"], "200");
    let body = a["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "\nTarget:               GET http://127.0.0.1:{port}/\nExpected:             200\n"
        )),
        "{body}"
    );
    // The site comes up on that port: the recovery says where and since when, its rows
    // spaced like the failure's.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let r = &alerts[1];
    assert!(
        r["subject"].as_str().unwrap().starts_with(&format!(
            "[testbox] RECOVERED: shop home — GET http://127.0.0.1:{port}/ (was failing for "
        )),
        "{r}"
    );
    let body = r["body"].as_str().unwrap();
    assert!(body.contains("\nHad been failing since: "), "{body}");
    assert!(body.contains("\nFailed checks:          1\n"), "{body}");
}

#[test]
fn a_password_in_a_jobs_url_is_masked_in_the_target_its_alerts_name() {
    let f = Fixture::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    f.jobs(&format!(
        "[[job]]\nname = \"admin\"\nkind = \"http\"\n\
         url = \"http://ops:Hunter2-secret@127.0.0.1:{port}/?api_key=k3y-0123456789abcdefXYZ\"\n\
         timeout = \"5s\"\nfailures_before_notify = 1\n"
    ));
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = alerts[0].to_string();
    assert!(
        !a.contains("Hunter2-secret") && !a.contains("k3y-0123456789"),
        "{a}"
    );
    assert!(
        alerts[0]["subject"].as_str().unwrap().contains(&format!(
            "GET http://ops:***@127.0.0.1:{port}/?api_key=*** → connection refused"
        )),
        "{a}"
    );
    let state = std::fs::read_to_string(f.path().join("state.json")).unwrap();
    assert!(!state.contains("Hunter2-secret"), "{state}");
}

// ---------------------------------------------------------------------------------------
// Issue #11: a configuration error silences nothing.

fn job_file(name: &str, script: &str) -> String {
    format!("[[job]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"./{script}\"]\n")
}

#[test]
fn a_tick_with_one_broken_job_file_alerts_once_keeps_the_other_jobs_running_and_tells_the_fix() {
    let f = Fixture::new();
    ok_script(&f);
    f.write("jobs/good.toml", &job_file("good", "ok.sh"));
    f.write("jobs/web.toml", &job_file("web", "ok.sh"));
    f.tick("minute");
    assert_eq!(f.job_state("web")["total_attempts"], 1);
    let web_before = f.job_state("web");

    // A typo in one file: the other file's job keeps running.
    f.write(
        "jobs/web.toml",
        &job_file("web", "ok.sh").replace("command =", "commandd ="),
    );
    let web_file = f.path().join("jobs/web.toml").display().to_string();
    for _ in 0..3 {
        f.tick("minute");
    }
    assert_eq!(
        f.job_state("good")["total_attempts"],
        4,
        "the good file's job ran every tick"
    );
    assert_eq!(
        f.job_state("web"),
        web_before,
        "the broken file's job is skipped, its last state kept as it was"
    );

    // One alert for the one problem, through [defaults] notify, naming file and line.
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "failure");
    assert_eq!(a["job"], format!("job file {web_file}"));
    let message = a["message"].as_str().unwrap();
    assert!(
        message.starts_with("line 4: unknown key `commandd` in [[job]]; did you mean `command`?"),
        "{message}"
    );
    // The problem is an error event in the history, with file, line and message.
    let errors = f.events("error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{web_file}:4: unknown key `commandd`")),
        "{errors:#?}"
    );
    // The state keeps it for peers; peer-status says JobProblem with the detail.
    let problems = f.state()["config_problems"].clone();
    assert_eq!(problems[0]["file"], web_file.as_str());
    assert_eq!(problems[0]["line"], 4);
    let out = f.run(&["peer-status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let ps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ps["status"], "JobProblem");
    assert!(
        ps["detail"]
            .as_str()
            .unwrap()
            .contains("a job file cannot be loaded"),
        "{ps}"
    );
    assert_eq!(ps["config_problems"][0]["line"], 4);

    // status works: the problem first, then the jobs, the broken file's as "config error".
    let text = stdout(&f.run_ok(&["status"], 0));
    let problem_at = text.find("CONFIGURATION PROBLEMS").expect(&text);
    let table_at = text.find("JOB ").expect(&text);
    assert!(problem_at < table_at, "{text}");
    assert!(
        text.contains(&format!("{web_file}:4: unknown key `commandd`")),
        "{text}"
    );
    let web_line = text.lines().find(|l| l.starts_with("web ")).expect(&text);
    assert!(web_line.contains("config error"), "{text}");
    let v: serde_json::Value =
        serde_json::from_slice(&f.run_ok(&["status", "--json"], 0).stdout).unwrap();
    assert_eq!(v["problems"][0]["file"], web_file.as_str());
    assert_eq!(v["problems"][0]["line"], 4);
    let state_of = |job: &str| {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == job)
            .map(|j| j["state"].clone())
    };
    assert_eq!(state_of("web"), Some("config error".into()));
    assert_eq!(state_of("good"), Some("ok".into()));

    // Another problem in its place: the first is told fixed, the new one alerted.
    f.write(
        "jobs/web.toml",
        &job_file("web", "ok.sh").replace("command =", "comand ="),
    );
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    assert_eq!(alerts[1]["kind"], "recovery");
    assert!(alerts[1]["message"]
        .as_str()
        .unwrap()
        .contains("`commandd`"));
    assert_eq!(alerts[2]["kind"], "failure");
    assert!(alerts[2]["message"].as_str().unwrap().contains("`comand`"));

    // Fixed: a recovery notice, the job runs again, peers hear True again.
    f.write("jobs/web.toml", &job_file("web", "ok.sh"));
    f.tick("minute");
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 4, "{alerts:#?}");
    assert_eq!(alerts[3]["kind"], "recovery");
    assert_eq!(alerts[3]["job"], format!("job file {web_file}"));
    assert!(alerts[3]["message"]
        .as_str()
        .unwrap()
        .starts_with("fixed: line 4: "));
    assert_eq!(f.job_state("web")["total_attempts"], 3);
    assert!(f.state().get("config_problems").is_none(), "{}", f.state());
    f.run_ok(&["peer-status"], 0);
    let fixed: Vec<_> = f
        .events("error")
        .into_iter()
        .filter(|e| e["ok"] == true)
        .collect();
    assert_eq!(fixed.len(), 2, "each fix is in the history");
}

#[test]
fn a_tick_whose_settings_do_not_load_logs_where_it_can_and_leaves_the_heartbeat_stale() {
    let f = Fixture::new();
    let syslog = support::Syslog::bind(&f);
    ok_script(&f);
    f.jobs(&job_file("good", "ok.sh"));
    f.tick("minute");
    let heartbeat = f.state()["heartbeat"].clone();
    let tick = |f: &Fixture| {
        let mut c = f.cmd();
        c.env("CHECKER_SYSLOG_SOCKET", &syslog.path);
        c.args(["-c", "minute"]);
        support::output_within(c, 20)
    };

    // A variable cron does not have: the settings do not load. The log they name says so.
    f.write(
        "settings.toml",
        &format!(
            "{}\n[pushover]\ntoken_env = \"CHECKER_TEST_NOT_IN_CRON\"\nuser = \"u\"\n",
            support::BASE_SETTINGS
        ),
    );
    let out = tick(&f);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::stderr(&out).contains("CHECKER_TEST_NOT_IN_CRON is not set"),
        "stderr keeps it too (cron mails it)"
    );
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("configuration has 1 problem")),
        "{log}"
    );
    assert!(log.contains("CHECKER_TEST_NOT_IN_CRON is not set"), "{log}");
    assert_eq!(syslog.received(), Vec::<String>::new());

    // A log file that cannot be written (its place taken by a folder): syslog.
    f.write(
        "settings.toml",
        &format!(
            "{}\n[pushover]\ntoken_env = \"CHECKER_TEST_NOT_IN_CRON\"\nuser = \"u\"\n",
            support::BASE_SETTINGS.replace("file = \"checker.log\"", "file = \"logdir\"")
        ),
    );
    std::fs::create_dir_all(f.path().join("logdir")).unwrap();
    let out = tick(&f);
    assert_eq!(out.status.code(), Some(2));
    let got = syslog.received();
    assert!(
        got.iter()
            .any(|d| d.starts_with("<11>") && d.contains("CHECKER_TEST_NOT_IN_CRON is not set")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|d| d.contains("not in the log file")),
        "{got:?}"
    );

    // Nothing was run or recorded: the heartbeat is as the last good tick left it, so
    // peers see it go stale.
    assert_eq!(f.state()["heartbeat"], heartbeat);
    assert_eq!(f.job_state("good")["total_attempts"], 1);
}

#[test]
fn with_the_built_in_defaults_an_outage_sends_one_alert_after_two_failures_and_one_recovery() {
    let f = Fixture::new();
    // The test settings without their "every failure" override: the built-in defaults.
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS
            .replace("notify_every = \"every\"\n", "")
            .replace("failures_before_notify = 1\n", ""),
    );
    let server = HttpServer::start();
    f.jobs(&http_job(&server.url("/"), ""));
    f.tick("minute");
    server.set_status(503);
    f.tick("minute");
    assert!(f.alerts().is_empty(), "one failure is a blip");
    for _ in 0..5 {
        f.tick("minute");
    }
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "one alert for the incident: {alerts:#?}");
    assert_eq!(alerts[0]["consecutive_failures"], 2);
    server.set_status(200);
    f.tick("minute");
    let kinds: Vec<_> = f.alerts().iter().map(|a| a["kind"].clone()).collect();
    assert_eq!(kinds, vec!["failure", "recovery"]);
}
