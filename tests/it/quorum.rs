//! Confirmation from other places (SPEC §12) end to end: three real instances on
//! loopback, each with its own settings, state and `checker serve`, all watching the same
//! target under the same job name; a local HTTP server answers each instance at its own
//! path (/a, /b, /c), failing the paths the test chooses. Also `/jobs.json` and
//! `checker jobs-json` themselves, command peers, hostile and slow peers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::http::{self as h, Response, Server};
use crate::support::net::silent_server;
use crate::support::peers::{self as p, Running};
use crate::support::{Fixture, BASE_SETTINGS};

/// The target: `/<site>` answers 500 while that site is set failing, else 200.
struct Target {
    server: Server,
    failing: Arc<Mutex<HashSet<String>>>,
}

impl Target {
    fn start() -> Target {
        let failing: Arc<Mutex<HashSet<String>>> = Arc::default();
        let seen = Arc::clone(&failing);
        let server = Server::start(move |r| {
            let site = r.path.trim_start_matches('/').to_string();
            if seen.lock().unwrap().contains(&site) {
                Response::new(500, "text/plain", "down from here")
            } else {
                Response::new(200, "text/plain", "up")
            }
        });
        Target { server, failing }
    }

    /// The sites from which the target fails from now on.
    fn fail_for(&self, sites: &[&str]) {
        *self.failing.lock().unwrap() = sites.iter().map(|s| s.to_string()).collect();
    }
}

/// One instance: its fixture and its `serve`.
struct Site {
    name: &'static str,
    f: Fixture,
    serve: Option<Running>,
}

/// Settings for the instance `name`, with `extra` (e.g. `[serve]`) and `peers`, each a
/// `[[peers]]` body after its name. Peer checks run daily, so that a minute tick only
/// runs the job under test.
fn settings(name: &str, extra: &str, peers: &[(&str, String)]) -> String {
    let mut s = BASE_SETTINGS.replace(
        "servername = \"testbox\"",
        &format!("servername = \"{name}\""),
    );
    s.push_str(extra);
    for (peer, how) in peers {
        s.push_str(&format!(
            "\n[[peers]]\nname = \"{peer}\"\n{how}\nfrequency = \"day\"\nnotify = [\"capture\"]\ntimeout = \"3s\"\n"
        ));
    }
    s
}

/// The job every site runs: "site", at the site's own path of the target, alerting once
/// per streak, confirmed by the other sites.
fn job(target: &Target, me: &str, others: &[&str], extra: &str) -> String {
    let with: Vec<String> = others.iter().map(|o| format!("\"{o}\"")).collect();
    format!(
        "[[job]]\nname = \"site\"\nkind = \"http\"\nurl = \"{}\"\ntimeout = \"3s\"\n\
         notify_every = \"state_change\"\nconfirm_with = [{}]\nconfirm_min = 2\n{extra}",
        target.server.url(&format!("/{me}")),
        with.join(", ")
    )
}

/// Three sites a, b and c watching `target`, each confirming with the two others over
/// their `serve`. `extra_job` is added to every site's job.
fn three_sites(target: &Target, extra_job: &str) -> Vec<Site> {
    let names = ["a", "b", "c"];
    let others =
        |me: &str| -> Vec<&'static str> { names.iter().copied().filter(|n| *n != me).collect() };
    let mut sites: Vec<Site> = names
        .iter()
        .map(|&name| {
            let f = Fixture::new();
            // `serve` reads its jobs at start: the peers' addresses come after.
            let placeholders: Vec<(&str, String)> = others(name)
                .into_iter()
                .map(|o| (o, "url = \"http://127.0.0.1:9/\"".to_string()))
                .collect();
            f.settings(&settings(name, "", &placeholders));
            f.jobs(&job(target, name, &others(name), extra_job));
            Site {
                name,
                f,
                serve: None,
            }
        })
        .collect();
    for s in &mut sites {
        s.serve = Some(p::serve(&s.f));
    }
    let urls: Vec<(&str, String)> = sites
        .iter()
        .map(|s| (s.name, s.serve.as_ref().unwrap().url("/")))
        .collect();
    for s in &sites {
        let peers: Vec<(&str, String)> = urls
            .iter()
            .filter(|(n, _)| *n != s.name)
            .map(|(n, u)| (*n, format!("url = \"{u}\"")))
            .collect();
        s.f.settings(&settings(s.name, "", &peers));
    }
    sites
}

