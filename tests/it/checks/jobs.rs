//! The new kinds and keys through the real binary: job files with tls_cert, file, dns,
//! `json` and `not_contains`; `targets` expansion and its errors; retried attempts in the
//! history; Debian's monitoring plugins as command jobs; and a tick with hung targets.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::dns::Dnsmasq;
use crate::support::http::{FixedHttp, HttpServer};
use crate::support::jobs::plugin;
use crate::support::net::HungListener;
use crate::support::tls::*;
use crate::support::{self, stderr, stdout, Fixture};

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\nstderr:\n{}", stdout(out), stderr(out)))
}

/// `run-once --json` results, by job name: (ok, message).
fn results(out: &std::process::Output) -> Vec<(String, bool, String)> {
    json(out)["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["job"].as_str().unwrap().to_string(),
                r["ok"].as_bool().unwrap(),
                r["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn result_of(out: &std::process::Output, job: &str) -> (bool, String) {
    results(out)
        .into_iter()
        .find(|(j, _, _)| j == job)
        .map(|(_, ok, m)| (ok, m))
        .unwrap_or_else(|| panic!("no result for {job}:\n{}", stdout(out)))
}

/// Runs `validate`, insists on exit 2 and returns stderr.
fn validate_fails(f: &Fixture) -> String {
    let out = f.run(&["validate"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    stderr(&out)
}

fn jobs_file(f: &Fixture) -> String {
    f.path().join("jobs/jobs.toml").display().to_string()
}

/// History events of `job`, oldest first.
fn events_of(f: &Fixture, job: &str) -> Vec<Value> {
    f.history()
        .into_iter()
        .filter(|e| e["job"] == job)
        .collect()
}

// ------------------------------------------------------------------- new kinds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cert_file_and_dns_jobs_run_from_job_files() {
    let tls = TlsCertServer::start().await;
    let dns = Dnsmasq::start();
    let f = Fixture::new();
    f.write("jobs/data/export.csv", "id,name\n1,a\n");
    f.jobs(&format!(
        r#"
[[job]]
name = "cert"
kind = "tls_cert"
host = "127.0.0.1"
port = {tls}
sni = "soon.test"
warn_days = 7

[[job]]
name = "cert soon"
kind = "tls_cert"
host = "127.0.0.1"
port = {tls}
sni = "soon.test"

[[job]]
name = "export"
kind = "file"
path = "data/export.csv"
max_age = "1h"
min_size = 10

[[job]]
name = "www"
kind = "dns"
query = "www.example.test"
record = "a"
expect = ["192.0.2.10", "192.0.2.11"]
server = "{dns}"

[[job]]
name = "mail"
kind = "dns"
query = "example.test"
record = "MX"
expect = "mx9.example.test"
server = "{dns}"
"#,
        tls = tls.port(),
        dns = dns.server()
    ));
    let out = tokio::task::spawn_blocking(move || {
        let out = f.run(&["run-once", "--json"]);
        (f, out)
    })
    .await
    .unwrap();
    let (f, out) = out;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (ok, message) = result_of(&out, "cert");
    assert!(ok, "{message}");
    assert!(
        message.contains("soon.test") && message.contains("expires in 10 days"),
        "{message}"
    );
    let (ok, message) = result_of(&out, "cert soon");
    assert!(!ok);
    assert!(message.ends_with("within warn_days (30)"), "{message}");
    let (ok, message) = result_of(&out, "export");
    assert!(ok, "{message}");
    let path = f.path().join("jobs/data/export.csv");
    assert!(
        message.starts_with(&format!("file {}: 12 B, modified ", path.display())),
        "{message}"
    );
    let (ok, message) = result_of(&out, "www");
    assert!(ok, "{message}");
    let (ok, message) = result_of(&out, "mail");
    assert!(!ok);
    assert_eq!(
        message,
        "example.test MX: 10 mx1.example.test; expected \"mx9.example.test\" is not among them"
    );
    assert_eq!(
        tls.snis(),
        vec![Some("soon.test".to_string()), Some("soon.test".to_string())]
    );

    let list = json(&f.run_ok(&["list", "--json"], 0));
    let text = list.to_string();
    assert!(
        text.contains("tls_cert") && text.contains("\"dns\"") && text.contains("\"file\""),
        "{text}"
    );
}

#[test]
fn json_and_not_contains_come_from_the_job_file() {
    let server = FixedHttp::start(&[
        ("/down", 200, r#"{"status": "down", "count": 3}"#),
        (
            "/up",
            200,
            r#"{"status": "ok", "count": 3, "note": "all fine"}"#,
        ),
    ]);
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "down"
kind = "http"
url = "{down}"
json = {{ "/status" = "ok", "/count" = 3 }}

[[job]]
name = "up"
kind = "http"
url = "{up}"
json = {{ "/status" = "ok", "/count" = 3 }}
not_contains = "error"

[[job]]
name = "fine"
kind = "http"
url = "{up}"
not_contains = "fine"
"#,
        down = server.url("/down"),
        up = server.url("/up")
    ));
    let out = f.run_ok(&["run-once", "--json"], 1);
    assert_eq!(
        result_of(&out, "down"),
        (
            false,
            "JSON /status is \"down\", expected \"ok\"".to_string()
        )
    );
    assert!(result_of(&out, "up").0);
    assert_eq!(
        result_of(&out, "fine"),
        (false, "body contains \"fine\"".to_string())
    );
}

#[test]
fn bad_values_of_the_new_keys_are_reported_with_file_and_line() {
    let f = Fixture::new();
    f.jobs(
        r#"[[job]]
name = "cert"
kind = "tls_cert"
host = "example.com"
warn_days = -1
ca_file = "ca.pem"

[[job]]
name = "sni"
kind = "tls_cert"
host = "example.com"
sni = "not a name"

[[job]]
name = "file"
kind = "file"
path = "x"
min_size = -5

[[job]]
name = "dns"
kind = "dns"
query = "example.com"
record = "SRV"
server = "localhost:53"

[[job]]
name = "api"
kind = "http"
url = "http://127.0.0.1/"
json = { "status" = "ok" }

[[job]]
name = "port"
kind = "tcp"
host = "127.0.0.1"
port = 22
warn_days = 3

[[job]]
name = "no query"
kind = "dns"
"#,
    );
    let err = validate_fails(&f);
    let file = jobs_file(&f);
    for (line, text) in [
        (5, "`warn_days` = -1 is out of range"),
        (6, "`ca_file` is used only with `verify = true`"),
        (12, "`sni` \"not a name\" is not a valid host name or IP address"),
        (18, "`min_size` = -5"),
        (24, "`record` = \"SRV\" is not supported: use one of \"A\", \"AAAA\", \"CNAME\", \"MX\", \"TXT\", \"NS\""),
        (25, "`server` = \"localhost:53\" is not an IP address"),
        (31, "`json` key \"status\" is not a JSON pointer"),
        (38, "`warn_days` belongs to kind \"tls_cert\", not \"tcp\""),
        (40, "kind \"dns\" needs `query`"),
    ] {
        let want = format!("{file}:{line}: ");
        assert!(
            err.lines().any(|l| l.contains(&want) && l.contains(text)),
            "no problem {text:?} at {want}:\n{err}"
        );
    }
}

#[test]
fn http_and_tls_cert_jobs_trust_a_self_signed_certificate_listed_in_their_ca_file() {
    let f = Fixture::new();
    // The usual hand-made certificate, written next to the job files.
    let (cert, key) = openssl_self_signed(&f.path().join("jobs"), "localhost", None);
    let (chain, key) = pem_pair(&cert, &key);
    let https = HttpsOk::start(chain, key);
    let port = https.port;
    f.jobs(&format!(
        r#"[[job]]
name = "site"
kind = "http"
url = "https://localhost:{port}/"
ca_file = "localhost.crt"

[[job]]
name = "site untrusted"
kind = "http"
url = "https://localhost:{port}/"

[[job]]
name = "cert"
kind = "tls_cert"
host = "localhost"
port = {port}
verify = true
ca_file = "localhost.crt"
"#
    ));
    f.run_ok(&["validate"], 0);
    let out = f.run_ok(&["run-once", "--json"], 1);
    let (ok, message) = result_of(&out, "site");
    assert!(ok, "{message}");
    assert_eq!(message.split(" in ").next(), Some("HTTP 200"));
    let (ok, message) = result_of(&out, "site untrusted");
    assert!(!ok);
    assert!(
        message.contains("ca_file"),
        "the error says what to do: {message}"
    );
    let (ok, message) = result_of(&out, "cert");
    assert!(ok, "{message}");
}

#[test]
fn ca_file_with_accept_invalid_certs_is_a_validate_error_on_an_http_job() {
    let f = Fixture::new();
    f.jobs(
        "[[job]]\nname = \"api\"\nkind = \"http\"\nurl = \"https://127.0.0.1/\"\n\
         accept_invalid_certs = true\nca_file = \"ca.pem\"\n",
    );
    let err = validate_fails(&f);
    let want = format!("{}:6: ", jobs_file(&f));
    assert!(
        err.lines().any(|l| l.contains(&want)
            && l.contains("`ca_file` and `accept_invalid_certs = true` contradict each other")),
        "{err}"
    );
}

// --------------------------------------------------------------------- targets

#[test]
fn targets_expand_one_table_into_one_job_per_target_each_with_its_own_state() {
    let up = HttpServer::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "site {{target}}"
kind = "http"
url = "http://127.0.0.1:{{target}}/health"
headers = {{ "X-Target" = "t-{{target}}" }}
targets = ["{up}", "{closed}"]
description = "port {{target}}"
"#,
        up = up.port
    ));
    let out = f.run_ok(&["run-once", "--json"], 1);
    let got = results(&out);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(result_of(&out, &format!("site {}", up.port)).0);
    assert!(!result_of(&out, &format!("site {closed}")).0);
    assert_eq!(f.job_state(&format!("site {}", up.port))["status"], "ok");
    assert_eq!(f.job_state(&format!("site {closed}"))["status"], "failing");
    let list = json(&f.run_ok(&["list", "--json"], 0)).to_string();
    assert!(
        list.contains(&format!("http://127.0.0.1:{closed}/health")),
        "{list}"
    );
}

