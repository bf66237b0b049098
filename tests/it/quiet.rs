//! Quiet on purpose (SPEC §10) through the real binary: `silence`, `silences`,
//! `unsilence` and `ack` with their exit statuses and JSON, maintenance windows and
//! `depends_on` seen through real ticks, what `status`, `validate`, `/status.json` and
//! `/metrics` show, and silences set while ticks run losing nothing.

use std::process::Stdio;

use serde_json::Value;

use crate::support::{self, Fixture};

/// A command job whose script is jobs/NAME.sh, failing until `pass` swaps it.
fn script_job(name: &str, extra: &str) -> String {
    format!(
        "[[job]]\nname = \"{name}\"\nkind = \"command\"\ncommand = [\"./{name}.sh\"]\n{extra}\n"
    )
}

fn failing(f: &Fixture, name: &str) {
    f.script(&format!("jobs/{name}.sh"), support::FAIL_SCRIPT);
}

fn passing(f: &Fixture, name: &str) {
    f.script(&format!("jobs/{name}.sh"), support::OK_SCRIPT);
}

/// (job, kind) of every alert received so far.
fn alerts(f: &Fixture) -> Vec<(String, String)> {
    f.alerts()
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap_or("").to_string(),
                a["kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pair(job: &str, kind: &str) -> (String, String) {
    (job.to_string(), kind.to_string())
}

/// The messages of the history's "suppressed" events, oldest first.
fn held(f: &Fixture) -> Vec<String> {
    f.events("suppressed")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

fn status_row(f: &Fixture, job: &str) -> Value {
    let v = f.test().args(["status", "--json"]).run().json();
    v["jobs"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["job"] == job).cloned())
        .unwrap_or_else(|| panic!("no status row for {job}: {v}"))
}

#[test]
fn a_silence_holds_back_alerts_shows_in_status_and_ends_by_its_id() {
    let f = Fixture::new();
    f.jobs(&[script_job("web", ""), script_job("db", "")].concat());
    failing(&f, "web");
    failing(&f, "db");
    let set = f
        .test()
        .args([
            "silence",
            "web",
            "--for",
            "2h",
            "--reason",
            "reboot of web1",
            "--json",
        ])
        .env("SUDO_USER", "alice")
        .run()
        .json();
    let id = set["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with("s-") && id.len() == 10, "{set}");
    assert_eq!(
        (
            &set["state"],
            &set["jobs"],
            &set["all"],
            &set["who"],
            &set["reason"]
        ),
        (
            &Value::from("active"),
            &serde_json::json!(["web"]),
            &Value::from(false),
            &Value::from("alice"),
            &Value::from("reboot of web1")
        )
    );
    let listed = f.test().args(["silences", "--json"]).run().json();
    assert_eq!(listed["silences"][0]["id"], id.as_str());
    f.test()
        .args(["silences"])
        .stdout_contains(&id)
        .stdout_contains("reboot of web1")
        .stdout_contains("alice")
        .run();

    f.tick("minute");
    assert_eq!(alerts(&f), [pair("db", "failure")], "web is silenced");
    assert_eq!(
        held(&f),
        [format!(
            "failure alert held back (silence {id}): CRITICAL - broken"
        )]
    );
    assert_eq!(
        f.events("result").len(),
        2,
        "both checks ran and are recorded"
    );
    let row = status_row(&f, "web");
    assert_eq!(row["state"], "failing");
    assert!(row["silenced_until"].is_string(), "{row}");
    assert_eq!(row["acknowledged"], false);
    assert_eq!(
        row["suppressed_by"],
        serde_json::json!([format!("silence {id}")])
    );
    assert_eq!(status_row(&f, "db")["silenced_until"], Value::Null);
    f.test()
        .args(["status"])
        .stdout_contains("quiet on purpose")
        .stdout_contains(format!("suppressed by silence {id}"))
        .run();
    // The peer word is not changed by any of it.
    f.test().args(["peer-status"]).stdout("True\n").run();

    f.test()
        .args(["unsilence", &id])
        .stdout(format!("ended {id}\n"))
        .run();
    f.tick("minute");
    let mut second = alerts(&f).split_off(1);
    second.sort();
    assert_eq!(second, [pair("db", "failure"), pair("web", "failure")]);
    let silence_events = f.events("silence");
    assert_eq!(silence_events.len(), 2, "set and ended");
    assert!(silence_events[1]["message"]
        .as_str()
        .unwrap_or("")
        .starts_with(&format!("silence {id} ended by")));
}

#[test]
fn bad_silence_input_is_exit_2_with_a_clear_message_and_writes_nothing() {
    let f = Fixture::new();
    f.jobs(&script_job("web", ""));
    let cases: &[(&[&str], &str)] = &[
        (
            &["silence", "wbe", "--for", "1h"],
            "unknown job \"wbe\"; did you mean \"web\"?",
        ),
        (
            &["silence", "web", "--for", "0s"],
            "a silence must last more than 0s",
        ),
        (
            &["silence", "web", "--for", "-5m"],
            "cannot last a negative time",
        ),
        (
            &["silence", "web", "--for", "soon"],
            "\"soon\" is not a duration",
        ),
        (
            &["silence", "web", "--until", "2020-01-01 10:00"],
            "that is in the past",
        ),
        (&["silence", "web", "--until", "2h"], "give a time"),
        (
            &["silence", "--match", "db-*", "--for", "1h"],
            "--match \"db-*\" matches no job",
        ),
        (&["silence", "--for", "1h"], "say what to silence"),
        (&["silence", "web"], "say for how long"),
        (
            &["silence", "web", "--all", "--for", "1h"],
            "cannot be used with",
        ),
        (
            &["unsilence", "s-00000000"],
            "unknown silence id \"s-00000000\"",
        ),
        (&["unsilence", "nosuchjob"], "unknown job \"nosuchjob\""),
        (&["unsilence"], "say what to end"),
        (
            &["ack", "web"],
            "job \"web\" is not failing (it is pending)",
        ),
        (&["ack", "nosuchjob"], "unknown job \"nosuchjob\""),
    ];
    for (args, message) in cases {
        f.test()
            .args(*args)
            .status(2)
            .stderr_contains(*message)
            .run();
    }
    assert!(!f.path().join("state.json").exists(), "nothing was written");
    assert!(f.history().is_empty());
}

#[test]
fn an_ack_ends_the_reminders_of_its_streak_the_recovery_is_told_and_the_next_streak_alerts() {
    let f = Fixture::new();
    f.jobs(&script_job("web", ""));
    failing(&f, "web");
    f.tick("minute");
    assert_eq!(alerts(&f), [pair("web", "failure")]);
    f.test()
        .args(["ack", "web", "--comment", "on it"])
        .env("SUDO_USER", "bob")
        .stdout_contains("acknowledged web")
        .run();
    let acks = f.events("ack");
    assert_eq!(acks.len(), 1);
    let text = acks[0]["message"].as_str().unwrap_or("");
    assert!(
        text.starts_with("acknowledged by bob") && text.ends_with(": on it"),
        "{text}"
    );
    assert_eq!(status_row(&f, "web")["acknowledged"], true);
    f.tick("minute");
    f.tick("minute");
    assert_eq!(alerts(&f).len(), 1, "no reminders (notify_every = every)");
    assert_eq!(
        held(&f),
        ["failure alert held back (acknowledged): CRITICAL - broken"; 2]
    );
    passing(&f, "web");
    f.tick("minute");
    assert_eq!(
        alerts(&f),
        [pair("web", "failure"), pair("web", "recovery")]
    );
    assert_eq!(status_row(&f, "web")["acknowledged"], false);
    f.test()
        .args(["ack", "web"])
        .status(2)
        .stderr_contains("is not failing (it is ok)")
        .run();
    failing(&f, "web");
    f.tick("minute");
    assert_eq!(alerts(&f).len(), 3, "the new streak is not acknowledged");
    assert_eq!(alerts(&f)[2], pair("web", "failure"));
}

#[test]
fn a_child_is_quiet_while_its_parent_fails_and_alerts_once_the_parent_recovers() {
    let f = Fixture::new();
    // Children written before their parents: a run records parents first all the same.
    f.jobs(
        &[
            script_job("shop", "depends_on = [\"internet link\", \"peer backup\"]\nnotify_every = \"state_change\""),
            script_job("internet link", "notify_every = \"state_change\""),
        ]
        .concat(),
    );
    f.settings(&format!(
        "{}\n[[peers]]\nname = \"backup\"\nurl = \"http://127.0.0.1:{}/\"\nfrequency = \"minute\"\nnotify = []\n",
        support::BASE_SETTINGS,
        support::net::closed_port()
    ));
    f.script("jobs/internet link.sh", support::FAIL_SCRIPT);
    failing(&f, "shop");
    f.tick("minute");
    assert_eq!(alerts(&f), [pair("internet link", "failure")]);
    let h = held(&f);
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(
        h[0].starts_with("failure alert held back (parent \"internet link\" failing)"),
        "{h:?}"
    );
    assert_eq!(
        status_row(&f, "shop")["suppressed_by"],
        serde_json::json!([
            "parent \"internet link\" failing",
            "parent \"peer backup\" failing"
        ])
    );

    // The link comes back; the peer (a parent too) still fails: the shop stays quiet.
    f.script("jobs/internet link.sh", support::OK_SCRIPT);
    f.tick("minute");
    assert_eq!(
        alerts(&f),
        [
            pair("internet link", "failure"),
            pair("internet link", "recovery")
        ]
    );
    assert!(
        held(&f)[1].contains("(parent \"peer backup\" failing)"),
        "{:?}",
        held(&f)
    );

    // Without the peer as a parent, the shop alerts at its next failing check.
    f.jobs(
        &[
            script_job(
                "shop",
                "depends_on = [\"internet link\"]\nnotify_every = \"state_change\"",
            ),
            script_job("internet link", "notify_every = \"state_change\""),
        ]
        .concat(),
    );
    f.tick("minute");
    assert_eq!(alerts(&f)[2], pair("shop", "failure"));
    f.test()
        .args(["validate"])
        .stdout_contains("\"shop\" is quiet while any of these fails: \"internet link\"")
        .run();
}

#[test]
fn validate_rejects_a_cycle_with_its_path_and_prints_each_windows_next_start_and_end() {
    let f = Fixture::new();
    f.jobs(
        &[
            script_job("a", "depends_on = [\"b\"]"),
            script_job("b", "depends_on = [\"a\"]"),
        ]
        .concat(),
    );
    f.test()
        .args(["validate"])
        .status(2)
        .stderr_contains("jobs.toml:1: job \"a\": `depends_on` makes a cycle: a -> b -> a")
        .run();

    f.jobs(&script_job("a", ""));
    passing(&f, "a");
    f.settings(&format!(
        "{}\n[[maintenance]]\nname = \"nightly\"\nstart = \"02:30\"\nduration = \"1h\"\ntimezone = \"Europe/Berlin\"\n",
        support::BASE_SETTINGS
    ));
    let out = f.test().args(["validate"]).run().stdout();
    let line = out
        .lines()
        .find(|l| l.contains("maintenance \"nightly\""))
        .unwrap_or_else(|| panic!("no window in {out}"));
    // "next from 2026-03-02 02:30 CET = 01:30 UTC to 2026-03-02 03:30 CET = 02:30 UTC"
    assert!(
        line.contains("(all jobs), 02:30 every day, for 1h (Europe/Berlin): next from ")
            && line.contains(" UTC to ")
            && line.ends_with(" UTC"),
        "{line}"
    );

    f.settings(&format!(
        "{}\n[[maintenance]]\nname = \"bad\"\ncron = \"61 * * * *\"\nduration = \"1h\"\n",
        support::BASE_SETTINGS
    ));
    let lines = support::BASE_SETTINGS.lines().count() + 4;
    f.test()
        .args(["validate"])
        .status(2)
        .stderr_contains(format!(
            "settings.toml:{lines}: [[maintenance]] \"bad\": `cron`: minute 61 is out of range"
        ))
        .run();
}

#[test]
fn an_open_maintenance_window_holds_back_alerts_and_shows_in_status_json_and_metrics() {
    let f = Fixture::new();
    f.jobs(&[script_job("web-1", ""), script_job("db", "")].concat());
    failing(&f, "web-1");
    failing(&f, "db");
    // Starts every minute, lasts an hour: open whenever the test runs.
    f.settings(&format!(
        "{}\n[[maintenance]]\nname = \"deploy\"\njobs = [\"web-*\"]\ncron = \"* * * * *\"\nduration = \"1h\"\n",
        support::BASE_SETTINGS
    ));
    f.tick("minute");
    assert_eq!(alerts(&f), [pair("db", "failure")]);
    assert_eq!(
        held(&f),
        ["failure alert held back (maintenance \"deploy\"): CRITICAL - broken"]
    );
    let listed = f.test().args(["silences", "--json"]).run().json();
    assert_eq!(listed["maintenance"][0]["name"], "deploy");
    assert_eq!(listed["maintenance"][0]["active"], true);

    let s = support::peers::serve(&f);
    let (code, body) = support::http::get(s.port, "/status.json", &[]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "True", "the peer word is unchanged");
    assert_eq!(v["quiet"]["maintenance"][0]["name"], "deploy");
    assert_eq!(v["quiet"]["jobs"][0]["job"], "web-1");
    assert_eq!(
        v["quiet"]["jobs"][0]["suppressed_by"],
        serde_json::json!(["maintenance \"deploy\""])
    );
    let (_, metrics) = support::http::get(s.port, "/metrics", &[]);
    assert!(
        metrics.contains("checker_job_silenced{job=\"web-1\",kind=\"command\"} 1")
            && metrics.contains("checker_job_silenced{job=\"db\",kind=\"command\"} 0"),
        "{metrics}"
    );
}

#[test]
fn a_silence_expiring_mid_streak_lets_the_alert_out_at_the_next_failing_check() {
    let f = Fixture::new();
    f.jobs(&script_job("web", "notify_every = \"state_change\""));
    failing(&f, "web");
    let id = f
        .test()
        .args(["silence", "--all", "--for", "10m"])
        .run()
        .stdout()
        .trim()
        .to_string();
    f.tick("minute");
    f.tick("minute");
    assert!(alerts(&f).is_empty());
    assert_eq!(held(&f).len(), 1, "state_change holds back one alert");
    // Eleven minutes pass: the silence is over.
    f.age_state(std::time::Duration::from_secs(11 * 60));
    f.tick("minute");
    assert_eq!(alerts(&f), [pair("web", "failure")]);
    let over: Vec<String> = f
        .events("silence")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        over.iter()
            .any(|m| m.starts_with(&format!("silence {id} is over"))),
        "{over:?}"
    );
    assert!(
        f.state().get("silences").is_none(),
        "dropped from the state"
    );
    f.test()
        .args(["silences"])
        .stdout_contains("no silences")
        .run();
}

#[test]
fn unsilencing_a_job_takes_it_out_of_the_silences_naming_it_and_all_ends_every_one() {
    let f = Fixture::new();
    f.jobs(&[script_job("web", ""), script_job("db", "")].concat());
    let both = f
        .test()
        .args(["silence", "web", "db", "--for", "1h"])
        .run()
        .stdout();
    let glob = f
        .test()
        .args(["silence", "--match", "w*", "--for", "1h"])
        .run()
        .stdout();
    let (both, glob) = (both.trim(), glob.trim());
    f.test()
        .args(["unsilence", "web"])
        .stdout(format!("took web out of {both}\n"))
        .stderr_contains(format!(
            "web is still silenced by {glob} (jobs matching w*)"
        ))
        .run();
    f.test()
        .args(["unsilence", "web"])
        .status(2)
        .stderr_contains(format!("job \"web\" is silenced by {glob}"))
        .run();
    let v = f.test().args(["unsilence", "--all", "--json"]).run().json();
    let mut ended: Vec<&str> = v["ended"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ended.sort_unstable();
    let mut want = vec![both, glob];
    want.sort_unstable();
    assert_eq!(ended, want);
    f.test()
        .args(["unsilence", "--all"])
        .stderr_contains("no silences to end")
        .run();
}

#[test]
fn concurrent_silence_calls_during_ticks_lose_nothing() {
    let f = Fixture::new();
    let jobs: String = (0..6).map(|i| script_job(&format!("j{i}"), "")).collect();
    f.jobs(&jobs);
    for i in 0..6 {
        failing(&f, &format!("j{i}"));
    }
    let spawn = |args: &[&str]| {
        let mut c = f.cmd();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("start checker")
    };
    let mut children = Vec::new();
    for round in 0..3 {
        children.push(("tick".to_string(), spawn(&["-c", "minute"])));
        for i in 0..4 {
            let job = format!("j{}", (round * 4 + i) % 6);
            let reason = format!("round {round} call {i}");
            children.push((
                "silence".to_string(),
                spawn(&["silence", &job, "--for", "1h", "--reason", &reason]),
            ));
        }
    }
    let mut ids = Vec::new();
    for (what, child) in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{what}: {}", support::stderr(&out));
        if what == "silence" {
            ids.push(support::stdout(&out).trim().to_string());
        }
    }
    assert_eq!(ids.len(), 12);
    let listed = f.test().args(["silences", "--json"]).run().json();
    let mut kept: Vec<String> = listed["silences"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    kept.sort();
    ids.sort();
    assert_eq!(kept, ids, "every silence set is kept");
    assert_eq!(
        f.job_state("j0")["total_attempts"],
        3,
        "and every tick's results"
    );
}
