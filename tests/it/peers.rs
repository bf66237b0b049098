//! Peers end to end through the real binary: `peer-status`, `checker serve` (the word,
//! the detail, the token, its bounds), peer jobs between two and three instances on
//! loopback, compatibility both ways with a stand-in of the original Python Checker
//! (support/peer_standin.py), and `checker peers`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::http::{self as h, HttpServer, Response, Server};
use crate::support::net::{closed_port, silent_server, SmtpServer};
use crate::support::peers::{self as p, Running};
use crate::support::{self, stderr, stdout, Fixture};

/// An instance whose heartbeat goes stale after `stale`, with `extra` settings.
fn instance(stale: &str, extra: &str) -> Fixture {
    let f = Fixture::new();
    f.write("settings.toml", &p::instance_settings(stale, extra, &[]));
    f
}

/// A command job that fails while `job.fail` exists in the fixture's folder.
fn flaky_job(f: &Fixture, notify: &str) {
    f.script(
        "jobs/flaky.sh",
        "#!/bin/sh\nif [ -e \"$(dirname \"$0\")/../job.fail\" ]; then echo 'CRITICAL - broken'; exit 2; fi\necho 'OK - fine'\n",
    );
    f.jobs(&format!("[[job]]\nname = \"flaky\"\nkind = \"command\"\ncommand = [\"./flaky.sh\"]\nnotify = {notify}\n"));
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Alerts the capture channel received about `job`, as (kind, message).
fn alerts_about(f: &Fixture, job: &str) -> Vec<Value> {
    f.alerts().into_iter().filter(|a| a["job"] == job).collect()
}

fn kinds(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn recipients(alert: &Value) -> Vec<String> {
    alert["recipients"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn serve_answers_each_word_with_200_live_and_the_detail_as_json() {
    let smtp = closed_port();
    let f = instance(STALE, &p::email_to(smtp));
    flaky_job(&f, "[\"email\"]");
    f.tick("minute");
    let s = p::serve(&f);

    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));
    let (code, body) = h::get(s.port, "/status.json", &[]);
    assert_eq!(code, 200);
    let v = json(&body);
    assert_eq!(v["status"], "True");
    assert_eq!(v["servername"], "testbox");
    assert!(
        v["last_tick_finished"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert!(v["mail_ok"].is_null(), "mail not tried yet: {v}");
    assert!(
        v["detail"].as_str().unwrap().contains("last tick finished"),
        "{v}"
    );

    // No tick for longer than `stale_after`: the answer changes without a restart.
    f.age_state(STALE_AGE);
    assert_eq!(h::get(s.port, "/", &[]), (200, "JobProblem".to_string()));
    let v = json(&h::get(s.port, "/status.json", &[]).1);
    assert_eq!(v["status"], "JobProblem");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("no tick has finished for"),
        "{v}"
    );

    // The job fails and its alert cannot be delivered: the SMTP port is closed.
    f.write("job.fail", "");
    f.tick("minute");
    assert_eq!(
        f.state()["mail"]["ok"],
        false,
        "a failed delivery marks mail as broken"
    );
    assert_eq!(h::get(s.port, "/", &[]), (200, "MailProblem".to_string()));
    let v = json(&h::get(s.port, "/status.json", &[]).1);
    assert_eq!(v["status"], "MailProblem");
    assert_eq!(v["mail_ok"], false);
    assert!(v["mail_checked_at"].is_string(), "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot send mail"),
        "{v}"
    );
    // As the original's status site, any other path answers the word too.
    assert_eq!(
        h::get(s.port, "/checker", &[]),
        (200, "MailProblem".to_string())
    );

    let (code, m) = h::get(s.port, "/metrics", &[]);
    assert_eq!(code, 200);
    for line in [
        "checker_peer_status{status=\"MailProblem\"} 1",
        "checker_peer_status{status=\"True\"} 0",
        "checker_mail_ok 0",
        "checker_job_up{job=\"flaky\",kind=\"command\"} 0",
        "checker_job_failing{job=\"flaky\",kind=\"command\"} 1",
        "checker_job_consecutive_failures{job=\"flaky\",kind=\"command\"} 1",
        "checker_job_last_success_timestamp_seconds{job=\"flaky\",kind=\"command\"} ",
        "checker_heartbeat_age_seconds ",
        "# TYPE checker_job_up gauge",
    ] {
        assert!(m.contains(line), "metrics lack {line:?}:\n{m}");
    }
}

#[test]
fn peer_status_prints_exactly_the_word_and_exits_0_only_for_true() {
    let f = instance(STALE, "");
    let out = f.run_ok(&["peer-status"], 1);
    assert_eq!(stdout(&out), "JobProblem\n", "never ticked");
    f.tick("minute");
    let out = f.run_ok(&["peer-status"], 0);
    assert_eq!(stdout(&out), "True\n");
    let v = json(&stdout(&f.run_ok(&["peer-status", "--json"], 0)));
    for key in [
        "status",
        "servername",
        "last_tick_finished",
        "mail_ok",
        "mail_checked_at",
        "detail",
    ] {
        assert!(v.get(key).is_some(), "--json lacks {key}: {v}");
    }
    assert_eq!(v["status"], "True");
    f.age_state(STALE_AGE);
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 1)), "JobProblem\n");
    let v = json(&stdout(&f.run_ok(&["peer-status", "--json"], 1)));
    assert_eq!(v["status"], "JobProblem");

    // An unreadable state: peers still read a word, and the exit status says state error.
    f.write("state.json", "{\"version\": 1, \"heartbeat\": ");
    let out = f.run_ok(&["peer-status"], 3);
    assert_eq!(stdout(&out), "JobProblem\n");
    assert!(stderr(&out).contains("unreadable"), "{}", stderr(&out));
}

