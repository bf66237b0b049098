//! Digests end to end (`digest = true`): the alerts of one tick through a channel as one
//! message, failures first, the subject counting them, through real webhook receivers
//! and the real test mail server; one history event per job all the same; a failed
//! digest retried as one; `test-notify --digest`; templates that cannot render a digest.

use serde_json::Value;

use crate::support::mail::{body_text, Mailbox};
use crate::support::receiver::{Receiver, Service};
use crate::support::Fixture;

/// The five jobs of every test, in configuration order.
const JOBS: [&str; 5] = ["web", "db", "cache", "queue", "backup"];

/// A job passes unless `down/<name>` exists.
const CHECK: &str = "#!/bin/sh\nif [ -e \"$(dirname \"$0\")/down/$1\" ]; then echo \"CRITICAL - $1 is down\"; exit 2; fi\necho \"OK - $1 is up\"\n";

/// Settings with `channels`, `[defaults] notify` and one alert per failure streak.
fn settings(channels: &str, notify: &[&str]) -> String {
    let notify: Vec<String> = notify.iter().map(|n| format!("{n:?}")).collect();
    format!(
        r#"[general]
servername = "testbox"
alertcontact = "ops@example.com"
state_file = "state.json"
jobs_dir = "jobs"
history_dir = "history"
delivery_retry = "1s"

[logging]
file = "checker.log"
file_level = "debug"
stderr_level = "warn"

[defaults]
notify = [{}]
notify_every = "state_change"
failures_before_notify = 1

{channels}
"#,
        notify.join(", ")
    )
}

/// A fixture with `settings` and the five jobs, all passing.
fn fixture(settings: &str) -> Fixture {
    let f = Fixture::new();
    f.write("settings.toml", settings);
    f.script("jobs/check.sh", CHECK);
    let jobs: String = JOBS
        .iter()
        .map(|j| {
            format!("[[job]]\nname = \"{j}\"\nkind = \"command\"\ncommand = [\"./check.sh\", \"{j}\"]\n")
        })
        .collect();
    f.jobs(&jobs);
    f
}

fn down(f: &Fixture, job: &str) {
    f.write(&format!("jobs/down/{job}"), "");
}

fn up(f: &Fixture, job: &str) {
    std::fs::remove_file(f.path().join(format!("jobs/down/{job}"))).expect("was down");
}

/// "backup" fails alone (one alert); then, in one tick, the four others fail and
/// "backup" recovers.
fn four_fail_and_one_recovers(f: &Fixture, first_tick_done: impl FnOnce()) {
    down(f, "backup");
    f.tick("minute");
    first_tick_done();
    for job in &JOBS[..4] {
        down(f, job);
    }
    up(f, "backup");
    f.tick("minute");
}

/// The target of a job's alert: its command line.
fn target(f: &Fixture, job: &str) -> String {
    format!("{} {job}", f.path().join("jobs/check.sh").display())
}

/// The digest line of a failing job.
fn failing_line(f: &Fixture, job: &str) -> String {
    format!(
        "- {job} — {} → CRITICAL - {job} is down (expected OK, exit 0); failing for",
        target(f, job)
    )
}

/// The history's delivery events (notify, recover) through `channel`, oldest first.
fn deliveries(f: &Fixture, channel: &str) -> Vec<Value> {
    f.history()
        .into_iter()
        .filter(|e| e["channel"] == channel && (e["event"] == "notify" || e["event"] == "recover"))
        .collect()
}