#[test]
fn target_is_replaced_in_lists_and_table_values_too() {
    let f = Fixture::new();
    f.jobs(
        r#"
[[job]]
name = "echo {target}"
kind = "command"
command = ["/bin/sh", "-c", "echo \"OK $GREETING {target}\""]
env = { GREETING = "hello-{target}" }
targets = ["alpha", "beta"]
"#,
    );
    let out = f.run_ok(&["run-once", "--json"], 0);
    assert_eq!(
        result_of(&out, "echo alpha"),
        (true, "OK hello-alpha alpha".to_string())
    );
    assert_eq!(
        result_of(&out, "echo beta"),
        (true, "OK hello-beta beta".to_string())
    );
}

#[test]
fn an_expanded_name_without_target_is_a_validation_error_with_file_and_line() {
    let f = Fixture::new();
    f.jobs(
        r#"
[[job]]
name = "site"
kind = "tcp"
host = "{target}"
port = 443
targets = ["a.example", "b.example"]
"#,
    );
    let err = validate_fails(&f);
    let want = format!(
        "{}:3: job \"site\": with 2 `targets` every job would be named \"site\"",
        jobs_file(&f)
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("put {target} in `name`"), "{err}");
}

#[test]
fn a_name_collision_after_expansion_is_a_validation_error_with_file_and_line() {
    let f = Fixture::new();
    f.jobs(
        r#"
[[job]]
name = "host a.example"
kind = "tcp"
host = "a.example"
port = 22

[[job]]
name = "host {target}"
kind = "tcp"
host = "{target}"
port = 22
targets = ["a.example", "b.example", "b.example"]

[[job]]
name = "empty {target}"
kind = "tcp"
host = "{target}"
port = 22
targets = []
"#,
    );
    let err = validate_fails(&f);
    let file = jobs_file(&f);
    assert!(
        err.contains(&format!(
            "{file}:8: duplicate job name \"host a.example\": already defined at {file}:2"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:8: duplicate job name \"host b.example\": already defined at {file}:8"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:20: job \"empty {{target}}\": `targets` is empty"
        )),
        "{err}"
    );
}