#[test]
fn each_tick_records_a_heartbeat_and_a_tick_that_ends_in_error_is_a_job_problem() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &p::instance_settings("1m", "", &[]).replace(
            "delivery_retry = \"1s\"\n",
            "delivery_retry = \"1s\"\nmax_concurrency = 1\ntick_deadline = \"1s\"\n",
        ),
    );
    f.script("jobs/slow.sh", "#!/bin/sh\nsleep 3\necho 'OK - slow'\n");
    f.tick("minute");
    let hb = f.state()["heartbeat"].clone();
    assert_eq!(hb["last_tick"], "minute");
    assert!(
        hb["last_tick_started"].as_str().unwrap() <= hb["last_tick_finished"].as_str().unwrap(),
        "{hb}"
    );
    assert!(hb["last_tick_error"].is_null(), "{hb}");
    f.tick("hour");
    let hb2 = f.state()["heartbeat"].clone();
    assert_eq!(hb2["last_tick"], "hour");
    assert!(
        hb2["last_tick_finished"].as_str().unwrap() > hb["last_tick_finished"].as_str().unwrap()
    );

    // One check at a time and a 1 s deadline: the second slow job never starts.
    f.jobs(
        "[[job]]\nname = \"s1\"\nkind = \"command\"\ncommand = [\"./slow.sh\"]\ntimeout = \"5s\"\n\
         [[job]]\nname = \"s2\"\nkind = \"command\"\ncommand = [\"./slow.sh\"]\ntimeout = \"5s\"\n",
    );
    f.tick("minute");
    let hb = f.state()["heartbeat"].clone();
    assert_eq!(
        hb["last_tick_error"], "1 job(s) not started before the tick deadline",
        "{hb}"
    );
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 1)), "JobProblem\n");
    let v = json(&stdout(&f.run_ok(&["peer-status", "--json"], 1)));
    assert_eq!(
        v["detail"],
        "the last tick ended in error: 1 job(s) not started before the tick deadline"
    );
    assert_eq!(
        v["last_tick_error"],
        "1 job(s) not started before the tick deadline"
    );

    f.jobs("");
    f.tick("minute");
    assert!(f.state()["heartbeat"]["last_tick_error"].is_null());
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 0)), "True\n");
}

