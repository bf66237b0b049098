//! The HTTP channels end to end: Pushover, Slack, Discord, ntfy and generic webhooks,
//! with templates, routing, retries and secrets, through the real binary and a failing
//! job, against local receivers that check each request as the real service would; and
//! Alertmanager against the real one (`alertmanager`).

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::support::http::{Response, Server};
use crate::support::net::{Smtp, SmtpServer};
use crate::support::receiver::{Receiver, Service, GENERIC_FIELDS};
use crate::support::{self, stderr, stdout, Fixture};

mod alertmanager;
mod command;

const TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

/// Settings with email off, the given channel tables, and `[defaults] notify`.
fn settings(notify: &[&str], channels: &str) -> String {
    let notify: Vec<String> = notify.iter().map(|n| format!("{n:?}")).collect();
    format!(
        r#"{}
[defaults]
notify = [{}]
notify_every = "state_change"
failures_before_notify = 1

{channels}
"#,
        support::GENERAL_AND_LOGGING.trim_start(),
        notify.join(", ")
    )
}

/// A fixture whose one job, "disk", fails (CRITICAL, exit 2) until `pass(&f)`.
fn fixture(notify: &[&str], channels: &str) -> Fixture {
    let f = Fixture::new();
    f.write("settings.toml", &settings(notify, channels));
    f.script(
        "jobs/disk.sh",
        "#!/bin/sh\nif [ -e \"$(dirname \"$0\")/pass\" ]; then echo 'OK - 40% used'; exit 0; fi\necho 'CRITICAL - disk full'\nexit 2\n",
    );
    f.jobs("[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\n");
    f
}

fn pass(f: &Fixture) {
    f.write("jobs/pass", "");
}

/// The default title of the disk job's failure: its target (the command, resolved in the
/// jobs folder), the error and what was expected.
fn failed(f: &Fixture) -> String {
    format!(
        "[testbox] FAILED: disk — {} → CRITICAL - disk full (expected OK, exit 0)",
        f.path().join("jobs/disk.sh").display()
    )
}

/// The default title of the disk job's recovery, up to the length of the outage.
fn recovered(f: &Fixture) -> String {
    format!(
        "[testbox] RECOVERED: disk — {} (was failing for ",
        f.path().join("jobs/disk.sh").display()
    )
}

fn pushover_table(r: &Receiver, extra: &str) -> String {
    format!(
        "[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\napi_url = \"{}\"\n{extra}\n",
        r.url("/1/messages.json")
    )
}

fn pushover_receiver() -> Receiver {
    Receiver::start(Service::Pushover {
        token: TOKEN.into(),
        user: USER.into(),
    })
}

fn webhook_table(name: &str, format: &str, url: &str, extra: &str) -> String {
    format!("[[webhooks]]\nname = \"{name}\"\nformat = \"{format}\"\nurl = \"{url}\"\n{extra}\n")
}

/// History events of kind notify/recover for `channel`.
fn deliveries(f: &Fixture, channel: &str) -> Vec<Value> {
    f.history()
        .into_iter()
        .filter(|e| e["channel"] == channel && (e["event"] == "notify" || e["event"] == "recover"))
        .collect()
}

fn no_violations(r: &Receiver) {
    assert!(
        r.violations().is_empty(),
        "requests broke the service's API: {:?}",
        r.violations()
    );
}

#[test]
fn pushover_gets_every_form_field_of_its_message_api() {
    let r = pushover_receiver();
    let f = fixture(
        &["pushover"],
        &pushover_table(
            &r,
            "priority = 1\nsound = \"siren\"\nurl = \"https://status.example.com/\"\nurl_title = \"Status page\"\ndevice = \"phone\"",
        ),
    );
    f.tick("minute");
    no_violations(&r);
    assert_eq!(r.count(), 1);
    let req = r.last();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/1/messages.json");
    assert_eq!(req.field("token").as_deref(), Some(TOKEN));
    assert_eq!(req.field("user").as_deref(), Some(USER));
    assert_eq!(req.field("title"), Some(failed(&f)));
    let message = req.field("message").unwrap();
    assert!(
        message.starts_with("Job disk on testbox is failing."),
        "{message}"
    );
    for row in [
        "Latest error:",
        "Consecutive failures: 1",
        "Failing since:",
        "Last success:",
        "Next reminder:",
    ] {
        assert!(message.contains(row), "message lacks {row}: {message}");
    }
    assert_eq!(req.field("priority").as_deref(), Some("1"));
    assert_eq!(req.field("sound").as_deref(), Some("siren"));
    assert_eq!(
        req.field("url").as_deref(),
        Some("https://status.example.com/")
    );
    assert_eq!(req.field("url_title").as_deref(), Some("Status page"));
    assert_eq!(req.field("device").as_deref(), Some("phone"));
    assert!(req.field("retry").is_none() && req.field("expire").is_none());
    let d = deliveries(&f, "pushover");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["ok"], true);
    assert_eq!(d[0]["event"], "notify");
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());

    pass(&f);
    f.tick("minute");
    no_violations(&r);
    assert_eq!(r.count(), 2);
    let req = r.last();
    let title = req.field("title").unwrap_or_default();
    assert!(title.starts_with(&recovered(&f)), "{title}");
    assert_eq!(
        req.field("priority").as_deref(),
        Some("0"),
        "a recovery is never sent above normal priority"
    );
    assert_eq!(deliveries(&f, "pushover")[1]["event"], "recover");
}

#[test]
fn pushover_emergency_priority_sends_retry_and_expire() {
    let r = pushover_receiver();
    let f = fixture(
        &["pushover"],
        &pushover_table(&r, "priority = 2\nretry = 60\nexpire = \"1h\""),
    );
    f.tick("minute");
    no_violations(&r);
    let req = r.last();
    assert_eq!(req.field("priority").as_deref(), Some("2"));
    assert_eq!(req.field("retry").as_deref(), Some("60"));
    assert_eq!(req.field("expire").as_deref(), Some("3600"));
    pass(&f);
    f.tick("minute");
    no_violations(&r);
    let req = r.last();
    assert_eq!(req.field("priority").as_deref(), Some("0"));
    assert!(
        req.field("retry").is_none(),
        "retry and expire go only with priority 2"
    );
}