// --------------------------------------------------------------------- retries

#[test]
fn each_retried_attempt_is_in_the_history_and_only_the_final_result_counts() {
    let unavailable = HttpServer::start();
    unavailable.set_status(503);
    let missing = HttpServer::start();
    missing.set_status(404);
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "unavailable"
kind = "http"
url = "{u}"
retries = 2
retry_backoff = "10ms"

[[job]]
name = "missing"
kind = "http"
url = "{m}"
retries = 2
retry_backoff = "10ms"
"#,
        u = unavailable.url("/"),
        m = missing.url("/")
    ));
    f.run_ok(&["run-once"], 1);
    assert_eq!(unavailable.hits(), 3);
    assert_eq!(missing.hits(), 1);

    let events = events_of(&f, "unavailable");
    let results: Vec<_> = events.iter().filter(|e| e["event"] == "result").collect();
    assert_eq!(results.len(), 3, "{results:#?}");
    let shape: Vec<_> = results
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64(),
                e["final"].as_bool(),
                e["ok"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (Some(1), Some(false), Some(false)),
            (Some(2), Some(false), Some(false)),
            (Some(3), Some(true), Some(false))
        ]
    );
    assert!(
        results
            .iter()
            .all(|e| e["message"] == "HTTP 503 (expected 200)"),
        "{results:#?}"
    );
    assert_eq!(results[2]["attempts"], 3);

    let events = events_of(&f, "missing");
    let results: Vec<_> = events.iter().filter(|e| e["event"] == "result").collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(
        results[0].get("attempt").is_none() && results[0].get("final").is_none(),
        "{:?}",
        results[0]
    );

    // history --json shows the attempts; status counts one attempt of each job.
    let history = json(&f.run_ok(&["history", "--json", "--job", "unavailable"], 0));
    let attempts: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "result")
        .collect();
    // Newest first.
    let numbers: Vec<_> = attempts.iter().map(|e| e["attempt"].as_u64()).collect();
    assert_eq!(numbers, vec![Some(3), Some(2), Some(1)], "{history}");
    let status = json(&f.run_ok(&["status", "--json"], 0));
    for job in status["jobs"].as_array().unwrap() {
        assert_eq!(job["total_attempts"], 1, "{job}");
        assert_eq!(job["failed"], 1, "{job}");
    }
    // One failure in a row, not three.
    assert_eq!(f.job_state("unavailable")["consecutive_failures"], 1);
}