#[test]
fn peer_status_and_serve_answer_at_once_while_another_process_holds_the_state_lock() {
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &p::instance_settings("1m", "", &[])
            .replace("lock_timeout = \"60s\"", "lock_timeout = \"3s\""),
    );
    f.tick("minute");
    let s = p::serve(&f);
    // Hold the lock exactly as a writer does (flock on the sidecar lock file).
    let lock = f.path().join("state.json.lock");
    let mut holder = Command::new("python3")
        .args(["-c", "import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)"])
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    // A writer cannot get in now...
    let out = f.run_ok(&["-c", "minute"], 3);
    assert!(stderr(&out).contains("could not lock"), "{}", stderr(&out));
    // ...but the readers answer at once.
    let started = Instant::now();
    assert_eq!(stdout(&f.run_ok(&["peer-status"], 0)), "True\n");
    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}: waited on the lock?",
        started.elapsed()
    );
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn serve_requires_the_bearer_token_when_one_is_set_and_never_shows_it() {
    let f = instance(
        "1m",
        "\n[serve]\ntoken_env = \"CHECKER_TEST_SERVE_TOKEN\"\n",
    );
    let tick = f
        .cmd()
        .env("CHECKER_TEST_SERVE_TOKEN", "s3cret-Token-42")
        .args(["-c", "minute"])
        .status()
        .unwrap();
    assert!(tick.success());
    let s = p::serve_with(&f, &[("CHECKER_TEST_SERVE_TOKEN", "s3cret-Token-42")]);
    for path in ["/", "/status.json", "/metrics"] {
        assert_eq!(h::get(s.port, path, &[]).0, 401, "{path} without a token");
        assert_eq!(
            h::get(s.port, path, &[("Authorization", "Bearer wrong")]).0,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            h::get(s.port, path, &[("Authorization", "Bearer s3cret-Token-42")]).0,
            200,
            "{path} with the token"
        );
    }
    assert_eq!(
        h::get(s.port, "/", &[("Authorization", "bearer s3cret-Token-42")]),
        (200, "True".to_string())
    );
    assert_eq!(
        h::get(s.port, "/", &[("Authorization", "Basic s3cret-Token-42")]).0,
        401
    );

    // A peer sends its token from a file; one without a token is told what is wrong.
    let asker = Fixture::new();
    asker.write("peer.token", "s3cret-Token-42\n");
    asker.write(
        "settings.toml",
        &format!(
            "{}\n[[peers]]\nname = \"with-token\"\nurl = \"{}\"\ntoken_file = \"peer.token\"\n\n[[peers]]\nname = \"without\"\nurl = \"{}\"\n",
            support::BASE_SETTINGS,
            s.url("/"),
            s.url("/")
        ),
    );
    let out = asker.run_ok(&["peers", "--json"], 1);
    let v = json(&stdout(&out));
    let rows = v["peers"].as_array().unwrap();
    assert_eq!(rows[0]["answer"], "True");
    assert_eq!(rows[0]["ok"], true);
    assert_eq!(rows[1]["answer"], "HTTP 401");
    assert_eq!(
        rows[1]["message"],
        "peer answered HTTP 401: is its `token` right?"
    );

    // The token never reaches output, logs or state.
    asker.tick("hour");
    for text in [
        stdout(&out),
        stdout(&asker.run_ok(&["list", "--json"], 0)),
        std::fs::read_to_string(asker.path().join("state.json")).unwrap(),
        std::fs::read_to_string(asker.path().join("checker.log")).unwrap_or_default(),
        std::fs::read_to_string(f.path().join("checker.log")).unwrap_or_default(),
    ] {
        assert!(
            !text.contains("s3cret-Token-42"),
            "the token leaked: {text}"
        );
    }
}

/// Connections that send half a request head and stall.
fn stall(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            c.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .expect("write");
            c
        })
        .collect()
}

#[test]
fn slow_and_oversized_requests_cannot_stall_the_server_or_grow_its_memory() {
    let f = instance("1m", "");
    f.tick("minute");
    let s = p::serve(&f);
    assert_eq!(h::get(s.port, "/", &[]).0, 200);
    let before = p::rss_kib(s.pid());

    let stalled = stall(s.port, 200);
    let started = Instant::now();
    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal request waited {:?}",
        started.elapsed()
    );

    // A head past the limit is refused, not buffered.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(12 * 1024)
    );
    assert_eq!(h::raw(s.port, huge.as_bytes()).0, 431);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(
        h::raw(
            s.port,
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()
        )
        .0,
        431
    );
    // Bodies are refused unread; only GET and HEAD are served.
    let post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    assert_eq!(h::raw(s.port, post).0, 413);
    let chunked = b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(h::raw(s.port, chunked).0, 413);
    assert_eq!(
        h::raw(
            s.port,
            b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .0,
        405
    );
    let (code, body) = h::raw(
        s.port,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        (code, body.as_str()),
        (200, ""),
        "HEAD answers without a body"
    );

    // Many clients each holding a big unfinished head cost bounded memory.
    let mut heavy = stall(s.port, 40);
    for c in &mut heavy {
        c.write_all(&[b'a'; 7 * 1024]).expect("write");
    }
    assert_eq!(h::get(s.port, "/", &[]).0, 200);
    let after = p::rss_kib(s.pid());
    assert!(
        after < before + 20 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    drop(stalled);
    drop(heavy);
}

#[test]
fn a_full_server_makes_new_clients_wait_briefly_and_cuts_stalled_and_idle_connections() {
    let f = instance(
        "1m",
        "\n[serve]\nmax_connections = 8\nheader_timeout = \"1s\"\n",
    );
    f.tick("minute");
    let s = p::serve(&f);
    let mut stalled = stall(s.port, 16);
    let started = Instant::now();
    // Twice the cap of stalled clients: two header timeouts and it is this one's turn.
    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "a normal request waited {waited:?}"
    );
    // The stalled clients were cut off, not kept.
    for c in &mut stalled {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if let Err(e) = c.read_to_end(&mut Vec::new()) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a stalled connection is still open"
            );
        }
    }
    // A kept-alive connection that goes idle is closed after the header timeout too.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"True") {
        let n = c.read(&mut buf).expect("response");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let idle = Instant::now();
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "an idle connection is closed");
    assert!(
        idle.elapsed() < Duration::from_secs(4),
        "closed after {:?}",
        idle.elapsed()
    );
}

