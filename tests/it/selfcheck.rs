//! Email that proves itself, end to end through the binary against real postfix and
//! dovecot: the IMAP round trip, mail health, fallback channels while mail is broken,
//! the outbox across an SMTP outage, recipients, and `test-notify`. Each test has a
//! mailbox of its own on the servers the run shares; those that stop SMTP start servers
//! of their own.

use std::time::{Duration, Instant};

use crate::support::mail::{MailServer, Mailbox};
use crate::support::{self, stdout, Fixture};

#[derive(Clone, Copy)]
enum Imap {
    Tls,
    StartTls,
    Plain,
}

struct Opts {
    imap: Imap,
    imap_password: String,
    ca: bool,
    accept_invalid: bool,
    self_check: &'static str,
}

impl Opts {
    fn new(m: &Mailbox) -> Self {
        Opts {
            imap: Imap::Tls,
            imap_password: m.password.clone(),
            ca: true,
            accept_invalid: false,
            self_check: "hour",
        }
    }
}

/// A fixture whose alerts go by email to `m` (and to `capture`), the self-check off.
fn mail_fixture(m: &Mailbox) -> Fixture {
    let f = Fixture::new();
    let mut o = Opts::new(m);
    o.self_check = "never";
    f.write("settings.toml", &settings(m, &o, false));
    f
}

/// Settings with email on, pointing at `m`; the `capture` command channel stays as the
/// other channel (see support/mod.rs).
fn settings(m: &Mailbox, o: &Opts, smtp_plain: bool) -> String {
    let (imap_port, imap_security) = match o.imap {
        Imap::Tls => (m.imap_port_tls, "tls"),
        Imap::StartTls => (m.imap_port_starttls, "starttls"),
        Imap::Plain => (m.imap_port_starttls, "none"),
    };
    let (smtp_port, smtp_security) = if smtp_plain {
        (m.smtp_port_plain, "none")
    } else {
        (m.smtp_port_starttls, "starttls")
    };
    let ca = if o.ca {
        format!("ca_file = {:?}\n", m.ca_file.display().to_string())
    } else {
        String::new()
    };
    // The self-check logs in with the same password as SMTP; a wrong IMAP password is
    // simulated by a wrong password for both only where the test wants it.
    format!(
        r#"
[general]
servername = "testbox"
alertcontact = "{ops}"
state_file = "state.json"
jobs_dir = "jobs"
history_dir = "history"
delivery_retry = "1s"

[logging]
file = "checker.log"
file_level = "debug"

[email]
enabled = true
from = "{user}"
user = "{user}"
password = "{smtp_password}"
imap_password = "{password}"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "{smtp_security}"
imap_host = "127.0.0.1"
imap_port = {imap_port}
imap_security = "{imap_security}"
self_check = "{self_check}"
self_check_wait = "10s"
timeout = "5s"
accept_invalid_certs = {accept_invalid}
{ca}
[defaults]
notify = ["email"]
# Every failure alerts (the tests count alerts), not the quiet built-in defaults.
notify_every = "every"
failures_before_notify = 1

{capture}"#,
        capture = support::CAPTURE_CHANNEL,
        user = m.user,
        ops = m.address("ops"),
        smtp_password = m.password,
        password = o.imap_password,
        self_check = o.self_check,
        accept_invalid = o.accept_invalid,
    )
}

fn probes(m: &Mailbox) -> usize {
    m.messages()
        .iter()
        .filter(|msg| msg.contains("checker self-check"))
        .count()
}

fn self_check_events(f: &Fixture) -> Vec<serde_json::Value> {
    f.history()
        .into_iter()
        .filter(|e| e["job"] == "email self-check")
        .collect()
}