// --------------------------------------------------------------------- plugins

#[test]
fn check_tcp_passes_on_an_open_port_and_its_perfdata_shows_in_status_and_history() {
    let server = HttpServer::start();
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "port"
kind = "command"
command = ["{check_tcp}", "-H", "127.0.0.1", "-p", "{port}"]
"#,
        check_tcp = plugin("check_tcp"),
        port = server.port
    ));
    let out = f.run_ok(&["run-once", "--json"], 0);
    let (ok, message) = result_of(&out, "port");
    assert!(ok);
    assert!(message.starts_with("TCP OK - "), "{message}");

    let status = json(&f.run_ok(&["status", "--json"], 0));
    let perf = &status["jobs"][0]["perfdata"];
    assert_eq!(perf[0]["label"], "time", "{status}");
    assert_eq!(perf[0]["uom"], "s");
    assert_eq!(perf[0]["max"], 10.0);

    let history = json(&f.run_ok(&["history", "--json"], 0));
    let result = history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "result")
        .expect("a result event");
    assert_eq!(result["perfdata"][0]["label"], "time", "{result}");
}

#[test]
fn check_tcp_on_a_closed_port_is_critical_and_fails() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "port"
kind = "command"
command = ["{check_tcp}", "-H", "127.0.0.1", "-p", "{closed}"]
retries = 2
retry_backoff = "10ms"
"#,
        check_tcp = plugin("check_tcp")
    ));
    let out = f.run_ok(&["run-once", "--json"], 1);
    let (ok, message) = result_of(&out, "port");
    assert!(!ok);
    assert!(message.starts_with("CRITICAL: "), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
    // A CRITICAL is a verdict, not a blip: never retried.
    assert_eq!(json(&out)["results"][0]["attempts"], 1);
}