/// Asserts the history has, for the digest of the second tick, one delivered event per
/// job through `channel`, each saying it went in one digest of five.
fn one_event_per_job(f: &Fixture, channel: &str) {
    let in_digest: Vec<Value> = deliveries(f, channel)
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("(in one digest of 5 alerts)"))
        })
        .collect();
    let mut got: Vec<(String, String, bool)> = in_digest
        .iter()
        .map(|e| {
            (
                e["job"].as_str().unwrap_or("").to_string(),
                e["event"].as_str().unwrap_or("").to_string(),
                e["ok"] == true,
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, bool)> = JOBS
        .iter()
        .map(|j| {
            let event = if *j == "backup" { "recover" } else { "notify" };
            (j.to_string(), event.to_string(), true)
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "{in_digest:#?}");
}

fn index(text: &str, part: &str) -> usize {
    text.find(part)
        .unwrap_or_else(|| panic!("{part:?} is not in:\n{text}"))
}

#[test]
fn four_failures_and_a_recovery_in_one_tick_are_one_webhook_message_failures_first() {
    let g = Receiver::start(Service::Generic);
    let s = Receiver::start(Service::Slack);
    let f = fixture(&settings(
        &format!(
            "[[webhooks]]\nname = \"api\"\nformat = \"generic\"\nurl = \"{}\"\ndigest = true\n\n\
             [[webhooks]]\nname = \"chat\"\nformat = \"slack\"\nurl = \"{}\"\ndigest = true\n",
            g.url("/hooks/checker"),
            s.url("/services/T0/B0/x")
        ),
        &["api", "chat"],
    ));
    four_fail_and_one_recovers(&f, || {
        // One alert: the chat gets it as itself, the program the digest's one shape.
        assert_eq!((g.count(), s.count()), (1, 1));
        let v = g.last().json();
        assert_eq!(
            (v["kind"].as_str(), v["failing"].as_u64()),
            (Some("digest"), Some(1))
        );
        assert_eq!(v["alerts"][0]["job"], "backup");
        let text = s.last().json()["text"].as_str().unwrap_or("").to_string();
        assert!(text.starts_with("*[testbox] FAILED: backup — "), "{text}");
    });
    assert_eq!(
        (g.count(), s.count()),
        (2, 2),
        "one message per channel for the tick"
    );
    for r in [&g, &s] {
        assert!(r.violations().is_empty(), "{:?}", r.violations());
    }

    let v = g.last().json();
    assert_eq!(v["subject"], "[testbox] 4 failing, 1 recovered");
    assert_eq!(
        (v["failing"].as_u64(), v["recovered"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(v["status"], "failing");
    let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
    let order: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap_or(""),
                a["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("web", "failure"),
            ("db", "failure"),
            ("cache", "failure"),
            ("queue", "failure"),
            ("backup", "recovery")
        ],
        "failures first, each kind in the order decided"
    );
    for a in &alerts {
        let job = a["job"].as_str().unwrap_or("");
        assert_eq!(a["target"], target(&f, job));
        let state = if job == "backup" { "up" } else { "down" };
        assert_eq!(
            a["message"],
            format!(
                "{} - {job} is {state}",
                if job == "backup" { "OK" } else { "CRITICAL" }
            )
        );
    }
    let body = v["body"].as_str().unwrap_or("");
    assert!(
        index(body, "FAILING (4)") < index(body, "RECOVERED (1)"),
        "{body}"
    );

    // The chat's text: the counts in bold, then a line per job, failures first.
    let text = s.last().json()["text"].as_str().unwrap_or("").to_string();
    assert!(
        text.starts_with("*[testbox] 4 failing, 1 recovered*\n```\n"),
        "{text}"
    );
    let positions: Vec<usize> = JOBS[..4]
        .iter()
        .map(|j| index(&text, &failing_line(&f, j)))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let recovered = format!(
        "- backup — {} → OK - backup is up; was failing for",
        target(&f, "backup")
    );
    assert!(positions[3] < index(&text, &recovered), "{text}");

    for channel in ["api", "chat"] {
        one_event_per_job(&f, channel);
    }
}

/// Settings with email on, pointing at `m`, digests on for it.
fn mail_settings(m: &Mailbox) -> String {
    settings(
        &format!(
            r#"[email]
enabled = true
from = "{user}"
user = "{user}"
password = "{password}"
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_security = "starttls"
ca_file = {ca:?}
self_check = "never"
timeout = "10s"
digest = true
"#,
            user = m.user,
            password = m.password,
            port = m.smtp_port_starttls,
            ca = m.ca_file.display().to_string(),
        ),
        &["email"],
    )
    .replace(
        "alertcontact = \"ops@example.com\"",
        &format!("alertcontact = \"{}\"", m.address("ops")),
    )
}

/// The Subject header of a raw message.
fn subject(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_else(|| panic!("no subject in:\n{message}"))
        .trim()
        .to_string()
}

#[test]
fn four_failures_and_a_recovery_in_one_tick_are_one_email_through_the_real_mail_server() {
    let m = Mailbox::new();
    let f = fixture(&mail_settings(&m));
    four_fail_and_one_recovers(&f, || {
        // One alert: sent as itself, with all its detail.
        let first = m.wait_for_messages(1, std::time::Duration::from_secs(10));
        let body = body_text(&first[0]);
        assert!(
            body.starts_with("Job backup on testbox is failing."),
            "{body}"
        );
    });
    let messages = m.wait_for_messages(2, std::time::Duration::from_secs(10));
    assert_eq!(
        m.quiet_messages().len(),
        2,
        "one email for the tick's five alerts"
    );
    let digest = &messages[1];
    assert_eq!(subject(digest), "[testbox] 4 failing, 1 recovered");
    let body = body_text(digest);
    assert!(
        body.starts_with("checker on testbox: 4 failing, 1 recovered (decided "),
        "{body}"
    );
    let failing = index(&body, "FAILING (4)");
    let positions: Vec<usize> = JOBS[..4]
        .iter()
        .map(|j| index(&body, &failing_line(&f, j)))
        .collect();
    assert!(failing < positions[0], "{body}");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{body}");
    let recovered = index(&body, "RECOVERED (1)");
    assert!(positions[3] < recovered, "{body}");
    let backup = format!(
        "- backup — {} → OK - backup is up; was failing for",
        target(&f, "backup")
    );
    assert!(recovered < index(&body, &backup), "{body}");
    one_event_per_job(&f, "email");
}

#[test]
fn a_digest_that_fails_is_retried_as_one_message_without_the_failure_of_a_job_that_recovered() {
    let g = Receiver::start(Service::Generic);
    let f = fixture(&settings(
        &format!(
            "[[webhooks]]\nname = \"api\"\nformat = \"generic\"\nurl = \"{}\"\ndigest = true\n",
            g.url("/hooks/checker")
        ),
        &["api"],
    ));
    g.force(503, "{\"error\": \"busy\"}");
    for job in ["web", "db", "cache"] {
        down(&f, job);
    }
    f.tick("minute");
    assert_eq!(g.count(), 1, "one attempt for the three");
    let queued = f.state()["outbox"].as_array().cloned().unwrap_or_default();
    assert_eq!(queued.len(), 3, "each alert keeps its own row");
    assert!(queued.iter().all(|e| e["attempts"] == 1));
    let failed: Vec<Value> = deliveries(&f, "api");
    assert_eq!(failed.len(), 3, "{failed:#?}");
    assert!(failed.iter().all(|e| e["ok"] == false
        && e["message"].as_str().is_some_and(
            |m| m.contains("attempt 1 failed") && m.ends_with("(in one digest of 3 alerts)")
        )));

    // "db" recovers before the retry: its failure is dropped, its recovery joins.
    up(&f, "db");
    g.unforce();
    f.age_to_next_retry();
    f.tick("minute");
    assert_eq!(g.count(), 2);
    let v = g.last().json();
    assert_eq!(v["subject"], "[testbox] 2 failing, 1 recovered");
    let order: Vec<(&str, &str)> = v["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| {
                    (
                        a["job"].as_str().unwrap_or(""),
                        a["kind"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        order,
        [("web", "failure"), ("cache", "failure"), ("db", "recovery")]
    );
    let superseded = f.events("superseded");
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0]["job"], "db");
    assert_eq!(f.state()["outbox"], serde_json::json!([]));
}

#[test]
fn test_notify_digest_sends_a_sample_digest_through_each_channel() {
    let g = Receiver::start(Service::Generic);
    let f = fixture(&settings(
        &format!(
            "[[webhooks]]\nname = \"api\"\nformat = \"generic\"\nurl = \"{}\"\n\n\
             [[commands]]\nname = \"capture\"\ncommand = [\"./capture.sh\"]\n",
            g.url("/hooks/checker")
        ),
        &["api"],
    ));
    f.test()
        .args(["test-notify", "--digest"])
        .stdout_contains("api      delivered (a sample digest)\n")
        .stdout_contains("capture  delivered (a sample digest)\n")
        .run();
    assert!(g.violations().is_empty(), "{:?}", g.violations());
    let v = g.last().json();
    assert_eq!(
        v["subject"],
        "[testbox] 2 failing, 1 recovered (a sample digest from test-notify)"
    );
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(3));
    let captured = f.alerts();
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0]["kind"], "digest");
    assert_eq!(
        (
            captured[0]["failing"].as_u64(),
            captured[0]["recovered"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let mut events: Vec<(String, String)> = f
        .events("notify")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (text("channel"), text("message"))
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("api".into(), "sample digest delivered".into()),
            ("capture".into(), "sample digest delivered".into()),
            (
                "email".into(),
                "sample digest recorded, not sent (email off)".into()
            )
        ]
    );
}

#[test]
fn a_template_that_cannot_render_a_digest_is_a_validate_error_only_where_digests_are_on() {
    let hook = |name: &str, digest: bool| {
        format!(
            "[[webhooks]]\nname = \"{name}\"\nformat = \"slack\"\nurl = \"https://hooks.example.com/{name}\"\ndigest = {digest}\ntitle_template = \"{{{{ job }}}} is {{{{ status }}}}\"\n\n"
        )
    };
    let f = fixture(&settings(
        &format!("{}{}", hook("per-alert", false), hook("digests", true)),
        &["per-alert"],
    ));
    let out = f.test().args(["validate"]).status(2).run();
    let err = out.stderr();
    assert!(
        err.contains(
            "[[webhooks]] \"digests\": `title_template`: cannot render a digest (digest = true): "
        ),
        "{err}"
    );
    assert!(!err.contains("\"per-alert\""), "{err}");
    // A template that tells the two apart passes.
    let both = "title_template = \"{% if kind == 'digest' %}{{ failing }} failing{% else %}{{ job }} is {{ status }}{% endif %}\"";
    f.write(
        "settings.toml",
        &settings(
            &hook("digests", true).replace("title_template = \"{{ job }} is {{ status }}\"", both),
            &["digests"],
        ),
    );
    f.test().args(["validate"]).run();
}