#[test]
fn the_self_check_runs_on_its_own_schedule_round_trips_and_leaves_no_probe() {
    let m = Mailbox::new();
    let f = Fixture::new();
    f.write("settings.toml", &settings(&m, &Opts::new(&m), false));
    f.tick("minute");
    assert!(
        f.state()["mail"]["last_self_check"].is_null(),
        "minute ticks do not run an hourly self-check"
    );
    let start = Instant::now();
    f.tick("hour");
    let took = start.elapsed();
    let mail = f.state()["mail"].clone();
    assert_eq!(mail["ok"], true, "{mail}");
    assert!(mail["checked_at"].is_string());
    let events = self_check_events(&f);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["ok"], true);
    eprintln!(
        "self-check round trip: {} (whole hour tick {} ms)",
        events[0]["message"],
        took.as_millis()
    );
    assert_eq!(probes(&m), 0, "the probe is deleted once found");
    // Minute ticks in between do not run it; the next hour tick does.
    f.tick("minute");
    assert_eq!(self_check_events(&f).len(), 1);
    f.tick("hour");
    assert_eq!(self_check_events(&f).len(), 2);
    // status and peer-status show mail health.
    let status = stdout(&f.run_ok(&["status"], 0));
    assert!(status.contains("mail: ok"), "{status}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&f.run_ok(&["status", "--json"], 0))).unwrap();
    assert_eq!(v["mail"]["ok"], true);
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&f.run_ok(&["peer-status", "--json"], 0))).unwrap();
    assert_eq!(v["mail_ok"], true);
    assert_eq!(v["status"], "True");
}

#[test]
fn self_check_never_turns_it_off() {
    let m = Mailbox::new();
    let f = mail_fixture(&m);
    f.tick("day");
    assert!(self_check_events(&f).is_empty());
    assert!(m.messages().is_empty());
}

#[test]
fn imap_with_starttls_implicit_tls_and_no_tls_all_find_the_probe() {
    let m = Mailbox::new();
    for imap in [Imap::StartTls, Imap::Tls, Imap::Plain] {
        let f = Fixture::new();
        let mut o = Opts::new(&m);
        o.imap = imap;
        f.write("settings.toml", &settings(&m, &o, false));
        f.tick("hour");
        let events = self_check_events(&f);
        assert_eq!(events[0]["ok"], true, "{events:?}");
    }
    assert_eq!(probes(&m), 0);
}

#[test]
fn a_self_signed_imap_server_is_refused_without_ca_file_unless_invalid_certs_are_accepted() {
    let m = Mailbox::new();
    let f = Fixture::new();
    let mut o = Opts::new(&m);
    o.ca = false;
    // SMTP without TLS, so only IMAP meets the certificate.
    f.write("settings.toml", &settings(&m, &o, true));
    f.tick("hour");
    let mail = f.state()["mail"].clone();
    assert_eq!(mail["ok"], false);
    let err = mail["last_error"].as_str().unwrap();
    assert!(
        err.contains("IMAP") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
    let f = Fixture::new();
    o.accept_invalid = true;
    f.write("settings.toml", &settings(&m, &o, true));
    f.tick("hour");
    assert_eq!(f.state()["mail"]["ok"], true);
}

#[test]
fn a_wrong_imap_password_makes_mail_unhealthy_tells_the_other_channels_and_recovers() {
    let m = Mailbox::new();
    let f = Fixture::new();
    let mut o = Opts::new(&m);
    // SMTP keeps the right password: only the IMAP login fails.
    o.imap_password = format!("{}-wrong", m.password);
    f.write("settings.toml", &settings(&m, &o, false));
    f.tick("hour");
    let mail = f.state()["mail"].clone();
    assert_eq!(mail["ok"], false);
    let err = mail["last_error"].as_str().unwrap().to_string();
    assert!(
        err.contains("IMAP login") && !err.contains("SMTP"),
        "the error says it is IMAP: {err}"
    );
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 1)).trim(), "MailProblem");
    let status = stdout(&f.run_ok(&["status"], 0));
    assert!(status.contains("mail: FAILING"), "{status}");
    // The other channel is told that mail is broken.
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["job"], "email self-check");
    assert_eq!(alerts[0]["kind"], "failure");
    assert_eq!(
        probes(&m),
        1,
        "the failed run's probe was sent but could not be found"
    );
    // Mended: healthy again, and the recovery is told.
    o.imap_password = m.password.clone();
    f.write("settings.toml", &settings(&m, &o, false));
    let mut state = f.state();
    state["mail"]["last_self_check"] = serde_json::Value::Null;
    f.write("state.json", &state.to_string());
    f.tick("hour");
    assert_eq!(f.state()["mail"]["ok"], true);
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 0)).trim(), "True");
    let alerts = f.alerts();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["kind"], "recovery");
    assert_eq!(
        probes(&m),
        0,
        "the found probe and the older one the failed run left are deleted"
    );
}