#[test]
fn peer_settings_problems_are_reported_with_file_and_line() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"peer web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n");
    let peers = r#"
[serve]
listen = "5000"

[[peers]]
url = "http://x.example:5000/"

[[peers]]
name = "both"
url = "http://x.example:5000/"
command = ["ssh", "x", "checker", "peer-status"]

[[peers]]
name = "badurl"
url = "x.example:5000"

[[peers]]
name = "typo"
url = "http://x.example:5000/"
adminn = "a@example.com"

[[peers]]
name = "sshtoken"
command = ["ssh", "x", "checker", "peer-status"]
token_env = "NOPE"

[[peers]]
name = "chan"
url = "http://x.example/"
notify = ["pager"]

[[peers]]
name = "web"
url = "http://x.example/"

[[peers]]
name = "badurl"
url = "http://x.example/"
"#;
    let text = format!("{}{peers}", support::BASE_SETTINGS);
    f.write("settings.toml", &text);
    let out = f.run_ok(&["validate"], 2);
    let err = stderr(&out);
    let line = |needle: &str| {
        text.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .unwrap()
    };
    let expect = [
        (
            line("listen = \"5000\""),
            "[serve] `listen` = \"5000\" is not valid: use host:port",
        ),
        (
            line("url = \"http://x.example:5000/\"") - 1,
            "[[peers]] entry has no `name`",
        ),
        (
            line("command = [\"ssh\", \"x\""),
            "peer \"both\" sets both `url` and `command`: keep one",
        ),
        (
            line("url = \"x.example:5000\""),
            "peer \"badurl\": `url` \"x.example:5000\" must start with http:// or https://",
        ),
        (
            line("adminn"),
            "unknown key `adminn` in [[peers]]; did you mean `admin`?",
        ),
        (
            line("token_env = \"NOPE\""),
            "peer \"sshtoken\": a token is sent with `url` requests only",
        ),
        (
            line("notify = [\"pager\"]"),
            "peer \"chan\": unknown channel \"pager\" in `notify`",
        ),
        (
            line("name = \"web\"") - 1,
            "peer \"web\" makes a job named \"peer web\", which",
        ),
        (
            text.lines()
                .collect::<Vec<_>>()
                .iter()
                .rposition(|l| l.contains("name = \"badurl\""))
                .unwrap(),
            "peer \"badurl\" is defined twice",
        ),
    ];
    for (n, message) in expect {
        let wanted = format!("settings.toml:{n}: {message}");
        assert!(err.contains(&wanted), "missing {wanted:?} in:\n{err}");
    }
}

#[test]
fn peers_become_jobs_that_take_the_defaults_and_passwords_in_urls_are_hidden() {
    let f = Fixture::new();
    let peer = "[[peers]]\nname = \"backup\"\nurl = \"https://me:hunter2@backup.example:5000/\"\nadmin = [\"a@example.com\", \"b@example.com\"]\n";
    f.write(
        "settings.toml",
        &format!("{}\n{peer}", support::BASE_SETTINGS),
    );
    let peer_job = |f: &Fixture| {
        let v = json(&stdout(&f.run_ok(&["list", "--json"], 0)));
        assert!(!v.to_string().contains("hunter2"));
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job"] == "peer backup")
            .expect("a job named peer backup")
            .clone()
    };
    let job = peer_job(&f);
    assert_eq!(job["kind"], "peer");
    // Asked hourly, as the original asked its peers...
    assert_eq!(job["schedule"], "hour");
    // ...and alerting like every other job: the test settings' [defaults] (every failure,
    // to the capture channel), not email regardless.
    assert_eq!(job["notify_every"], "every");
    assert_eq!(job["failures_before_notify"], 1);
    assert_eq!(job["notify"], serde_json::json!(["capture"]));
    assert_eq!(job["timeout"], "10s");
    assert_eq!(job["target"], "https://me:***@backup.example:5000/");

    // With the built-in defaults: one alert per incident, after two failures.
    let quiet = support::BASE_SETTINGS
        .replace("notify_every = \"every\"\n", "")
        .replace("failures_before_notify = 1\n", "")
        .replace("[defaults]\n", "[defaults]\ntimeout = \"7s\"\n");
    f.write("settings.toml", &format!("{quiet}\n{peer}"));
    let job = peer_job(&f);
    assert_eq!(job["notify_every"], "state_change");
    assert_eq!(job["failures_before_notify"], 2);
    assert_eq!(
        job["timeout"], "7s",
        "[defaults] timeout applies to peers too"
    );
    assert_eq!(job["schedule"], "hour");
}