/// One minute of the world: each site ticks, in order.
fn round(sites: &[Site]) {
    for s in sites {
        s.f.tick("minute");
    }
}

fn site_alerts(f: &Fixture) -> Vec<Value> {
    f.alerts()
        .into_iter()
        .filter(|a| a["job"] == "site")
        .collect()
}

fn kinds(alerts: &[Value]) -> Vec<&str> {
    alerts
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or("?"))
        .collect()
}

fn message(alert: &Value) -> &str {
    alert["message"].as_str().unwrap_or("")
}

/// `status --json`'s row of the job "site".
fn status_row(f: &Fixture) -> Value {
    let v: Value =
        serde_json::from_slice(&f.run_ok(&["status", "--json"], 0).stdout).expect("status --json");
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "site")
        .cloned()
        .expect("a row for site")
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn confirmations(f: &Fixture) -> Vec<(bool, String)> {
    f.events("confirmation")
        .iter()
        .map(|e| {
            (
                e["ok"].as_bool().unwrap_or(false),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn with_confirm_min_2_a_failure_seen_from_one_place_sends_nothing_and_status_names_the_places() {
    let target = Target::start();
    let sites = three_sites(&target, "");
    round(&sites);
    target.fail_for(&["a"]);
    for _ in 0..3 {
        round(&sites);
    }
    for s in &sites {
        assert_eq!(site_alerts(&s.f), Vec::<Value>::new(), "{}", s.name);
    }
    let a = &sites[0].f;
    assert_eq!(a.job_state("site")["status"], "failing");
    let row = status_row(a);
    assert_eq!(names(&row["confirmed_by"]), ["a"]);
    assert_eq!(names(&row["not_confirmed_by"]), ["b", "c"]);
    assert_eq!(
        row["confirmation"],
        "not confirmed: seen failing by 1 of 3 places (2 needed): a; not by b (sees it ok), c (sees it ok)"
    );
    // Each held-back alert is a decision in the history.
    let held = confirmations(a);
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held
        .iter()
        .all(|(ok, m)| !ok && m.starts_with("not confirmed")));
    let text = String::from_utf8_lossy(&a.run_ok(&["status"], 0).stdout).into_owned();
    assert!(
        text.contains(
            "confirmation from other places:\n  site: not confirmed: seen failing by 1 of 3 places"
        ),
        "{text}"
    );
    let history =
        String::from_utf8_lossy(&a.run_ok(&["history", "--job", "site"], 0).stdout).into_owned();
    assert!(history.contains("not confirmed"), "{history}");
    // `list` says how many places must see it.
    let list: Value = serde_json::from_slice(&a.run_ok(&["list", "--json"], 0).stdout).unwrap();
    assert_eq!(
        list["jobs"][0]["confirm"],
        serde_json::json!({"with": ["b", "c"], "min": 2, "job": null, "unknown": "not_confirming"})
    );
    let text = String::from_utf8_lossy(&a.run_ok(&["list"], 0).stdout).into_owned();
    assert!(text.contains("seen by 2 of 3 places (with b, c)"), "{text}");
    // The sites that see it pass show no confirmation, only the empty columns.
    let row = status_row(&sites[1].f);
    assert_eq!(row["state"], "ok");
    assert_eq!(names(&row["confirmed_by"]), Vec::<&str>::new());
    assert!(row["confirmation"].is_null());
}

#[test]
fn a_failure_seen_from_two_places_sends_one_alert_from_each_naming_both_then_recovers() {
    let target = Target::start();
    let sites = three_sites(&target, "");
    round(&sites);
    target.fail_for(&["a", "b"]);
    // a ticks first and hears b's passing check of the minute before: held back; b hears
    // a's failure: confirmed. A minute later a hears b's.
    round(&sites);
    assert_eq!(kinds(&site_alerts(&sites[0].f)), Vec::<&str>::new());
    assert_eq!(kinds(&site_alerts(&sites[1].f)), ["failure"]);
    round(&sites);
    round(&sites);
    let (a, b, c) = (&sites[0].f, &sites[1].f, &sites[2].f);
    assert_eq!(kinds(&site_alerts(a)), ["failure"], "one alert per streak");
    assert_eq!(kinds(&site_alerts(b)), ["failure"]);
    assert_eq!(kinds(&site_alerts(c)), Vec::<&str>::new());
    assert_eq!(
        message(&site_alerts(a)[0]),
        "HTTP 500 (expected 200) — confirmed by 2 of 3 places (2 needed): a, b; not by c (sees it ok)"
    );
    assert_eq!(
        message(&site_alerts(b)[0]),
        "HTTP 500 (expected 200) — confirmed by 2 of 3 places (2 needed): b, a; not by c (sees it ok)"
    );
    let row = status_row(a);
    assert_eq!(names(&row["confirmed_by"]), ["a", "b"]);
    assert_eq!(names(&row["not_confirmed_by"]), ["c"]);
    assert!(confirmations(a)
        .iter()
        .any(|(ok, m)| *ok && m.starts_with("confirmed by 2 of 3")));

    // It mends for b: b's own check recovers; a, still failing, hears b pass a minute
    // later and ends its alert as no longer confirmed.
    target.fail_for(&["a"]);
    round(&sites);
    assert_eq!(kinds(&site_alerts(b)), ["failure", "recovery"]);
    round(&sites);
    let alerts = site_alerts(a);
    assert_eq!(kinds(&alerts), ["failure", "recovery"]);
    assert_eq!(
        message(&alerts[1]),
        "no longer confirmed: seen failing by 1 of 3 places (2 needed): a; not by b (sees it ok), c (sees it ok); still failing here: HTTP 500 (expected 200)"
    );
    assert_eq!(a.job_state("site")["status"], "failing", "a still sees it");
    // And for a: its own check passes, nothing more to say (the alert already ended).
    target.fail_for(&[]);
    round(&sites);
    assert_eq!(kinds(&site_alerts(a)), ["failure", "recovery"]);
    assert_eq!(kinds(&site_alerts(c)), Vec::<&str>::new());

    // A new failure seen from a and c, mended everywhere: each recovers by its own check.
    target.fail_for(&["a", "c"]);
    round(&sites);
    round(&sites);
    target.fail_for(&[]);
    round(&sites);
    assert_eq!(
        kinds(&site_alerts(a)),
        ["failure", "recovery", "failure", "recovery"]
    );
    assert_eq!(kinds(&site_alerts(c)), ["failure", "recovery"]);
    assert!(message(&site_alerts(c)[1]).starts_with("HTTP 200"));
    assert_eq!(kinds(&site_alerts(b)), ["failure", "recovery"]);
}

#[test]
fn one_peer_down_counts_as_not_confirming_or_as_failing_as_confirm_unknown_says() {
    let target = Target::start();
    let mut sites = three_sites(&target, "");
    round(&sites);
    // c's serve goes away; the target fails for a only.
    drop(sites[2].serve.take());
    target.fail_for(&["a"]);
    round(&sites[..2]);
    round(&sites[..2]);
    let a = &sites[0].f;
    assert_eq!(kinds(&site_alerts(a)), Vec::<&str>::new());
    let row = status_row(a);
    assert_eq!(names(&row["not_confirmed_by"]), ["b", "c"]);
    let words = row["confirmation"].as_str().unwrap();
    assert!(
        words.ends_with("not by b (sees it ok), c (no answer: connection refused)"),
        "{words}"
    );

    // The same with confirm_unknown = "failing": c counts as seeing it, and says why.
    a.jobs(&job(
        &target,
        "a",
        &["b", "c"],
        "confirm_unknown = \"failing\"\n",
    ));
    a.tick("minute");
    let alerts = site_alerts(a);
    assert_eq!(kinds(&alerts), ["failure"]);
    assert_eq!(
        message(&alerts[0]),
        "HTTP 500 (expected 200) — confirmed by 2 of 3 places (2 needed): a, c (counted as failing: no answer: connection refused); not by b (sees it ok)"
    );
    assert_eq!(names(&status_row(a)["confirmed_by"]), ["a", "c"]);

    // Back to not_confirming, with a and b failing: they confirm each other; c is named.
    a.jobs(&job(&target, "a", &["b", "c"], ""));
    target.fail_for(&["a", "b"]);
    round(&sites[..2]);
    round(&sites[..2]);
    let b = &sites[1].f;
    assert_eq!(kinds(&site_alerts(b)), ["failure"]);
    assert!(
        message(&site_alerts(b)[0]).ends_with(
            "confirmed by 2 of 3 places (2 needed): b, a; not by c (no answer: connection refused)"
        ),
        "{}",
        message(&site_alerts(b)[0])
    );
    // A peer that does not answer never ends an alert: b's stays open while c is down.
    round(&sites[..2]);
    assert_eq!(kinds(&site_alerts(b)), ["failure"]);
}

#[test]
fn a_peer_whose_cron_stopped_is_unknown_and_says_how_old_its_check_is() {
    let target = Target::start();
    let sites = three_sites(&target, "");
    round(&sites);
    target.fail_for(&["a", "b"]);
    sites[1].f.tick("minute");
    // b's last check is now ten minutes old: its failure counts for nothing.
    sites[1].f.age_state(Duration::from_secs(600));
    sites[0].f.tick("minute");
    let row = status_row(&sites[0].f);
    let words = row["confirmation"].as_str().unwrap();
    assert!(
        words.contains(
            "b (its last check of \"site\" is 10m old, more than twice its interval of 1m)"
        ),
        "{words}"
    );
    assert_eq!(kinds(&site_alerts(&sites[0].f)), Vec::<&str>::new());
}

#[test]
fn jobs_json_is_served_with_the_token_printed_by_jobs_json_and_asked_of_command_peers() {
    let target = Target::start();
    // b: a serve that requires a token. c: asked over a command (its own `jobs-json`).
    let (a, b, c) = (Fixture::new(), Fixture::new(), Fixture::new());
    let token = "[serve]\ntoken = \"s3cret-token-16chars\"\n";
    b.settings(&settings("b", token, &[]));
    b.jobs(&job(&target, "b", &[], "").replace("confirm_with = []\nconfirm_min = 2\n", ""));
    c.settings(&settings("c", "", &[]));
    c.jobs(&job(&target, "c", &[], "").replace("confirm_with = []\nconfirm_min = 2\n", ""));
    let serve_b = p::serve(&b);
    let checker = env!("CARGO_BIN_EXE_checker");
    let c_command = format!(
        "command = [\"{checker}\", \"-f\", \"{}\", \"peer-status\"]",
        c.settings_path().display()
    );
    let peers = [
        (
            "b",
            format!(
                "url = \"{}\"\ntoken = \"s3cret-token-16chars\"",
                serve_b.url("/")
            ),
        ),
        ("c", c_command),
    ];
    a.settings(&settings("a", "", &peers));
    a.jobs(&job(&target, "a", &["b", "c"], ""));
    for f in [&b, &c, &a] {
        f.tick("minute");
    }

    // The token guards /jobs.json as every path.
    let (code, _) = h::get(serve_b.port, "/jobs.json", &[]);
    assert_eq!(code, 401);
    let (code, body) = h::get(
        serve_b.port,
        "/jobs.json",
        &[("Authorization", "Bearer s3cret-token-16chars")],
    );
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["servername"], "b");
    assert!(v["generated_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let entry = &v["jobs"][0];
    assert_eq!(entry["job"], "site");
    assert_eq!(entry["state"], "ok");
    assert_eq!(entry["ok"], true);
    assert_eq!(entry["consecutive_failures"], 0);
    assert!(entry["failing_since"].is_null());
    assert!(entry["last_run"].is_string());
    assert!(
        entry["message"].as_str().unwrap().starts_with("HTTP 200"),
        "{entry}"
    );
    assert_eq!(entry["interval_seconds"], 60);
    // `checker jobs-json` prints the same shape.
    let out: Value = serde_json::from_slice(&c.run_ok(&["jobs-json"], 0).stdout).unwrap();
    assert_eq!(out["servername"], "c");
    assert_eq!(out["jobs"][0]["job"], "site");
    assert_eq!(out["jobs"][0]["state"], "ok");

    // a and c fail: a hears c through its command and alerts.
    target.fail_for(&["a", "c"]);
    c.tick("minute");
    a.tick("minute");
    let alerts = site_alerts(&a);
    assert_eq!(kinds(&alerts), ["failure"]);
    assert_eq!(
        message(&alerts[0]),
        "HTTP 500 (expected 200) — confirmed by 2 of 3 places (2 needed): a, c; not by b (sees it ok)"
    );

    // A wrong token is said as such; the token itself is never shown.
    let peers = [
        (
            "b",
            format!(
                "url = \"{}\"\ntoken = \"wrong-token-16chars!\"",
                serve_b.url("/")
            ),
        ),
        ("c", peers[1].1.clone()),
    ];
    a.settings(&settings("a", "", &peers));
    a.tick("minute");
    let words = status_row(&a)["confirmation"].as_str().unwrap().to_string();
    assert!(
        words.contains("b (it answered HTTP 401: is its `token` right?)"),
        "{words}"
    );
    assert!(!std::fs::read_to_string(a.path().join("state.json"))
        .unwrap()
        .contains("wrong-token"));
}

#[test]
fn hostile_peer_answers_count_as_unknown_say_why_and_never_crash_a_tick() {
    let target = Target::start();
    target.fail_for(&["a"]);
    let huge = format!(
        "{{\"jobs\": [{{\"job\": \"site\", \"message\": \"{}\"}}]}}",
        "x".repeat(5 << 20)
    );
    let hostile = Server::start(move |r| match r.path.as_str() {
        "/garbage/jobs.json" => Response::new(200, "application/json", "{\"jobs\": [1, 2,"),
        "/huge/jobs.json" => Response::new(200, "application/json", huge.clone()),
        "/array/jobs.json" => Response::new(200, "application/json", "[{\"job\": \"site\"}]"),
        "/failing/jobs.json" => Response::new(500, "text/plain", "oops"),
        "/nojob/jobs.json" => Response::json(
            200,
            serde_json::json!({"jobs": [{"job": "other", "state": "failing"}]}),
        ),
        // A peer that claims the job fails, with a check from the future and an absurd
        // interval: read as it says, within bounds.
        _ => Response::json(
            200,
            serde_json::json!({"jobs": [{"job": "site", "state": "failing",
            "last_run": "2999-01-01T00:00:00Z", "interval_seconds": 1e300, "message": 7}]}),
        ),
    });
    let peers: Vec<(&str, String)> = ["garbage", "huge", "array", "failing", "nojob", "odd"]
        .iter()
        .map(|n| (*n, format!("url = \"{}\"", hostile.url(&format!("/{n}/")))))
        .collect();
    let a = Fixture::new();
    a.settings(&settings("a", "", &peers));
    let with: Vec<&str> = peers.iter().map(|(n, _)| *n).collect();
    a.jobs(&job(&target, "a", &with, "").replace("confirm_min = 2\n", "confirm_min = 3\n"));
    a.tick("minute");
    let words = status_row(&a)["confirmation"].as_str().unwrap().to_string();
    for why in [
        "garbage (malformed answer: EOF while parsing a value at line 1 column 15)",
        "huge (its answer is larger than 4 MiB)",
        "array (malformed answer: not a JSON object)",
        "failing (it answered HTTP 500)",
        "nojob (it has no job \"site\")",
    ] {
        assert!(words.contains(why), "{why}: {words}");
    }
    assert!(
        words.starts_with("not confirmed: seen failing by 2 of 7 places (3 needed): a, odd;"),
        "{words}"
    );
    assert_eq!(kinds(&site_alerts(&a)), Vec::<&str>::new());
}

#[test]
fn a_silent_peer_costs_nothing_while_the_checks_pass_and_at_most_the_timeout_when_one_fails() {
    let target = Target::start();
    let silent = silent_server();
    let a = Fixture::new();
    a.settings(&settings(
        "a",
        "",
        &[("quiet", format!("url = \"http://127.0.0.1:{silent}/\""))],
    ));
    a.jobs(
        &job(&target, "a", &["quiet"], "")
            .replace("confirm_min = 2\n", "confirm_unknown = \"failing\"\n"),
    );
    // Passing: the answer is not waited for.
    let started = Instant::now();
    a.tick("minute");
    let passing = started.elapsed();
    assert!(
        passing < Duration::from_millis(2500),
        "a passing tick waited for the silent peer: {passing:?}"
    );
    // Failing: waited for up to the job's timeout (3s), then counted as it says.
    target.fail_for(&["a"]);
    let started = Instant::now();
    a.tick("minute");
    let failing = started.elapsed();
    assert!(
        failing >= Duration::from_secs(3) && failing < Duration::from_secs(10),
        "{failing:?}"
    );
    let alerts = site_alerts(&a);
    assert_eq!(kinds(&alerts), ["failure"]);
    assert_eq!(
        message(&alerts[0]),
        "HTTP 500 (expected 200) — confirmed by 2 of 2 places (2 needed): a, quiet (counted as failing: no answer: timed out after 3s)"
    );
}