#[test]
fn a_missing_imap_mailbox_is_named_as_such() {
    let m = Mailbox::new();
    let f = Fixture::new();
    let o = Opts::new(&m);
    let text = settings(&m, &o, false).replace(
        "self_check_wait = \"10s\"",
        "self_check_wait = \"10s\"\nimap_mailbox = \"NoSuchBox\"",
    );
    f.write("settings.toml", &text);
    f.tick("hour");
    let mail = f.state()["mail"].clone();
    assert_eq!(mail["ok"], false);
    let err = mail["last_error"].as_str().unwrap();
    assert!(err.contains("IMAP SELECT NoSuchBox"), "{err}");
}

#[test]
fn a_stopped_smtp_server_makes_mail_unhealthy_saying_smtp_and_a_restart_mends_it() {
    // Servers of its own: it stops SMTP.
    let m = MailServer::start();
    let f = Fixture::new();
    f.write("settings.toml", &settings(&m, &Opts::new(&m), false));
    m.stop_smtp();
    f.tick("hour");
    let mail = f.state()["mail"].clone();
    assert_eq!(mail["ok"], false);
    let err = mail["last_error"].as_str().unwrap();
    assert!(err.contains("SMTP") && err.contains("refused"), "{err}");
    m.start_smtp();
    let mut state = f.state();
    state["mail"]["last_self_check"] = serde_json::Value::Null;
    f.write("state.json", &state.to_string());
    f.tick("hour");
    assert_eq!(f.state()["mail"]["ok"], true, "{}", f.state()["mail"]);
}

fn failing_job(f: &Fixture, extra: &str) {
    f.script(
        "jobs/fail.sh",
        "#!/bin/sh\necho 'CRITICAL - broken'\nexit 2\n",
    );
    f.jobs(&format!(
        "[[job]]\nname = \"x\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\nnotify_every = \"state_change\"\n{extra}\n"
    ));
}

#[test]
fn an_alert_queued_while_smtp_is_down_goes_out_exactly_once_when_it_is_back_and_meanwhile_through_the_other_channels(
) {
    // Servers of its own: it stops SMTP.
    let m = MailServer::start();
    let f = mail_fixture(&m);
    failing_job(&f, "");
    m.stop_smtp();
    f.tick("minute");
    let state = f.state();
    let outbox = state["outbox"].as_array().unwrap();
    assert_eq!(outbox.len(), 1, "the email alert stays queued: {outbox:?}");
    assert_eq!(outbox[0]["channel"], "email");
    assert_eq!(state["mail"]["ok"], false);
    let alerts = f.alerts();
    assert_eq!(
        alerts.len(),
        1,
        "mail failed, so the alert went through the other channel in the same tick"
    );
    assert_eq!(alerts[0]["job"], "x");
    m.start_smtp();
    // delivery_retry (1s) passes between the tries.
    f.age_state(Duration::from_millis(1100));
    f.tick("minute");
    f.tick("minute");
    f.age_state(Duration::from_millis(1100));
    f.tick("minute");
    let msgs = m.wait_for_messages(1, Duration::from_secs(10));
    let msgs_after = m.quiet_messages();
    assert_eq!(msgs_after.len(), 1, "delivered exactly once: {msgs:?}");
    assert!(
        msgs_after[0].contains("[testbox] FAILED: x"),
        "{}",
        msgs_after[0]
    );
    assert!(
        msgs_after[0].contains(&format!("To: {}", m.address("ops"))),
        "{}",
        msgs_after[0]
    );
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    assert_eq!(f.state()["mail"]["ok"], true);
    assert_eq!(f.alerts().len(), 1, "the other channel was told once");
    // A new alert while mail works goes only to email.
}