/// Starts `checker serve` for each fixture, then writes each one's settings so that it
/// peers with all the others (the servers keep running: they read only the state).
fn peer_up(fixtures: &[&Fixture], names: &[&str], extra: &[String]) -> Vec<Running> {
    for (f, extra) in fixtures.iter().zip(extra) {
        f.write("settings.toml", &p::instance_settings(STALE, extra, &[]));
        f.tick("minute");
    }
    let servers: Vec<Running> = fixtures.iter().map(|f| p::serve(f)).collect();
    for (i, f) in fixtures.iter().enumerate() {
        let others: Vec<(&str, String, &str)> = (0..fixtures.len())
            .filter(|&j| j != i)
            .map(|j| (names[j], servers[j].url("/"), ADMINS[j]))
            .collect();
        f.write(
            "settings.toml",
            &p::instance_settings(STALE, &extra[i], &others),
        );
    }
    servers
}

/// How soon an instance calls itself stale when no tick finished (`stale_after`), and how
/// far its state is aged to make it so: time passes without waiting for it, and no tick
/// of a loaded test run is ever slow enough to make an instance stale by itself.
const STALE: &str = "10m";
const STALE_AGE: Duration = Duration::from_secs(11 * 60);

const ADMINS: [&str; 3] = [
    "admin-a@example.com",
    "admin-b@example.com",
    "admin-c@example.com",
];

#[test]
fn two_instances_watch_each_other_and_tell_the_admin_when_one_stops_ticking() {
    let (a, b) = (Fixture::new(), Fixture::new());
    let _servers = peer_up(&[&a, &b], &["a", "b"], &[String::new(), String::new()]);
    a.tick("minute");
    b.tick("minute");
    assert_eq!(
        a.job_state("peer b")["status"],
        "ok",
        "{}",
        a.job_state("peer b")
    );
    assert_eq!(
        b.job_state("peer a")["status"],
        "ok",
        "{}",
        b.job_state("peer a")
    );
    assert!(a.alerts().is_empty() && b.alerts().is_empty());

    // b's cron stops: after `stale_after` it says JobProblem, and a tells b's admin.
    b.age_state(STALE_AGE);
    a.tick("minute");
    let s = a.job_state("peer b");
    assert_eq!(s["status"], "failing");
    assert_eq!(
        s["last_error"],
        "peer says JobProblem: it is not running its jobs"
    );
    let alerts = alerts_about(&a, "peer b");
    assert_eq!(kinds(&alerts), vec!["failure"]);
    assert_eq!(recipients(&alerts[0]), vec![ADMINS[1]]);
    assert_eq!(alerts[0]["job_kind"], "peer");
    assert!(alerts[0]["message"]
        .as_str()
        .unwrap()
        .contains("JobProblem"));
    assert!(b.alerts().is_empty());

    // b ticks again: a sees it recover and says so.
    b.tick("minute");
    a.tick("minute");
    assert_eq!(a.job_state("peer b")["status"], "ok");
    let alerts = alerts_about(&a, "peer b");
    assert_eq!(kinds(&alerts), vec!["failure", "recovery"]);
    assert_eq!(recipients(&alerts[1]), vec![ADMINS[1]]);
    assert_eq!(b.job_state("peer a")["status"], "ok");
}