#[test]
fn a_check_http_warning_fails_unless_warning_is_failure_is_false() {
    // check_http reads to the end of the connection: answers that close it.
    let server = FixedHttp::start(&[("/gone", 404, "gone"), ("/ok", 200, "fine")]);
    let f = Fixture::new();
    f.jobs(&format!(
        r#"
[[job]]
name = "strict"
kind = "command"
command = ["{check_http}", "-H", "127.0.0.1", "-p", "{port}", "-u", "/gone"]

[[job]]
name = "lenient"
kind = "command"
command = ["{check_http}", "-H", "127.0.0.1", "-p", "{port}", "-u", "/gone"]
warning_is_failure = false

[[job]]
name = "healthy"
kind = "command"
command = ["{check_http}", "-H", "127.0.0.1", "-p", "{port}", "-u", "/ok"]
"#,
        check_http = plugin("check_http"),
        port = server.port
    ));
    let out = f.run_ok(&["run-once", "--json"], 1);
    let (ok, message) = result_of(&out, "strict");
    assert!(!ok);
    assert!(
        message.starts_with("HTTP WARNING: HTTP/1.1 404"),
        "{message}"
    );
    let (ok, message) = result_of(&out, "lenient");
    assert!(ok, "{message}");
    assert!(message.starts_with("HTTP WARNING"), "{message}");
    assert_eq!(f.job_state("lenient")["status"], "ok");
    // check_http reports time and size.
    let status = json(&f.run_ok(&["status", "--json"], 0));
    let labels: Vec<_> = status["jobs"][0]["perfdata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].clone())
        .collect();
    assert_eq!(labels, vec!["time", "size"], "{status}");
    let (ok, message) = result_of(&out, "healthy");
    assert!(ok, "{message}");
    assert!(message.starts_with("HTTP OK: HTTP/1.1 200"), "{message}");
}

#[test]
fn check_disk_ok_passes_and_warning_fails() {
    let f = Fixture::new();
    let check_disk = plugin("check_disk");
    let dir = f.path().display().to_string();
    f.jobs(&format!(
        r#"
[[job]]
name = "disk ok"
kind = "command"
command = ["{check_disk}", "-w", "0%", "-c", "0%", "-p", "{dir}"]

[[job]]
name = "disk warning"
kind = "command"
command = ["{check_disk}", "-w", "100%", "-c", "0%", "-p", "{dir}"]
"#
    ));
    let out = f.run_ok(&["run-once", "--json"], 1);
    let (ok, message) = result_of(&out, "disk ok");
    assert!(ok, "{message}");
    assert!(message.starts_with("DISK OK"), "{message}");
    let (ok, message) = result_of(&out, "disk warning");
    assert!(!ok);
    assert!(message.starts_with("DISK WARNING"), "{message}");
    let history = json(&f.run_ok(&["history", "--json", "--job", "disk ok"], 0));
    assert!(
        !history[0]["perfdata"].as_array().unwrap().is_empty(),
        "{history}"
    );
}

// ---------------------------------------------------------------- hung targets

#[test]
fn a_tick_with_ten_hung_targets_among_a_hundred_ends_in_about_one_timeout() {
    let fast = HttpServer::start();
    let hung: Vec<HungListener> = (0..10).map(|_| HungListener::start()).collect();
    let f = Fixture::new();
    let mut jobs = String::new();
    for (i, h) in hung.iter().enumerate() {
        jobs.push_str(&format!(
            "[[job]]\nname = \"hung {i}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{}/\"\ntimeout = \"2s\"\n\n",
            h.port
        ));
    }
    for i in 0..90 {
        jobs.push_str(&format!(
            "[[job]]\nname = \"fast {i}\"\nkind = \"http\"\nurl = \"{}\"\ntimeout = \"2s\"\n\n",
            fast.url(&format!("/{i}"))
        ));
    }
    f.jobs(&jobs);
    let started = Instant::now();
    f.tick("minute");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "{took:?}: the hung checks cannot have waited their timeout"
    );
    // The ten hung checks waited at once: every hung connection was open while the last of
    // them was made, whatever the machine's load. One after another, they would not
    // overlap, and the tick would take 20 s (half of that is the bound).
    let held = support::wait_until(
        Duration::from_secs(10),
        "the hung connections are closed once the tick is over",
        || {
            let held: Vec<_> = hung.iter().flat_map(|h| h.connections()).collect();
            held.iter().all(|c| c.closed.is_some()).then_some(held)
        },
    );
    assert_eq!(held.len(), 10, "one connection per hung target: {held:?}");
    let last_opened = held.iter().map(|c| c.accepted).max().unwrap();
    let first_closed = held.iter().filter_map(|c| c.closed).min().unwrap();
    assert!(
        last_opened < first_closed,
        "the hung checks did not wait at once: one was given up {:?} before the last began",
        last_opened - first_closed
    );
    assert!(
        took < Duration::from_secs(10),
        "the tick took {took:?}: the ten 2s timeouts were waited one after another"
    );
    let state = f.state();
    for i in 0..10 {
        let js = &state["jobs"][format!("hung {i}")];
        assert_eq!(js["status"], "failing", "{js}");
        assert_eq!(js["last_error"], "timed out after 2s", "{js}");
    }
    for i in 0..90 {
        assert_eq!(state["jobs"][format!("fast {i}")]["status"], "ok");
    }
    assert_eq!(fast.hits(), 90);
}