#[test]
fn pushover_settings_outside_the_apis_limits_are_validate_errors_with_their_lines() {
    let f = Fixture::new();
    // The settings, what validate says, and the line it names: the key's, or [pushover]'s.
    let cases: &[(&str, &str, &str)] = &[
        (
            "priority = 2",
            "priority 2 (emergency) needs `retry`",
            "[pushover]",
        ),
        (
            "priority = 2\nretry = 60",
            "priority 2 (emergency) needs `expire`",
            "[pushover]",
        ),
        (
            "priority = 2\nretry = 10\nexpire = 600",
            "`retry` = 10s is below Pushover's minimum of 30s",
            "retry",
        ),
        (
            "priority = 2\nretry = 30\nexpire = 20000",
            "`expire` = 20000s is out of range",
            "expire",
        ),
        ("priority = 3", "`priority` = 3 is out of range", "priority"),
        ("retry = 60", "apply only to priority 2", "retry"),
        (
            "api_url = \"ftp://x\"",
            "`api_url` must be an http:// or https:// URL",
            "api_url",
        ),
    ];
    for (extra, expected, at) in cases {
        let text = settings(
            &["pushover"],
            &format!("[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\n{extra}\n"),
        );
        f.write("settings.toml", &text);
        let out = f.run_ok(&["validate"], 2);
        let err = stderr(&out);
        assert!(err.contains(expected), "{extra:?}: {err}");
        let line = text.lines().position(|l| l.starts_with(at)).unwrap() + 1;
        assert!(
            err.contains(&format!("settings.toml:{line}: ")),
            "{extra:?}: expected line {line}: {err}"
        );
    }
    f.write(
        "settings.toml",
        &settings(&["pushover"], "[pushover]\ntoken = \"x1234\"\n"),
    );
    let err = stderr(&f.run_ok(&["validate"], 2));
    assert!(
        err.contains("[pushover] needs `user` (or `user_env`, `user_file`)"),
        "{err}"
    );
}

#[test]
fn a_rejected_pushover_token_is_a_clear_error_and_not_retried() {
    let r = Receiver::start(Service::Pushover {
        token: "a-different-application-token".into(),
        user: USER.into(),
    });
    let f = fixture(&["pushover"], &pushover_table(&r, ""));
    f.tick("minute");
    assert_eq!(r.count(), 1);
    let d = deliveries(&f, "pushover");
    assert_eq!(d[0]["ok"], false);
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap()
            .contains("application token is invalid"),
        "{:?}",
        d[0]
    );
    let gave_up: Vec<Value> = f.events("error");
    assert_eq!(gave_up.len(), 1, "{gave_up:?}");
    let m = gave_up[0]["message"].as_str().unwrap();
    assert!(
        m.contains("gave up")
            && m.contains("pushover")
            && m.contains("application token is invalid"),
        "{m}"
    );
    assert!(
        f.state()["outbox"].as_array().unwrap().is_empty(),
        "a permanent error is not queued"
    );
    f.age_state(Duration::from_millis(1100)); // delivery_retry = 1s
    f.tick("minute");
    assert_eq!(r.count(), 1, "not retried");
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains("application token is invalid"),
        "the log says why: {log}"
    );
}

#[test]
fn one_failing_channel_never_holds_back_another_and_is_retried_later() {
    let p = pushover_receiver();
    let s = Receiver::start(Service::Slack);
    p.force(500, "{\"status\":0,\"errors\":[\"internal error\"]}");
    let channels = format!(
        "{}{}",
        pushover_table(&p, ""),
        webhook_table("ops-slack", "slack", &s.url("/services/T0/B0/xyz"), "")
    );
    let f = fixture(&["pushover", "ops-slack"], &channels);
    f.tick("minute");
    assert_eq!(s.count(), 1, "slack got it at once");
    no_violations(&s);
    assert_eq!(p.count(), 1);
    let outbox = f.state()["outbox"].as_array().unwrap().clone();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0]["channel"], "pushover");
    assert_eq!(outbox[0]["attempts"], 1);
    assert_eq!(deliveries(&f, "ops-slack")[0]["ok"], true);
    let d = deliveries(&f, "pushover");
    assert_eq!(d[0]["ok"], false);
    assert!(
        d[0]["message"].as_str().unwrap().contains("HTTP 500"),
        "{:?}",
        d[0]
    );

    // Pushover is back: the queued alert goes out on a later tick, once its backoff passed.
    p.unforce();
    f.age_state(Duration::from_millis(1100));
    f.tick("minute");
    assert_eq!(p.count(), 2);
    no_violations(&p);
    assert_eq!(p.last().field("title"), Some(failed(&f)));
    assert_eq!(s.count(), 1, "slack is not sent the alert twice");
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    let d = deliveries(&f, "pushover");
    assert_eq!((d.len(), &d[1]["ok"]), (2, &Value::Bool(true)));
}

#[test]
fn network_errors_keep_the_alert_queued() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = fixture(
        &["pushover"],
        &format!("[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\napi_url = \"http://127.0.0.1:{port}/1/messages.json\"\n"),
    );
    f.tick("minute");
    let outbox = f.state()["outbox"].as_array().unwrap().clone();
    assert_eq!(outbox.len(), 1);
    let err = outbox[0]["last_error"].as_str().unwrap();
    assert!(err.contains("cannot connect"), "{err}");
    assert!(
        !f.history().iter().any(|e| e["event"] == "error"),
        "not given up"
    );
}

#[test]
fn slack_gets_incoming_webhook_json_text() {
    let s = Receiver::start(Service::Slack);
    let f = fixture(
        &["ops-slack"],
        &webhook_table("ops-slack", "slack", &s.url("/services/T0/B0/xyz"), ""),
    );
    f.tick("minute");
    no_violations(&s);
    let req = s.last();
    assert_eq!(req.path, "/services/T0/B0/xyz");
    assert!(req
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let text = req.json()["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with(&format!(
            "*{}*\n```\nJob disk on testbox is failing.",
            failed(&f)
        )),
        "{text}"
    );
    assert!(text.contains("Consecutive failures: 1"), "{text}");
    assert_eq!(deliveries(&f, "ops-slack")[0]["ok"], true);
}