#[test]
fn three_instances_report_a_peer_that_cannot_send_mail_or_stopped_ticking_and_its_recovery() {
    let (a, b, c) = (Fixture::new(), Fixture::new(), Fixture::new());
    let smtp = closed_port();
    let extra = [String::new(), String::new(), p::email_to(smtp)];
    let _servers = peer_up(&[&a, &b, &c], &["a", "b", "c"], &extra);
    for f in [&a, &b, &c] {
        f.tick("minute");
    }
    for (f, peers) in [
        (&a, ["peer b", "peer c"]),
        (&b, ["peer a", "peer c"]),
        (&c, ["peer a", "peer b"]),
    ] {
        for peer in peers {
            assert_eq!(
                f.job_state(peer)["status"],
                "ok",
                "{peer}: {}",
                f.job_state(peer)
            );
        }
        assert!(f.alerts().is_empty());
    }

    // c's mail breaks for real: a job fails and its email alert cannot be delivered.
    flaky_job(&c, "[\"email\"]");
    c.write("job.fail", "");
    c.tick("minute");
    assert_eq!(stdout(&c.run_ok(&["peer-status"], 1)), "MailProblem\n");
    a.tick("minute");
    b.tick("minute");
    for f in [&a, &b] {
        assert_eq!(
            f.job_state("peer c")["last_error"],
            "peer says MailProblem: it cannot send mail"
        );
        let alerts = alerts_about(f, "peer c");
        assert_eq!(kinds(&alerts), vec!["failure"]);
        assert_eq!(recipients(&alerts[0]), vec![ADMINS[2]]);
    }
    assert!(c
        .alerts()
        .iter()
        .all(|al| al["job"] != "peer a" && al["job"] != "peer b"));

    // b's cron stops too: a and c both tell b's admin.
    b.age_state(STALE_AGE);
    a.tick("minute");
    c.tick("minute");
    for f in [&a, &c] {
        assert_eq!(
            f.job_state("peer b")["last_error"],
            "peer says JobProblem: it is not running its jobs"
        );
        let alerts = alerts_about(f, "peer b");
        assert_eq!(kinds(&alerts), vec!["failure"]);
        assert_eq!(recipients(&alerts[0]), vec![ADMINS[1]]);
    }
    assert_eq!(
        kinds(&alerts_about(&a, "peer c")),
        vec!["failure", "failure"],
        "every: told again while it lasts"
    );

    // Both mend: c's mail server comes up and its job passes; b ticks again.
    let sink = SmtpServer::sink_on(smtp);
    std::fs::remove_file(c.path().join("job.fail")).unwrap();
    // Each round, time passes until c's queued alerts may be tried again.
    let mut rounds = 0;
    while c.state()["mail"]["ok"] != true {
        rounds += 1;
        assert!(
            rounds <= 20,
            "c's mail never recovered: {}",
            c.state()["mail"]
        );
        c.age_to_next_retry();
        c.tick("minute");
    }
    assert!(sink.received() >= 1);
    b.tick("minute");
    c.tick("minute");
    a.tick("minute");
    b.tick("minute");
    assert_eq!(stdout(&c.run_ok(&["peer-status"], 0)), "True\n");
    for (f, peer, admin) in [
        (&a, "peer c", ADMINS[2]),
        (&b, "peer c", ADMINS[2]),
        (&a, "peer b", ADMINS[1]),
        (&c, "peer b", ADMINS[1]),
    ] {
        let alerts = alerts_about(f, peer);
        let last = alerts
            .last()
            .unwrap_or_else(|| panic!("no alert about {peer}"));
        assert_eq!(last["kind"], "recovery", "{peer}: {alerts:#?}");
        assert_eq!(recipients(last), vec![admin]);
        assert_eq!(f.job_state(peer)["status"], "ok");
    }
}

#[test]
fn checker_watches_an_original_checker_status_site() {
    let f = Fixture::new();
    let word = f.path().join("word.txt");
    std::fs::write(&word, "True").unwrap();
    let site = p::standin_site(&word);
    f.write(
        "settings.toml",
        &format!(
            "{}\n[[peers]]\nname = \"old\"\nurl = \"{}\"\nadmin = \"old-admin@example.com\"\nnotify = [\"capture\"]\n",
            support::BASE_SETTINGS,
            site.url("/")
        ),
    );
    let verdict = |f: &Fixture| {
        f.tick("hour"); // peers default to hourly
        f.job_state("peer old")
    };
    assert_eq!(verdict(&f)["status"], "ok");
    std::fs::write(&word, "MailProblem").unwrap();
    assert_eq!(
        verdict(&f)["last_error"],
        "peer says MailProblem: it cannot send mail"
    );
    std::fs::write(&word, "JobProblem").unwrap();
    assert_eq!(
        verdict(&f)["last_error"],
        "peer says JobProblem: it is not running its jobs"
    );
    std::fs::write(&word, "True").unwrap();
    assert_eq!(verdict(&f)["status"], "ok");
    let alerts = alerts_about(&f, "peer old");
    assert_eq!(kinds(&alerts), vec!["failure", "failure", "recovery"]);
    assert!(alerts
        .iter()
        .all(|a| recipients(a) == vec!["old-admin@example.com"]));
    // A peer that does not answer at all.
    drop(site);
    let s = verdict(&f);
    assert!(
        s["last_error"].as_str().unwrap().starts_with("no answer: "),
        "{s}"
    );
}

#[test]
fn an_original_checker_watches_checker_serve() {
    let smtp = closed_port();
    let f = instance(STALE, &p::email_to(smtp));
    flaky_job(&f, "[\"email\"]");
    f.tick("minute");
    let s = p::serve(&f);
    let url = s.url("/");
    assert_eq!(p::standin_check(&url), (true, "OK True".to_string()));
    f.age_state(STALE_AGE);
    assert_eq!(
        p::standin_check(&url),
        (false, format!("{url} reports its jobs are not running."))
    );
    f.write("job.fail", "");
    f.tick("minute");
    assert_eq!(
        p::standin_check(&url),
        (false, format!("{url} reports it cannot send email."))
    );
}