#[test]
fn while_mail_is_unhealthy_new_alerts_also_go_through_the_other_channels() {
    let m = Mailbox::new();
    let f = mail_fixture(&m);
    failing_job(&f, "");
    let mut state = serde_json::json!({"version": 1, "mail": {"ok": false, "last_error": "self-check: broken"}});
    f.write("state.json", &state.to_string());
    f.tick("minute");
    let alerts = f.alerts();
    assert_eq!(
        alerts.len(),
        1,
        "queued on capture at decision time: {alerts:?}"
    );
    m.wait_for_messages(1, Duration::from_secs(10));
    // Healthy mail: email only.
    state = f.state();
    state["mail"]["ok"] = serde_json::Value::Bool(true);
    state["jobs"]["x"] = serde_json::Value::Null;
    f.write(
        "state.json",
        &serde_json::to_string(&state)
            .unwrap()
            .replace("\"x\":null", "\"x\":{}"),
    );
    f.tick("minute");
    assert_eq!(f.alerts().len(), 1);
}

#[test]
fn a_jobs_contact_overrides_alertcontact_and_every_recipient_gets_it() {
    let m = Mailbox::new();
    let f = mail_fixture(&m);
    failing_job(
        &f,
        &format!("contact = [\"{}\", \"{}\"]", m.address("a"), m.address("b")),
    );
    f.tick("minute");
    let msgs = m.wait_for_messages(2, Duration::from_secs(10));
    for msg in &msgs {
        assert!(
            msg.contains(&m.address("a")) && msg.contains(&m.address("b")),
            "{msg}"
        );
        assert!(!msg.contains(&m.address("ops")), "{msg}");
    }
    let delivered: Vec<String> = msgs
        .iter()
        .filter_map(|msg| {
            msg.lines()
                .find(|l| l.starts_with("Delivered-To:"))
                .map(str::to_string)
        })
        .collect();
    assert!(
        delivered.iter().any(|d| d.contains(&m.address("a")))
            && delivered.iter().any(|d| d.contains(&m.address("b"))),
        "{delivered:?}"
    );
}

#[test]
fn nomail_records_email_alerts_instead_of_sending_them() {
    let m = Mailbox::new();
    let f = mail_fixture(&m);
    failing_job(&f, "");
    f.run_ok(&["--nomail", "-c", "minute"], 0);
    assert!(m.quiet_messages().is_empty());
    let notes: Vec<_> = f.events("notify");
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["message"].as_str().unwrap().contains("recorded"));
}

#[test]
fn test_notify_says_per_channel_whether_it_worked_and_exits_1_if_any_failed() {
    // Servers of its own: it stops SMTP.
    let m = MailServer::start();
    let f = mail_fixture(&m);
    let out = stdout(&f.run_ok(&["test-notify"], 0));
    assert!(
        out.lines()
            .any(|l| l.starts_with("email") && l.contains("delivered")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("capture") && l.contains("delivered")),
        "{out}"
    );
    let msgs = m.wait_for_messages(1, Duration::from_secs(10));
    assert!(msgs[0].contains("test notification"), "{}", msgs[0]);
    assert_eq!(f.alerts()[0]["kind"], "test");
    let out = stdout(&f.run_ok(&["test-notify", "capture"], 0));
    assert_eq!(out.lines().count(), 1, "{out}");
    m.stop_smtp();
    let out = stdout(&f.run_ok(&["test-notify"], 1));
    assert!(
        out.lines()
            .any(|l| l.starts_with("email") && l.contains("FAILED") && l.contains("refused")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("capture") && l.contains("delivered")),
        "{out}"
    );
    assert_eq!(
        f.state()["mail"]["ok"],
        false,
        "a failed email delivery marks mail unhealthy"
    );
    let out = f.run_ok(&["test-notify", "emial"], 2);
    assert!(
        support::stderr(&out).contains("did you mean \"email\""),
        "{}",
        support::stderr(&out)
    );
    let attempts = f
        .history()
        .into_iter()
        .filter(|e| e["event"] == "notify" && e["job"] == "test-notify")
        .count();
    assert_eq!(attempts, 5, "each attempt is in the history");
}