#[test]
fn discord_content_respects_its_2000_character_limit() {
    let d = Receiver::start(Service::Discord);
    let p = pushover_receiver();
    let channels = format!(
        "{}{}",
        webhook_table("chat", "discord", &d.url("/api/webhooks/1/tok"), ""),
        pushover_table(&p, "")
    );
    let f = fixture(&["chat", "pushover"], &channels);
    let long = "all work and no play makes a long description ".repeat(60);
    f.jobs(&format!(
        "[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\ndescription = \"{}\"\n",
        long.trim()
    ));
    f.tick("minute");
    no_violations(&d);
    no_violations(&p);
    let content = d.last().json()["content"].as_str().unwrap().to_string();
    assert_eq!(content.chars().count().min(2000), content.chars().count());
    assert!(content.contains('…'), "cut with an ellipsis");
    assert!(content.starts_with("**[testbox] FAILED: disk"), "{content}");
    assert_eq!(
        d.last().json()["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    let message = p.last().field("message").unwrap();
    assert_eq!(message.chars().count(), 1024, "pushover's message limit");
    assert!(message.ends_with('…'));
}

#[test]
fn ntfy_topic_gets_title_priority_tags_and_the_bearer_token() {
    let n = Receiver::start(Service::Ntfy {
        token: Some("tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2".into()),
    });
    let f = fixture(
        &["phone"],
        &webhook_table(
            "phone",
            "ntfy",
            &n.url("/checker-alerts"),
            "token_env = \"NTFY_TOKEN_FOR_TEST\"",
        ),
    );
    let tick = |f: &Fixture| {
        let out = f
            .cmd()
            .args(["-c", "minute"])
            .env("NTFY_TOKEN_FOR_TEST", "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    tick(&f);
    no_violations(&n);
    assert_eq!(
        deliveries(&f, "phone")[0]["ok"],
        true,
        "{:?}",
        deliveries(&f, "phone")
    );
    let req = n.last();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/checker-alerts");
    assert_eq!(
        req.header_decoded("title"),
        Some(failed(&f)),
        "non-ASCII titles travel as an RFC 2047 encoded word"
    );
    assert_eq!(req.header("priority"), Some("4"));
    assert_eq!(req.header("tags"), Some("rotating_light"));
    assert_eq!(
        req.header("authorization"),
        Some("Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2")
    );
    assert!(
        req.text().starts_with("Job disk on testbox is failing."),
        "{}",
        req.text()
    );
    pass(&f);
    tick(&f);
    let req = n.last();
    let title = req.header_decoded("title").unwrap_or_default();
    assert!(title.starts_with(&recovered(&f)), "{title}");
    assert_eq!(req.header("priority"), Some("3"));
    assert_eq!(req.header("tags"), Some("white_check_mark"));
}

#[test]
fn ntfy_without_the_token_is_refused_and_given_up() {
    let n = Receiver::start(Service::Ntfy {
        token: Some("tk_needed".into()),
    });
    let f = fixture(
        &["phone"],
        &webhook_table("phone", "ntfy", &n.url("/alerts"), "priority = 5"),
    );
    f.tick("minute");
    assert_eq!(
        n.last().header("priority"),
        Some("5"),
        "the configured priority"
    );
    let d = deliveries(&f, "phone");
    assert_eq!(d[0]["ok"], false);
    assert!(
        d[0]["message"].as_str().unwrap().contains("HTTP 403"),
        "{:?}",
        d[0]
    );
    assert!(
        f.state()["outbox"].as_array().unwrap().is_empty(),
        "403 is permanent"
    );
}

#[test]
fn generic_webhooks_post_the_documented_json_object_with_their_headers() {
    let g = Receiver::start(Service::Generic);
    let f = fixture(
        &["api"],
        &webhook_table(
            "api",
            "generic",
            &g.url("/hooks/checker"),
            "headers = { \"X-Api-Key\" = \"k-123456\" }\ntimeout = \"5s\"",
        ),
    );
    f.tick("minute");
    no_violations(&g);
    let req = g.last();
    assert_eq!(req.header("x-api-key"), Some("k-123456"));
    let v = req.json();
    for field in GENERIC_FIELDS {
        assert!(v.get(*field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["servername"], "testbox");
    assert_eq!(v["job"], "disk");
    assert_eq!(v["kind"], "failure");
    assert_eq!(v["job_kind"], "command");
    assert_eq!(v["status"], "failing");
    assert_eq!(v["message"], "CRITICAL - disk full");
    assert_eq!(v["consecutive_failures"], 1);
    assert_eq!(v["last_success"], Value::Null);
    for t in ["failing_since", "at"] {
        let s = v[t].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
            "{t} = {s}"
        );
    }
    assert_eq!(v["subject"], failed(&f));
    assert_eq!(
        v["target"],
        f.path().join("jobs/disk.sh").display().to_string()
    );
    assert_eq!(v["expected"], "OK, exit 0");
    pass(&f);
    f.tick("minute");
    let v = g.last().json();
    assert_eq!(
        (v["kind"].as_str(), v["status"].as_str()),
        (Some("recovery"), Some("ok"))
    );
    assert!(v["last_success"].as_str().is_some());
}

#[test]
fn templates_shape_titles_and_bodies_of_each_channel() {
    let p = pushover_receiver();
    let s = Receiver::start(Service::Slack);
    let n = Receiver::start(Service::Ntfy { token: None });
    let g = Receiver::start(Service::Generic);
    let channels = format!(
        "{}{}{}{}",
        pushover_table(
            &p,
            "title_template = \"{{ job|upper }} is {{ status }} on {{ servername }}\"\nbody_template = \"\"\"\n{{ message }} ({{ consecutive_failures }} in a row{% if last_success %}, last ok {{ last_success_ago }} ago{% endif %})\n\"\"\"",
        ),
        webhook_table("ops-slack", "slack", &s.url("/s"), "body_template = \"{{ kind }}: {{ job }} says {{ message }}\""),
        webhook_table("phone", "ntfy", &n.url("/alerts"), "title_template = \"{{ job }} {{ kind }}\""),
        webhook_table(
            "api",
            "generic",
            &g.url("/g"),
            "body_template = '{\"text\": {{ subject|tojson }}, \"servername\": \"x\", \"job\": {{ job|tojson }}, \"kind\": \"k\", \"job_kind\": \"c\", \"status\": {{ status|tojson }}, \"message\": \"m\", \"consecutive_failures\": {{ consecutive_failures }}, \"failing_since\": {{ failing_since|tojson }}, \"last_success\": null, \"next_reminder\": \"\", \"at\": {{ at|tojson }}, \"subject\": \"\", \"body\": \"\"}'",
        ),
    );
    let f = fixture(&["pushover", "ops-slack", "phone", "api"], &channels);
    f.run_ok(&["validate"], 0);
    f.tick("minute");
    for r in [&p, &s, &n, &g] {
        no_violations(r);
    }
    let req = p.last();
    assert_eq!(
        req.field("title").as_deref(),
        Some("DISK is failing on testbox")
    );
    assert_eq!(
        req.field("message").as_deref(),
        Some("CRITICAL - disk full (1 in a row)")
    );
    assert_eq!(
        s.last().json()["text"],
        format!("*{}*\nfailure: disk says CRITICAL - disk full", failed(&f))
    );
    assert_eq!(n.last().header("title"), Some("disk failure"));
    let v = g.last().json();
    assert_eq!(v["text"], failed(&f));
    assert_eq!(v["consecutive_failures"], 1);
}

#[test]
fn a_template_over_its_bounds_is_a_delivery_error_and_the_default_text_goes_out() {
    let g = Receiver::start(Service::Generic);
    let s = Receiver::start(Service::Slack);
    let loops = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let channels = format!(
        "{}{}",
        webhook_table("api", "generic", &g.url("/g"), &format!("body_template = \"{loops}\"")),
        webhook_table(
            "chat",
            "slack",
            &s.url("/s"),
            "title_template = \"{{ message|indent(1000000000) }}\"\nbody_template = \"{% for i in range(5000) %}{{ body }}{% endfor %}\""
        ),
    );
    let f = fixture(&["api", "chat"], &channels);
    // Loading checks templates without rendering them: every command starts at once.
    f.run_within(&["list"], 0, 20);
    // validate renders sample alerts within the bounds, and names what is over them.
    let out = f.run_within(&["validate"], 2, 20);
    let err = stderr(&out);
    for e in [
        "[[webhooks]] \"api\": `body_template`: it does more work than a message may take",
        "[[webhooks]] \"chat\": `title_template`: ",
        "[[webhooks]] \"chat\": `body_template`: the output is longer than 64 KiB",
    ] {
        assert!(err.contains(e), "expected {e}\nin:\n{err}");
    }
    // A tick sends each alert anyway, in the default words, and logs why.
    f.run_within(&["-c", "minute"], 0, 60);
    for r in [&g, &s] {
        no_violations(r);
        assert_eq!(r.count(), 1);
    }
    // The generic webhook's own default: its documented JSON object.
    assert_eq!(g.last().json()["job"], "disk");
    let text = s.last().json()["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with(&format!("{}\nJob disk on testbox is failing.", failed(&f))),
        "{text}"
    );
    assert!(text.len() < 4000, "{} bytes", text.len());
    for ch in ["api", "chat"] {
        assert_eq!(deliveries(&f, ch).len(), 1, "{ch} delivered");
    }
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains(
            "api: `body_template` could not be rendered: it does more work than a message may take"
        ) && log.contains("the default text was sent instead"),
        "{log}"
    );
}

#[test]
fn a_bad_template_is_a_validate_error_with_file_key_line_and_template_location() {
    let f = Fixture::new();
    let text = settings(
        &["pushover", "ops"],
        &format!(
            "[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\ntitle_template = \"{{{{ job|shout }}}}\"\n\n[[webhooks]]\nname = \"ops\"\nformat = \"slack\"\nurl = \"https://hooks.example.com/x\"\nbody_template = \"\"\"\nfine line\n{{% if kind %}}{{{{ job }}\n\"\"\"\ntitle_template = \"{{{{ jbo }}}}\"\n"
        ),
    );
    f.write("settings.toml", &text);
    let out = f.run_ok(&["validate"], 2);
    let err = stderr(&out);
    let line = |needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let path = f.settings_path();
    let expect = [
        format!("{}:{}: [pushover] `title_template`: unknown filter `shout` (template line 1, column 8)", path.display(), line("title_template = \"{{ job")),
        format!("{}:{}: [[webhooks]] \"ops\": `body_template`: syntax error", path.display(), line("body_template")),
        format!("{}:{}: [[webhooks]] \"ops\": `title_template`: unknown variable `jbo`", path.display(), line("title_template = \"{{ jbo")),
    ];
    for e in &expect {
        assert!(err.contains(e.as_str()), "expected {e}\nin:\n{err}");
    }
    assert!(
        err.contains("expected end of variable block (template line 2, column 21)"),
        "the syntax error's place in the template: {err}"
    );
}

#[test]
fn webhook_4xx_is_permanent_while_408_429_and_5xx_are_retried() {
    let gone = Receiver::start(Service::Generic);
    gone.force(404, "no_service");
    let busy = Receiver::start(Service::Generic);
    busy.force(429, "slow down");
    let slow = Receiver::start(Service::Generic);
    slow.force(408, "");
    let down = Receiver::start(Service::Generic);
    down.force(503, "");
    let channels = format!(
        "{}{}{}{}",
        webhook_table("gone", "generic", &gone.url("/"), ""),
        webhook_table("busy", "generic", &busy.url("/"), ""),
        webhook_table("slow", "generic", &slow.url("/"), ""),
        webhook_table("down", "generic", &down.url("/"), ""),
    );
    let f = fixture(&["gone", "busy", "slow", "down"], &channels);
    f.tick("minute");
    let mut queued: Vec<String> = f.state()["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["channel"].as_str().unwrap().to_string())
        .collect();
    queued.sort();
    assert_eq!(queued, vec!["busy", "down", "slow"]);
    let errors: Vec<String> = f
        .history()
        .iter()
        .filter(|e| e["event"] == "error")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("through gone") && errors[0].contains("HTTP 404: no_service"),
        "{errors:?}"
    );
}

#[test]
fn secrets_never_appear_in_logs_history_state_or_output() {
    let p = Receiver::start(Service::Pushover {
        token: TOKEN.into(),
        user: USER.into(),
    });
    let s = Receiver::start(Service::Slack);
    let n = Receiver::start(Service::Ntfy {
        token: Some("tk_SecretNtfyToken77".into()),
    });
    let g = Receiver::start(Service::Generic);
    let slack_key = "T0SECRET/B0SECRET/SlackKeyXyz123";
    let discord_key = "DiscordWebhookKey987";
    // Services that answer with an error quoting what they were sent, as some do.
    p.force(
        500,
        &format!("{{\"errors\":[\"bad token {TOKEN} for user {USER}\"],\"status\":0}}"),
    );
    s.force(404, &format!("no_service for /services/{slack_key}"));
    g.force(401, "wrong key X-Api-Key: HeaderSecret555");
    let f = Fixture::new();
    f.write("pushover.user", &format!("{USER}\n"));
    let d_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channels = format!(
        "[pushover]\ntoken_env = \"PUSHOVER_TOKEN_FOR_TEST\"\nuser_file = \"pushover.user\"\napi_url = \"{}\"\n\n{}{}{}{}",
        p.url("/1/messages.json?key=PushoverQuery8080"),
        webhook_table("ops-slack", "slack", &s.url(&format!("/services/{slack_key}")), ""),
        webhook_table("chat", "discord", &format!("http://127.0.0.1:{d_port}/api/webhooks/1/{discord_key}"), ""),
        webhook_table("phone", "ntfy", &n.url("/alerts"), "token = \"tk_SecretNtfyToken77\""),
        webhook_table("api", "generic", &g.url("/g?key=QuerySecret4242"), "headers = { \"X-Api-Key\" = \"HeaderSecret555\" }"),
    );
    f.write(
        "settings.toml",
        &settings(
            &["pushover", "ops-slack", "chat", "phone", "api"],
            &channels,
        ),
    );
    f.script(
        "jobs/disk.sh",
        "#!/bin/sh\necho 'CRITICAL - disk full'\nexit 2\n",
    );
    f.jobs("[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\n");
    let run = |args: &[&str]| {
        let out = f
            .cmd()
            .args(args)
            .env("PUSHOVER_TOKEN_FOR_TEST", TOKEN)
            .output()
            .unwrap();
        format!("{}{}", stdout(&out), stderr(&out))
    };
    let mut seen = String::new();
    seen += &run(&["-d", "-v", "-c", "minute"]);
    // Every channel was tried (ntfy even succeeded), and failures were recorded.
    assert_eq!((p.count(), s.count(), n.count(), g.count()), (1, 1, 1, 1));
    assert_eq!(deliveries(&f, "phone")[0]["ok"], true);
    f.age_state(Duration::from_millis(1100)); // the queued alerts are tried again
    seen += &run(&["-d", "-v", "run-once", "--json"]);
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["history"],
        &["history", "--json"],
        &["list"],
        &["list", "--json"],
        &["validate"],
    ] {
        seen += &run(args);
    }
    seen += &std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    seen += &std::fs::read_to_string(f.path().join("state.json")).unwrap();
    // The history, decoded (runs are stored deflated) and as the raw database files.
    seen += &serde_json::to_string(&f.history()).unwrap();
    for name in ["history.db", "history.db-wal"] {
        if let Ok(bytes) = std::fs::read(f.path().join(name)) {
            seen += &String::from_utf8_lossy(&bytes);
        }
    }
    assert!(
        seen.contains("HTTP 500") && seen.contains("HTTP 404") && seen.contains("HTTP 401"),
        "failures are told: {seen}"
    );
    assert!(
        seen.contains("http://127.0.0.1:"),
        "the host of a webhook may be shown"
    );

    for secret in [
        TOKEN,
        USER,
        slack_key,
        "SlackKeyXyz123",
        discord_key,
        "tk_SecretNtfyToken77",
        "QuerySecret4242",
        "PushoverQuery8080",
        "HeaderSecret555",
    ] {
        assert!(!seen.contains(secret), "secret {secret:?} leaked:\n{seen}");
    }
}

/// Pushover's `api_url` may carry a secret in its query: the log names where alerts are
/// posted by scheme, host and port only, and no error, state, history or log line
/// quotes the query.
#[test]
fn a_secret_in_the_query_of_pushovers_api_url_is_masked_where_the_url_is_quoted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = Fixture::new();
    let channels = format!(
        "[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\n\
         api_url = \"http://127.0.0.1:{closed}/1/messages.json?key=ApiUrlQuery6161\"\n"
    );
    f.write("settings.toml", &settings(&["pushover"], &channels));
    f.jobs("[[job]]\nname = \"down\"\nkind = \"command\"\ncommand = [\"false\"]\n");
    let out = f.run(&["-d", "-v", "-c", "minute"]);
    let mut seen = format!("{}{}", stdout(&out), stderr(&out));
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["history", "--json"],
    ] {
        let out = f.run(args);
        seen += &stdout(&out);
        seen += &stderr(&out);
    }
    seen += &std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    seen += &std::fs::read_to_string(f.path().join("state.json")).unwrap();
    assert!(
        seen.contains(&format!("pushover: POST http://127.0.0.1:{closed} ")),
        "the log says where the alert was posted: {seen}"
    );
    assert!(
        seen.contains("Connection refused"),
        "and why it failed: {seen}"
    );
    assert!(!seen.contains("ApiUrlQuery6161"), "leaked:\n{seen}");
}

#[test]
fn channel_names_are_unique_and_notify_must_name_a_configured_channel() {
    let f = Fixture::new();
    let channels = format!(
        "[pushover]\ntoken = \"{TOKEN}\"\nuser = \"{USER}\"\n\n{}{}{}",
        webhook_table("ops", "slack", "https://hooks.example.com/a", ""),
        webhook_table("ops", "discord", "https://discord.example.com/b", ""),
        webhook_table("pushover", "generic", "https://example.com/c", ""),
    );
    f.write("settings.toml", &settings(&["pushover"], &channels));
    f.jobs("[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\nnotify = [\"opz\"]\n");
    let err = stderr(&f.run_ok(&["validate"], 2));
    assert!(
        err.contains("[[webhooks]] \"ops\": the name is already taken"),
        "{err}"
    );
    assert!(
        err.contains("[[webhooks]] \"pushover\": the name is already taken"),
        "{err}"
    );
    assert!(
        err.contains("unknown channel \"opz\" in `notify`; did you mean \"ops\"?"),
        "{err}"
    );
    assert!(
        !err.contains("hooks.example.com/a"),
        "webhook URLs are not echoed: {err}"
    );

    f.write(
        "settings.toml",
        &settings(
            &["pushover", "ops"],
            &webhook_table("ops", "slak", "https://x.example.com/", "priority = 3"),
        ),
    );
    f.jobs("");
    let err = stderr(&f.run_ok(&["validate"], 2));
    assert!(err.contains("`format` = \"slak\" is not valid: use one of \"slack\", \"discord\", \"ntfy\", \"generic\""), "{err}");
    assert!(
        err.contains("unknown channel \"pushover\""),
        "no [pushover], no pushover channel: {err}"
    );
}

#[test]
fn defaults_notify_routes_every_job_to_pushover_and_webhooks() {
    let p = pushover_receiver();
    let g = Receiver::start(Service::Generic);
    let f = fixture(
        &["pushover", "api"],
        &format!(
            "{}{}",
            pushover_table(&p, ""),
            webhook_table("api", "generic", &g.url("/"), "")
        ),
    );
    f.script(
        "jobs/other.sh",
        "#!/bin/sh\necho 'CRITICAL - other'\nexit 2\n",
    );
    f.write(
        "jobs/more.toml",
        "[[job]]\nname = \"only slack-less\"\nkind = \"command\"\ncommand = [\"./other.sh\"]\nnotify = [\"api\"]\n",
    );
    let out = f.run_ok(&["validate"], 0);
    let text = stdout(&out);
    assert!(text.contains("3 channel(s)"), "{text}");
    assert!(
        text.contains(&format!(
            "  pushover: via http://127.0.0.1:{}, priority 0",
            p.port
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  api: generic webhook via http://127.0.0.1:{}",
            g.port
        )),
        "{text}"
    );
    f.tick("minute");
    no_violations(&p);
    no_violations(&g);
    let pushed: Vec<String> = p
        .requests()
        .iter()
        .map(|r| r.field("title").unwrap())
        .collect();
    assert_eq!(
        pushed,
        vec![failed(&f)],
        "the job's own notify wins over the defaults"
    );
    let mut jobs: Vec<String> = g
        .requests()
        .iter()
        .map(|r| r.json()["job"].as_str().unwrap().to_string())
        .collect();
    jobs.sort();
    assert_eq!(jobs, vec!["disk", "only slack-less"]);
}

/// A test alert as `checker test-notify` makes it.
fn test_alert() -> support::api::notify::Alert {
    support::api::notify::Alert {
        kind: support::api::notify::AlertKind::Test,
        servername: "testbox".into(),
        job: "test-notify".into(),
        job_kind: "test".into(),
        description: None,
        message: "test notification".into(),
        consecutive_failures: 0,
        failing_since: None,
        last_success: None,
        next_reminder: String::new(),
        at: chrono::Utc::now(),
        recipients: Vec::new(),
        target: None,
        expected: None,
    }
}

#[test]
fn a_test_alert_goes_through_deliver_to_every_http_channel() {
    let p = pushover_receiver();
    let s = Receiver::start(Service::Slack);
    let d = Receiver::start(Service::Discord);
    let n = Receiver::start(Service::Ntfy {
        token: Some("tk_test".into()),
    });
    let g = Receiver::start(Service::Generic);
    let channels = format!(
        "{}{}{}{}{}",
        pushover_table(&p, "priority = 1"),
        webhook_table("s", "slack", &s.url("/s"), ""),
        webhook_table("d", "discord", &d.url("/d"), ""),
        webhook_table("n", "ntfy", &n.url("/topic"), "token = \"tk_test\""),
        webhook_table("g", "generic", &g.url("/g"), ""),
    );
    let f = fixture(&["pushover"], &channels);
    let config = support::api::config::load(&f.settings_path()).expect("settings load");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for channel in ["pushover", "s", "d", "n", "g"] {
        let outcome = rt.block_on(support::api::notify::deliver(
            &config,
            channel,
            &test_alert(),
            support::api::notify::SendOptions::default(),
        ));
        assert_eq!(
            outcome,
            Ok(support::api::notify::Delivered::Sent),
            "{channel}"
        );
    }
    for r in [&p, &s, &d, &n, &g] {
        no_violations(r);
        assert_eq!(r.count(), 1);
    }
    assert_eq!(
        p.last().field("title").as_deref(),
        Some("[testbox] test notification")
    );
    assert_eq!(
        p.last().field("priority").as_deref(),
        Some("1"),
        "a test shows what a failure would look like"
    );
    assert!(p
        .last()
        .field("message")
        .unwrap()
        .starts_with("This is a test notification from checker on testbox"));
    assert!(s.last().json()["text"]
        .as_str()
        .unwrap()
        .contains("[testbox] test notification"));
    assert!(d.last().json()["content"]
        .as_str()
        .unwrap()
        .contains("If you can read it, this channel works."));
    assert_eq!(n.last().header("tags"), Some("test_tube"));
    assert_eq!(n.last().header("priority"), Some("4"));
    let v = g.last().json();
    assert_eq!(
        (v["kind"].as_str(), v["status"].as_str()),
        (Some("test"), Some("test"))
    );
}

#[test]
fn test_notify_reaches_pushover_and_every_webhook_and_says_which_worked() {
    let p = pushover_receiver();
    let s = Receiver::start(Service::Slack);
    let d = Receiver::start(Service::Discord);
    let n = Receiver::start(Service::Ntfy {
        token: Some("tk_test".into()),
    });
    let g = Receiver::start(Service::Generic);
    let channels = format!(
        "{}{}{}{}{}",
        pushover_table(&p, ""),
        webhook_table("ops-slack", "slack", &s.url("/services/T0/B0/k"), ""),
        webhook_table("chat", "discord", &d.url("/api/webhooks/1/k"), ""),
        webhook_table("phone", "ntfy", &n.url("/topic"), "token = \"tk_test\""),
        webhook_table("api", "generic", &g.url("/g"), ""),
    );
    let f = fixture(&["pushover"], &channels);

    let out = f.run_ok(&["test-notify", "pushover"], 0);
    assert_eq!(stdout(&out).trim(), "pushover  delivered");
    assert_eq!((p.count(), s.count()), (1, 0), "only the channel named");
    no_violations(&p);
    assert_eq!(
        p.last().field("title").as_deref(),
        Some("[testbox] test notification")
    );

    let out = f.run_ok(&["test-notify"], 0);
    let text = stdout(&out);
    for c in ["pushover", "ops-slack", "chat", "phone", "api"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(c) && l.ends_with("  delivered")),
            "{c}: {text}"
        );
    }
    for r in [&p, &s, &d, &n, &g] {
        no_violations(r);
    }
    assert_eq!(
        (p.count(), s.count(), d.count(), n.count(), g.count()),
        (2, 1, 1, 1, 1)
    );
    assert!(s.last().json()["text"]
        .as_str()
        .unwrap()
        .starts_with("*[testbox] test notification*"));
    assert_eq!(n.last().header("tags"), Some("test_tube"));
    assert_eq!(g.last().json()["kind"], "test");

    s.force(404, "no_service");
    let out = f.run_ok(&["test-notify", "ops-slack"], 1);
    let expected = format!(
        "ops-slack  FAILED: webhook ops-slack (http://127.0.0.1:{}): HTTP 404: no_service",
        s.port
    );
    assert_eq!(stdout(&out).trim(), expected);
    let attempts: Vec<Value> = deliveries(&f, "ops-slack");
    assert_eq!(
        attempts.len(),
        2,
        "each attempt is in the history: {attempts:?}"
    );
    assert_eq!(
        (&attempts[0]["ok"], &attempts[1]["ok"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
}

/// An SMTP server that offers AUTH and refuses every login with `reply`, as servers that
/// echo the credentials they were sent do ("535 Authentication failed for :user:pass").
fn echoing_smtp(reply: String) -> u16 {
    SmtpServer::start_on(0, move |verb| match verb {
        "EHLO" => Smtp::Say("250-echo\r\n250 AUTH PLAIN LOGIN\r\n".into()),
        "AUTH" => Smtp::Say(format!("{reply}\r\n")),
        "QUIT" => Smtp::Quit,
        "RSET" | "NOOP" => Smtp::Say("250 OK\r\n".into()),
        _ => Smtp::Say("530 5.7.0 Authentication required\r\n".into()),
    })
    .port
}

#[test]
fn a_password_echoed_by_the_smtp_server_is_masked_everywhere_it_could_go() {
    let password = "Echoed-Pw-7731xq";
    let user = "checker@example.com";
    let port = echoing_smtp(format!(
        "535 5.7.8 Authentication failed for :{user}:{password}"
    ));
    let hook = Receiver::start(Service::Generic);
    let channels = format!(
        "[email]\nenabled = true\nfrom = \"{user}\"\nuser = \"{user}\"\npassword_env = \"CHECKER_TEST_SMTP_PASSWORD\"\n\
         smtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsmtp_security = \"none\"\n\
         imap_host = \"127.0.0.1\"\nimap_port = 1\nimap_security = \"none\"\nself_check = \"minute\"\ntimeout = \"5s\"\n\n{}",
        webhook_table("hook", "generic", &hook.url("/alerts"), "")
    );
    let f = fixture(&["email"], &channels);
    let env = [("CHECKER_TEST_SMTP_PASSWORD", password)];
    let run = |args: &[&str]| {
        let out = f.cmd().args(args).envs(env).output().unwrap();
        format!("{}{}", stdout(&out), stderr(&out))
    };
    let mut seen = String::new();
    seen += &run(&["-d", "-v", "-c", "minute"]);
    let state = f.state();
    assert_eq!(state["mail"]["ok"], false, "{state}");
    let why = state["mail"]["last_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("535 5.7.8 Authentication failed for :"),
        "{why}"
    );
    assert!(hook.count() >= 1, "the failures went to the webhook too");
    let server = support::peers::serve_with(&f, &env);
    let (code, body) = support::http::get(server.port, "/status.json", &[]);
    assert_eq!(code, 200);
    assert!(body.contains("MailProblem"), "{body}");
    seen += &body;
    for args in [
        &["peer-status", "--json"][..],
        &["peer-status"],
        &["status"],
        &["status", "--json"],
        &["history"],
        &["history", "--json"],
        &["test-notify", "email"],
        &["run-once", "--json"],
    ] {
        seen += &run(args);
    }
    seen += &std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    seen += &std::fs::read_to_string(f.path().join("state.json")).unwrap();
    for e in f.history() {
        seen += &e.to_string();
    }
    for r in hook.requests() {
        seen += &r.text();
    }
    assert!(
        seen.contains(&format!("Authentication failed for :{user}:***")),
        "the reply is kept, masked: {seen}"
    );
    assert!(!seen.contains(password), "the password leaked:\n{seen}");
}

/// A webhook endpoint that holds each request until `limit` are in flight at once (or
/// all that are left of `total` are), then `overlap` longer, counting how many it serves
/// at once: (port, requests served, most at once). Reaching `limit` does not depend on
/// timing; a request beyond it, sent together with the held ones, arrives while they are
/// held and is counted. The hold is bounded (10 s): a sender that never reaches `limit`
/// is let through, and seen in the count.
fn gated_endpoint(
    limit: usize,
    total: usize,
    overlap: Duration,
) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (served, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let now = Arc::new(AtomicUsize::new(0));
    let (s, m) = (served.clone(), most.clone());
    let server = Server::start(move |_| {
        let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(at_once, Ordering::SeqCst);
        let held = |n: usize| n < limit && n + s.load(Ordering::SeqCst) < total;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while held(now.load(Ordering::SeqCst)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(overlap);
        now.fetch_sub(1, Ordering::SeqCst);
        s.fetch_add(1, Ordering::SeqCst);
        Response::new(200, "text/plain", "ok").closing()
    });
    (server.port, served, most)
}

#[test]
fn a_backlog_of_alerts_goes_out_at_most_four_at_a_time_per_channel() {
    use std::sync::atomic::Ordering;
    let (port, served, most) = gated_endpoint(4, 30, Duration::from_millis(100));
    let f = fixture(
        &["hook"],
        &webhook_table("hook", "generic", &format!("http://127.0.0.1:{port}/h"), ""),
    );
    let mut jobs = String::new();
    for i in 0..30 {
        jobs.push_str(&format!(
            "[[job]]\nname = \"disk{i}\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\nfailures_before_notify = 1\n"
        ));
    }
    f.jobs(&jobs);
    f.tick("minute");
    // All 30 go out in one run, in rounds of at most 4 at once.
    assert_eq!(served.load(Ordering::SeqCst), 30);
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    assert_eq!(most.load(Ordering::SeqCst), 4, "deliveries at once");
    assert_eq!(deliveries(&f, "hook").len(), 30);
}

/// Events of kind `superseded`, oldest first.
fn superseded(f: &Fixture) -> Vec<Value> {
    f.events("superseded")
}

#[test]
fn after_a_webhook_outage_the_receivers_last_word_is_the_recovery_and_the_failures_are_superseded()
{
    // The receiver's port, with nothing listening on it yet: the receiver is down.
    let port = support::net::closed_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let f = fixture(&["hook"], &webhook_table("hook", "generic", &url, ""));
    f.write(
        "settings.toml",
        &settings(&["hook"], &webhook_table("hook", "generic", &url, "")).replace(
            "delivery_retry = \"1s\"",
            "delivery_retry = \"1s\"\nundeliverable_after = \"2s\"",
        ),
    );
    f.jobs(
        "[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\n\
         notify_every = \"every\"\nfailures_before_notify = 1\n",
    );
    // Three failing ticks while the receiver is down: three failure alerts decided.
    for _ in 0..3 {
        f.tick("minute");
    }
    let outbox = f.state()["outbox"].as_array().unwrap().clone();
    assert_eq!(outbox.len(), 3, "{outbox:#?}");
    assert!(outbox.iter().all(|e| e["alert"]["kind"] == "failure"));
    assert!(
        outbox[0]["attempts"].as_u64().unwrap() >= 1,
        "the first was tried: {outbox:#?}"
    );
    // The later ones wait behind the first rather than overtake it on a retry.
    assert_eq!(outbox[1]["attempts"], 0, "{outbox:#?}");
    assert_eq!(outbox[2]["attempts"], 0, "{outbox:#?}");

    // status shows the outbox: per channel, how many, the oldest, the last error.
    let out = f.run_ok(&["status", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let hook = &v["outbox"]["hook"];
    assert_eq!(hook["queued"], 3, "{v}");
    assert_eq!(hook["oldest"], outbox[0]["created"], "{v}");
    assert!(
        hook["last_error"].as_str().unwrap().contains("refused"),
        "{v}"
    );
    let text = stdout(&f.run_ok(&["status"], 0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("  hook  3 queued, oldest ") && l.contains("refused")),
        "{text}"
    );

    // Past undeliverable_after, peers hear that this instance cannot speak, and where.
    f.age_state(Duration::from_millis(2100));
    let outbox = f.state()["outbox"].as_array().unwrap().clone();
    let out = f.run_ok(&["peer-status", "--json"], 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["status"], "JobProblem", "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("alerts cannot be delivered through hook: 3 waiting since "),
        "{detail}"
    );
    assert_eq!(v["undeliverable"][0]["channel"], "hook", "{v}");
    assert_eq!(v["undeliverable"][0]["since"], outbox[0]["created"], "{v}");
    let server = support::peers::serve(&f);
    let (code, body) = support::http::get(server.port, "/status.json", &[]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "JobProblem", "{v}");
    assert_eq!(v["undeliverable"][0]["channel"], "hook", "{v}");
    drop(server);

    // The job recovers while the receiver is still down: the queued failures are dropped
    // as superseded, and only the recovery waits.
    pass(&f);
    f.tick("minute");
    let outbox = f.state()["outbox"].as_array().unwrap().clone();
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    assert_eq!(outbox[0]["alert"]["kind"], "recovery");
    let dropped = superseded(&f);
    assert_eq!(dropped.len(), 3, "{dropped:#?}");
    for e in &dropped {
        assert_eq!(e["job"], "disk");
        assert_eq!(e["channel"], "hook");
        let m = e["message"].as_str().unwrap();
        assert!(
            m.starts_with("not sent: [testbox] FAILED: disk — ")
                && m.contains("disk recovered at ")
                && m.contains("before it could be delivered"),
            "{m}"
        );
    }

    // The receiver is back: it hears the recovery, and never a failure after it.
    let r = Receiver::start_on(Service::Generic, port);
    f.age_state(Duration::from_millis(1100));
    f.tick("minute");
    f.tick("minute");
    no_violations(&r);
    let kinds: Vec<String> = r
        .requests()
        .iter()
        .map(|q| q.json()["kind"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(kinds, ["recovery"]);
    let last = r.last().json();
    assert!(
        last["subject"]
            .as_str()
            .unwrap()
            .starts_with(&recovered(&f)),
        "{last}"
    );
    assert_eq!(
        last["consecutive_failures"], 3,
        "it tells the outage it missed"
    );
    assert!(f.state()["outbox"].as_array().unwrap().is_empty());
    let out = f.run_ok(&["peer-status"], 0);
    assert_eq!(stdout(&out).trim(), "True");
}