#[test]
fn peers_asks_every_peer_now_and_prints_their_answers() {
    // A healthy checker, asked over HTTP and by command (as over ssh).
    let healthy = instance("1m", "");
    healthy.tick("minute");
    let server = p::serve(&healthy);
    // A stale one, asked by command: it prints JobProblem and exits 1.
    let stale = instance("1m", "");
    let web = HttpServer::start(); // answers 200 with a page that is not a status
    let broken = HttpServer::start();
    broken.set_status(500);
    let silent = silent_server();
    let f = Fixture::new();
    f.script(
        "fake-ssh.sh",
        "#!/bin/sh\necho 'ssh: connect to host backup port 22: Connection refused' >&2\nexit 255\n",
    );
    let bin = env!("CARGO_BIN_EXE_checker");
    let settings = format!(
        "{base}
[[peers]]
name = \"http-ok\"
url = \"{ok}\"
[[peers]]
name = \"cmd-ok\"
command = [\"{bin}\", \"-f\", \"{healthy_settings}\", \"peer-status\"]
[[peers]]
name = \"cmd-stale\"
command = [\"{bin}\", \"-f\", \"{stale_settings}\", \"peer-status\"]
[[peers]]
name = \"not-a-peer\"
url = \"{page}\"
[[peers]]
name = \"error\"
url = \"{error}\"
[[peers]]
name = \"silent\"
url = \"http://127.0.0.1:{silent}/\"
timeout = \"1s\"
[[peers]]
name = \"unreachable\"
command = [\"./fake-ssh.sh\"]
",
        base = support::BASE_SETTINGS,
        ok = server.url("/"),
        healthy_settings = healthy.settings_path().display(),
        stale_settings = stale.settings_path().display(),
        page = web.url("/"),
        error = broken.url("/"),
    );
    f.write("settings.toml", &settings);

    let started = Instant::now();
    let out = f.run_ok(&["peers", "--json"], 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "peers are asked at once, not one after another"
    );
    let v = json(&stdout(&out));
    let rows = v["peers"].as_array().unwrap();
    let got: Vec<(&str, &str, bool, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["peer"].as_str().unwrap(),
                r["answer"].as_str().unwrap(),
                r["ok"].as_bool().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("http-ok", "True", true, "peer says True ("),
        ("cmd-ok", "True", true, "peer says True ("),
        ("cmd-stale", "JobProblem", false, "peer says JobProblem: it is not running its jobs"),
        ("not-a-peer", "unexpected \"status 200 from the test server\"", false, "unexpected answer \"status 200 from the test server\""),
        ("error", "HTTP 500", false, "peer answered HTTP 500"),
        ("silent", "no answer", false, "no answer: timed out after 1s"),
        (
            "unreachable",
            "no answer",
            false,
            "no answer: the command exited with status 255 and printed nothing: ssh: connect to host backup port 22: Connection refused",
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{v}");
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g.0, g.1, g.2), (e.0, e.1, e.2), "{v}");
        assert!(
            g.3.starts_with(e.3),
            "{}: {:?} should start with {:?}",
            g.0,
            g.3,
            e.3
        );
    }
    assert!(rows
        .iter()
        .all(|r| r["duration_ms"].is_u64() && r["target"].is_string()));
    assert_eq!(rows[0]["target"], server.url("/"));

    // The table, and no state touched: `peers` only asks.
    let out = f.run_ok(&["peers"], 1);
    let table = stdout(&out);
    let header = table.lines().next().unwrap();
    for col in ["PEER", "TARGET", "ANSWER", "OK", "TIME"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cmd-stale") && l.contains("JobProblem") && l.contains("FAIL")),
        "{table}"
    );
    assert!(!f.path().join("state.json").exists(), "`peers` wrote state");
    assert!(
        !f.path().join("history").exists() && !f.path().join("history.db").exists(),
        "`peers` wrote history"
    );
}

#[test]
fn serve_refuses_an_address_it_cannot_listen_on_with_exit_2_and_colon_port_means_every_address() {
    let f = instance("1m", "");
    f.tick("minute");
    let out = f.run(&["serve", "--listen", "999.1.1.1:5000"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("cannot listen on \"999.1.1.1:5000\""),
        "{}",
        stderr(&out)
    );
    // A port another program holds.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = f.run(&["serve", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("already in use"), "{}", stderr(&out));
    let out = f.run(&["serve", "--listen", ":notaport"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // `:PORT`: every address, loopback included.
    let mut child = f
        .cmd()
        .args(["serve", "--listen", ":0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let running = Running {
        port: line
            .trim()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}")),
        child,
    };
    assert!(
        line.contains("http://[::]:") || line.contains("http://0.0.0.0:"),
        "{line}"
    );
    let (status, body) = h::get(running.port, "/", &[]);
    assert_eq!((status, body.as_str()), (200, "True"));
}

/// A "peer" that answers 200 with a page quoting the Authorization header it was sent.
fn echoing_peer() -> u16 {
    Server::start(|req| {
        let auth = req
            .header("authorization")
            .map(|v| format!("authorization: {v}"))
            .unwrap_or_default();
        Response::new(200, "text/plain", format!("Hello. You sent {auth}")).closing()
    })
    .port
}

#[test]
fn a_peer_echoing_the_bearer_token_never_gets_it_into_state_history_log_alerts_or_output() {
    let token = "PeerBearer-9f3kQ2xZ";
    let port = echoing_peer();
    let f = Fixture::new();
    f.write(
        "settings.toml",
        &format!(
            "{}\n[[peers]]\nname = \"echo\"\nurl = \"http://127.0.0.1:{port}/\"\nadmin = \"admin@example.com\"\ntoken = \"{token}\"\nfrequency = \"minute\"\nnotify = [\"capture\"]\ntimeout = \"5s\"\n",
            support::BASE_SETTINGS
        ),
    );
    let mut seen = String::new();
    let out = f.run_ok(&["-d", "-v", "-c", "minute"], 0);
    seen += &stdout(&out);
    seen += &stderr(&out);
    let alerts = alerts_about(&f, "peer echo");
    assert_eq!(alerts.len(), 1, "the unexpected answer is alerted");
    for args in [
        &["peers"][..],
        &["peers", "--json"],
        &["status"],
        &["status", "--json"],
        &["history", "--json"],
        &["run-once", "--json", "peer echo"],
    ] {
        let out = f.run(args);
        seen += &stdout(&out);
        seen += &stderr(&out);
    }
    seen += &std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    seen += &std::fs::read_to_string(f.path().join("state.json")).unwrap();
    seen += &std::fs::read_to_string(f.path().join("alerts.jsonl")).unwrap();
    for e in f.history() {
        seen += &e.to_string();
    }
    assert!(
        seen.contains("You sent authorization: Bearer ***"),
        "the echo is kept, masked: {seen}"
    );
    assert!(!seen.contains(token), "the token leaked:\n{seen}");
}

#[test]
fn mail_proven_long_ago_goes_stale_and_peers_hear_mail_problem_saying_why() {
    let f = instance(
        "10m",
        "\n[email]\nenabled = true\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = 1\n\
         smtp_security = \"none\"\nimap_host = \"127.0.0.1\"\nimap_port = 1\nimap_security = \"none\"\nself_check = \"hour\"\n",
    );
    f.tick("minute");
    let set_checked = |ago: chrono::Duration| {
        let mut state = f.state();
        state["mail"]["ok"] = serde_json::json!(true);
        state["mail"]["checked_at"] = serde_json::json!(chrono::Utc::now() - ago);
        f.write("state.json", &state.to_string());
    };
    set_checked(chrono::Duration::minutes(90));
    let v = json(&stdout(&f.run_ok(&["peer-status", "--json"], 0)));
    assert_eq!(v["status"], "True", "{v}");
    set_checked(chrono::Duration::hours(3));
    let v = json(&stdout(&f.run_ok(&["peer-status", "--json"], 1)));
    assert_eq!(v["status"], "MailProblem", "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("mail not proven to work for 3h")
            && detail.contains("twice the self-check interval (2h)"),
        "{detail}"
    );
    let server = p::serve(&f);
    assert_eq!(
        h::get(server.port, "/", &[]),
        (200, "MailProblem".to_string())
    );
}

#[test]
fn a_job_file_that_cannot_be_loaded_makes_serve_answer_job_problem_with_the_detail_until_fixed() {
    let f = instance("1h", "");
    flaky_job(&f, "[\"capture\"]");
    f.tick("minute");
    let s = p::serve(&f);
    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));

    // A second job file with a mistake: the next tick records it, serve tells it live.
    f.write(
        "jobs/more.toml",
        "[[job]]\nname = \"more\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = \"80\"\n",
    );
    f.tick("minute");
    assert_eq!(h::get(s.port, "/", &[]), (200, "JobProblem".to_string()));
    let v = json(&h::get(s.port, "/status.json", &[]).1);
    assert_eq!(v["status"], "JobProblem");
    let file = f.path().join("jobs/more.toml").display().to_string();
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{file}:5: `port` must be a whole number")),
        "{v}"
    );
    assert_eq!(v["config_problems"][0]["file"], file.as_str());
    assert_eq!(v["config_problems"][0]["line"], 5);
    assert!(v["config_problems"][0]["since"].is_string(), "{v}");
    // The flaky job of the good file still ran.
    assert_eq!(f.job_state("flaky")["total_attempts"], 2);

    f.write(
        "jobs/more.toml",
        "[[job]]\nname = \"more\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 80\n",
    );
    f.tick("minute");
    assert_eq!(h::get(s.port, "/", &[]), (200, "True".to_string()));
    let v = json(&h::get(s.port, "/status.json", &[]).1);
    assert_eq!(v["config_problems"], serde_json::json!([]));
}