#[test]
fn email_subject_and_body_follow_their_templates_and_a_bad_one_is_a_validate_error() {
    let m = Mailbox::new();
    let f = Fixture::new();
    let mut o = Opts::new(&m);
    o.self_check = "never";
    let text = settings(&m, &o, false).replace(
        "timeout = \"5s\"\n",
        "timeout = \"5s\"\ntitle_template = \"{{ servername }}: {{ job }} is {{ status }}\"\nbody_template = \"Error was: {{ message }}\"\n",
    );
    f.write("settings.toml", &text);
    failing_job(&f, "");
    f.tick("minute");
    let msgs = m.wait_for_messages(1, Duration::from_secs(10));
    assert!(msgs[0].contains("Subject: testbox: x is "), "{}", msgs[0]);
    assert!(
        msgs[0].contains("Error was: CRITICAL - broken"),
        "{}",
        msgs[0]
    );
    let bad = text.replace("{{ job }} is", "{{ job is");
    f.write("settings.toml", &bad);
    let out = f.run_ok(&["validate"], 2);
    let err = support::stderr(&out);
    assert!(
        err.contains("settings.toml:") && err.contains("title_template"),
        "{err}"
    );
}

#[test]
fn a_self_check_longer_than_the_tick_deadline_is_cut_short_as_not_checked() {
    let m = Mailbox::new();
    let f = Fixture::new();
    // Sent from another address than the account searched for: the probe arrives but
    // is never found, so the self-check would poll for the whole minute of its wait.
    let s = settings(&m, &Opts::new(&m), false)
        .replacen(
            &format!("from = \"{}\"", m.user),
            &format!("from = \"{}\"", m.address("elsewhere")),
            1,
        )
        .replace("self_check_wait = \"10s\"", "self_check_wait = \"60s\"")
        .replace(
            "delivery_retry = \"1s\"",
            "delivery_retry = \"1s\"\ntick_deadline = \"3s\"",
        );
    f.write("settings.toml", &s);
    let start = Instant::now();
    f.tick("hour");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "the tick took {took:?}");
    let mail = f.state()["mail"].clone();
    assert!(mail["ok"].is_null(), "not checked is not a failure: {mail}");
    assert!(mail["last_self_check"].is_string(), "{mail}");
    let events = self_check_events(&f);
    assert_eq!(events.len(), 1);
    assert!(events[0]["ok"].is_null(), "{}", events[0]);
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("not checked: the tick deadline (3s) came before the self-check finished"),
        "{}",
        events[0]
    );
    assert!(f.alerts().is_empty(), "no alert about mail");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&f.run_ok(&["peer-status", "--json"], 0))).unwrap();
    assert_eq!(v["status"], "True", "{v}");
}

#[test]
fn a_refused_recipient_is_recorded_in_the_history_with_the_servers_reply_and_the_others_get_the_alert(
) {
    let m = Mailbox::new();
    let f = mail_fixture(&m);
    failing_job(
        &f,
        &format!(
            "contact = [\"{}\", \"nobody@localhost\", \"{}\"]",
            m.address("a"),
            m.address("b")
        ),
    );
    f.tick("minute");
    assert_eq!(m.wait_for_messages(2, Duration::from_secs(10)).len(), 2);
    let history = f.history();
    let notify: Vec<_> = history.iter().filter(|e| e["event"] == "notify").collect();
    assert_eq!(notify.len(), 1, "{history:?}");
    assert_eq!(notify[0]["ok"], true);
    assert!(
        notify[0]["message"]
            .as_str()
            .unwrap()
            .contains("refused for 1 of 3 recipient(s): nobody@localhost"),
        "{}",
        notify[0]
    );
    let refused: Vec<_> = history
        .iter()
        .filter(|e| e["event"] == "error" && e["channel"] == "email")
        .collect();
    assert_eq!(refused.len(), 1, "{history:?}");
    let text = refused[0]["message"].as_str().unwrap();
    assert!(
        text.contains("nobody@localhost: the server refused it: 550"),
        "{text}"
    );
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    assert_eq!(f.state()["mail"]["ok"], true);
}
