//! The checks against real servers, sockets and processes: the HTTP, TCP and command
//! checks on their own, then the runner's parallelism, retries and deadline.

use std::time::{Duration, Instant};

use crate::support::api::check::{command, http, run_all, tcp, Clients, RunnerOptions, OUTPUT_CAP};
use crate::support::api::config::{CommandSpec, JobKind, TcpSpec};
use crate::support::http::TestServer;
use crate::support::jobs::*;
use crate::support::net::closed_port;

mod jobs;
mod kinds;

const TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------- http

#[tokio::test]
async fn a_200_passes_and_says_how_long_it_took() {
    let server = TestServer::start().await;
    let outcome = http::check(&http_spec(&server.url("/ok")), TIMEOUT, &Clients::new()).await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.message.starts_with("HTTP 200 in "),
        "{}",
        outcome.message
    );
    assert!(outcome.message.ends_with(" ms"), "{}", outcome.message);
}

#[tokio::test]
async fn an_http_check_requests_the_url_parsed_when_its_job_was_loaded() {
    let server = TestServer::start().await;
    // The text says one place and the parsed URL another: the request goes to the
    // parsed one, which is what loading made of the same text.
    let mut spec = http_spec(&format!("http://127.0.0.1:{}/ok", closed_port()));
    spec.parsed_url = Some(server.url("/ok").parse().expect("valid URL"));
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(outcome.ok, "{outcome:?}");
    // Without it, the text is parsed and requested.
    spec.parsed_url = None;
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert_eq!(outcome.message, "connection refused");
}

#[tokio::test]
async fn a_503_fails_as_transient_and_a_404_as_permanent() {
    let server = TestServer::start().await;
    let clients = Clients::new();
    let unavailable = http::check(&http_spec(&server.url("/status/503")), TIMEOUT, &clients).await;
    assert!(!unavailable.ok);
    assert!(unavailable.transient);
    assert_eq!(unavailable.message, "HTTP 503 (expected 200)");

    let missing = http::check(&http_spec(&server.url("/status/404")), TIMEOUT, &clients).await;
    assert!(!missing.ok);
    assert!(!missing.transient);
    assert_eq!(missing.message, "HTTP 404 (expected 200)");
}

#[tokio::test]
async fn any_status_in_the_expected_list_passes() {
    let server = TestServer::start().await;
    let mut spec = http_spec(&server.url("/status/404"));
    spec.expect_status = vec![200, 404];
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.message.starts_with("HTTP 404 in"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_redirect_is_followed_only_when_asked() {
    let server = TestServer::start().await;
    let clients = Clients::new();
    let mut spec = http_spec(&server.url("/redirect"));
    let not_followed = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!not_followed.ok);
    assert!(!not_followed.transient);
    assert_eq!(not_followed.message, "HTTP 301 to /ok (expected 200)");
    assert_eq!(server.stats.hits("/ok"), 0);

    spec.follow_redirects = true;
    let followed = http::check(&spec, TIMEOUT, &clients).await;
    assert!(followed.ok, "{followed:?}");
    assert_eq!(server.stats.hits("/ok"), 1);
}

#[tokio::test]
async fn contains_passes_when_the_body_has_the_text_and_fails_when_not() {
    let server = TestServer::start().await;
    let clients = Clients::new();
    let mut spec = http_spec(&server.url("/ok"));
    spec.contains = Some("Welcome".into());
    assert!(http::check(&spec, TIMEOUT, &clients).await.ok);

    spec.contains = Some("Goodbye".into());
    let outcome = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(outcome.message, "body does not contain \"Goodbye\"");
}

#[tokio::test]
async fn text_past_the_body_cap_is_not_searched() {
    let server = TestServer::start().await;
    let clients = Clients::new();
    let mut spec = http_spec(&server.url("/big"));
    spec.contains = Some("head".into());
    assert!(http::check(&spec, TIMEOUT, &clients).await.ok);

    spec.contains = Some("needle".into());
    let outcome = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!outcome.ok);
    assert!(
        outcome
            .message
            .starts_with("body does not contain \"needle\""),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn an_endless_body_is_read_only_up_to_the_cap() {
    let server = TestServer::start().await;
    let mut spec = http_spec(&server.url("/endless"));
    spec.contains = Some("never sent".into());
    let started = Instant::now();
    let outcome = http::check(&spec, Duration::from_secs(10), &Clients::new()).await;
    // Without the cap the check would read until its timeout (and buffer all of it).
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!outcome.ok);
    assert!(
        outcome.message.starts_with("body does not contain"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_response_slower_than_max_response_time_fails_with_the_time_taken() {
    let server = TestServer::start().await;
    let mut spec = http_spec(&server.url("/slow/300"));
    spec.max_response_time = Some(Duration::from_millis(100));
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(outcome.message.starts_with("took "), "{}", outcome.message);
    assert!(
        outcome.message.ends_with(" ms (max 100ms)"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let server = TestServer::start().await;
    let started = Instant::now();
    let outcome = http::check(
        &http_spec(&server.url("/hang")),
        Duration::from_millis(300),
        &Clients::new(),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(outcome.transient);
    assert_eq!(outcome.message, "timed out after 300ms");
}

#[tokio::test]
async fn a_refused_http_connection_is_transient() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let outcome = http::check(&http_spec(&url), TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(outcome.transient);
    assert_eq!(outcome.message, "connection refused");
}

#[tokio::test]
async fn an_http_host_that_does_not_resolve_is_not_transient() {
    let spec = http_spec("http://no-such-host.invalid/");
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient, "{outcome:?}");
    assert!(
        outcome
            .message
            .starts_with("cannot resolve no-such-host.invalid: "),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let server = TestServer::start().await;
    let mut spec = http_spec(&server.url("/echo"));
    spec.method = "POST".into();
    spec.headers = vec![("X-Test".into(), "hello".into())];
    spec.body = Some("payload".into());
    spec.contains = Some("POST x-test=hello body=payload".into());
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(outcome.ok, "{outcome:?}");
}

#[tokio::test]
async fn a_self_signed_certificate_fails_unless_invalid_certs_are_accepted() {
    let server = TestServer::start_tls().await;
    let clients = Clients::new();
    let mut spec = http_spec(&server.url("/ok"));
    let refused = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!refused.ok);
    assert!(!refused.transient);
    assert!(
        refused
            .message
            .starts_with("TLS: invalid certificate: unknown issuer"),
        "{}",
        refused.message
    );

    spec.accept_invalid_certs = true;
    let accepted = http::check(&spec, TIMEOUT, &clients).await;
    assert!(accepted.ok, "{accepted:?}");
}

#[tokio::test]
async fn checks_sharing_clients_reuse_one_connection() {
    let server = TestServer::start().await;
    let clients = Clients::new();
    for _ in 0..20 {
        assert!(
            http::check(&http_spec(&server.url("/ok")), TIMEOUT, &clients)
                .await
                .ok
        );
    }
    assert_eq!(server.stats.hits("/ok"), 20);
    assert_eq!(server.stats.connections(), 1);
}

// ----------------------------------------------------------------------------- tcp

#[tokio::test]
async fn a_listening_port_passes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let outcome = tcp::check(&tcp_spec(port), TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome
            .message
            .starts_with(&format!("connected to 127.0.0.1:{port} in ")),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_closed_port_is_refused_and_transient() {
    let outcome = tcp::check(&tcp_spec(closed_port()), TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(outcome.transient);
    assert_eq!(outcome.message, "connection refused");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_not_transient() {
    let spec = TcpSpec {
        host: "no-such-host.invalid".into(),
        port: 80,
    };
    let outcome = tcp::check(&spec, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient, "{outcome:?}");
    assert!(
        outcome
            .message
            .starts_with("cannot resolve no-such-host.invalid"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_connect_that_never_completes_times_out() {
    // A listener with a backlog of one that never accepts: once its queue is full the
    // kernel drops further SYNs and a connect hangs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Connections fill the queue until one does not complete: then it is full.
    let mut queued = Vec::new();
    for _ in 0..16 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(500), connect).await {
            Ok(conn) => queued.push(conn.expect("a connection into the queue")),
            Err(_) => break,
        }
    }
    assert!(queued.len() < 16, "the listen queue never filled");

    let outcome = tcp::check(&tcp_spec(addr.port()), Duration::from_millis(300)).await;
    assert!(!outcome.ok);
    assert!(outcome.transient);
    assert_eq!(outcome.message, "timed out after 300ms");
    drop(listener);
}

// ------------------------------------------------------------------------- command

#[tokio::test]
async fn exit_0_is_ok_with_message_and_perfdata() {
    let scripts = Scripts::new();
    let script = scripts.write(
        "ok.sh",
        "echo \"OK - load fine | load1=0.5;1;2;0 'free space'=91%;80;90\"",
    );
    let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.message, "OK - load fine");
    let labels: Vec<_> = outcome.perfdata.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, vec!["load1", "free space"]);
    assert_eq!(outcome.perfdata[1].uom.as_deref(), Some("%"));
}

#[tokio::test]
async fn exit_codes_1_2_and_3_fail_named_by_their_state() {
    let scripts = Scripts::new();
    for (code, expected) in [
        (1, "WARNING: disk 91% full"),
        (2, "CRITICAL: disk 91% full"),
        (3, "UNKNOWN: disk 91% full"),
    ] {
        let script = scripts.write(
            &format!("exit{code}.sh"),
            &format!("echo 'disk 91% full | used=91%'; exit {code}"),
        );
        let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
        assert!(!outcome.ok);
        assert!(!outcome.transient);
        assert_eq!(outcome.message, expected);
        assert_eq!(outcome.perfdata.len(), 1);
    }
}

#[tokio::test]
async fn a_plugin_that_names_its_state_is_not_prefixed_again() {
    let scripts = Scripts::new();
    let script = scripts.write("named.sh", "echo 'DISK WARNING - 91% full'; exit 1");
    let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
    assert_eq!(outcome.message, "DISK WARNING - 91% full");
}

#[tokio::test]
async fn other_exit_codes_and_signals_fail_saying_so() {
    let scripts = Scripts::new();
    let odd = scripts.write("odd.sh", "echo 'strange'; exit 7");
    let outcome = command::check(&sh(&odd, &[]), TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.message, "exited with code 7: strange");

    let killed = scripts.write("killed.sh", "kill -9 $$");
    let outcome = command::check(&sh(&killed, &[]), TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(outcome.message, "killed by signal 9 (SIGKILL)");
}

#[tokio::test]
async fn stderr_is_the_message_when_stdout_is_empty() {
    let scripts = Scripts::new();
    let script = scripts.write("stderr.sh", "echo 'cannot read /proc/meminfo' >&2; exit 3");
    let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
    assert_eq!(outcome.message, "UNKNOWN: cannot read /proc/meminfo");
}

#[tokio::test]
async fn long_output_lines_carry_more_perfdata() {
    let scripts = Scripts::new();
    let script = scripts.write(
        "long.sh",
        "printf 'DISK OK | root=10GB\\n/ 77%%\\n/boot 69%% | boot=68MB\\nhome=69GB\\n'",
    );
    let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
    assert_eq!(outcome.message, "DISK OK");
    let labels: Vec<_> = outcome.perfdata.iter().map(|d| d.label.as_str()).collect();
    assert_eq!(labels, vec!["root", "boot", "home"]);
}

#[tokio::test]
async fn env_and_cwd_come_from_the_spec() {
    let scripts = Scripts::new();
    let script = scripts.write("env.sh", "echo \"OK $GREETING from $(pwd)\"");
    let workdir = tempfile::tempdir().unwrap();
    let mut spec = sh(&script, &[]);
    spec.env.insert("GREETING".into(), "hello".into());
    spec.cwd = Some(workdir.path().to_path_buf());
    let outcome = command::check(&spec, TIMEOUT).await;
    let real = workdir.path().canonicalize().unwrap();
    assert_eq!(outcome.message, format!("OK hello from {}", real.display()));
}

#[tokio::test]
async fn an_executable_plugin_runs_directly_with_its_arguments() {
    let scripts = Scripts::new();
    let script = scripts.write("direct.sh", "echo \"OK got $1\"");
    let spec = CommandSpec {
        command: vec![script.display().to_string(), "arg".into()],
        env: Default::default(),
        cwd: None,
        warning_is_failure: true,
    };
    // Another test thread forking while the script was open for writing can make the
    // first exec fail with "text file busy"; that is the test's doing, not the check's.
    let mut outcome = command::check(&spec, TIMEOUT).await;
    for _ in 0..5 {
        if !outcome.message.contains("busy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        outcome = command::check(&spec, TIMEOUT).await;
    }
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.message, "OK got arg");
}

#[tokio::test]
async fn a_missing_or_non_executable_program_fails_naming_its_path() {
    let scripts = Scripts::new();
    let missing = scripts.path("missing.sh");
    let spec = CommandSpec {
        command: vec![missing.display().to_string()],
        env: Default::default(),
        cwd: None,
        warning_is_failure: true,
    };
    let outcome = command::check(&spec, TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        format!("program not found: {}", missing.display())
    );

    let plain = scripts.path("plain.txt");
    std::fs::write(&plain, "not a program").unwrap();
    let spec = CommandSpec {
        command: vec![plain.display().to_string()],
        env: Default::default(),
        cwd: None,
        warning_is_failure: true,
    };
    let outcome = command::check(&spec, TIMEOUT).await;
    assert_eq!(
        outcome.message,
        format!("program is not executable: {}", plain.display())
    );
}

#[tokio::test]
async fn endless_output_is_capped_and_killed_at_the_timeout() {
    let scripts = Scripts::new();
    let script = scripts.write("yes.sh", "yes 'OK spam spam spam'");
    let started = Instant::now();
    let outcome = command::check(&sh(&script, &[]), Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!outcome.ok);
    assert!(outcome.transient);
    assert_eq!(
        outcome.message,
        "timed out after 500ms (process group killed)"
    );
}

#[tokio::test]
async fn output_far_beyond_the_cap_is_drained_so_the_plugin_can_finish() {
    // Without draining, the plugin would block on a full pipe and time out.
    let scripts = Scripts::new();
    let script = scripts.write(
        "big.sh",
        &format!(
            "echo 'OK lots of output | lines=1'; head -c {} /dev/zero; head -c {} /dev/zero >&2",
            OUTPUT_CAP * 100,
            OUTPUT_CAP * 100
        ),
    );
    let outcome = command::check(&sh(&script, &[]), TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.message, "OK lots of output");
}

const SPAWNS_GRANDCHILD: &str = "sleep 1000 &\necho $! > \"$1\"\nsleep 1000";

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let scripts = Scripts::new();
    let script = scripts.write("grandchild.sh", SPAWNS_GRANDCHILD);
    let pid_file = scripts.path("grandchild.pid");
    let outcome = command::check(
        &sh(&script, &[&pid_file.display().to_string()]),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(
        outcome.message,
        "timed out after 500ms (process group killed)"
    );
    let grandchild = read_pid(&pid_file).await;
    assert!(
        process_ended(grandchild).await,
        "grandchild {grandchild} still running"
    );
}

#[tokio::test]
async fn an_abandoned_command_check_kills_its_process_group() {
    let scripts = Scripts::new();
    let script = scripts.write("grandchild.sh", SPAWNS_GRANDCHILD);
    let pid_file = scripts.path("grandchild.pid");
    let spec = sh(&script, &[&pid_file.display().to_string()]);
    let check = command::check(&spec, Duration::from_secs(60));
    assert!(tokio::time::timeout(Duration::from_millis(500), check)
        .await
        .is_err());
    let grandchild = read_pid(&pid_file).await;
    assert!(
        process_ended(grandchild).await,
        "grandchild {grandchild} still running"
    );
}

// -------------------------------------------------------------------------- runner

fn options(max_concurrency: usize, deadline: Duration) -> RunnerOptions {
    RunnerOptions {
        max_concurrency,
        deadline,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_most_max_concurrency_checks_run_at_once() {
    let server = TestServer::start().await;
    let jobs: Vec<_> = (0..50)
        .map(|i| {
            job(
                &format!("slow{i}"),
                JobKind::Http(Box::new(http_spec(&server.url("/slow/50")))),
            )
        })
        .collect();
    let results = run_all(&jobs, &options(5, Duration::from_secs(30))).await;
    assert!(
        results.iter().all(|r| r.as_ref().is_some_and(|r| r.ok)),
        "{results:?}"
    );
    assert_eq!(server.stats.hits("/slow/50"), 50);
    assert_eq!(server.stats.max_in_flight(), 5);
}

#[tokio::test]
async fn a_503_is_retried_but_a_404_is_not() {
    let server = TestServer::start().await;
    let mut unavailable = job(
        "unavailable",
        JobKind::Http(Box::new(http_spec(&server.url("/status/503")))),
    );
    unavailable.retries = 2;
    let mut missing = job(
        "missing",
        JobKind::Http(Box::new(http_spec(&server.url("/status/404")))),
    );
    missing.retries = 2;
    let results = run_all(
        &[unavailable, missing],
        &options(5, Duration::from_secs(30)),
    )
    .await;

    let unavailable = results[0].as_ref().unwrap();
    assert!(!unavailable.ok);
    assert_eq!(unavailable.attempts, 3);
    assert_eq!(unavailable.message, "HTTP 503 (expected 200)");
    assert_eq!(server.stats.hits("/status/503"), 3);

    let missing = results[1].as_ref().unwrap();
    assert_eq!(missing.attempts, 1);
    assert_eq!(server.stats.hits("/status/404"), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_after_doubling_waits() {
    let mut refused = job("refused", JobKind::Tcp(tcp_spec(closed_port())));
    refused.retries = 2;
    refused.retry_backoff = Duration::from_millis(50);
    let results = run_all(&[refused], &options(5, Duration::from_secs(30))).await;
    let refused = results[0].as_ref().unwrap();
    assert_eq!(refused.attempts, 3);
    assert_eq!(refused.message, "connection refused");
    // 50 ms before the second attempt, 100 ms before the third.
    assert!(refused.duration_ms >= 150, "{}", refused.duration_ms);
}

#[tokio::test]
async fn a_success_takes_one_attempt() {
    let server = TestServer::start().await;
    let mut ok = job("ok", JobKind::Http(Box::new(http_spec(&server.url("/ok")))));
    ok.retries = 3;
    let results = run_all(&[ok], &options(5, Duration::from_secs(30))).await;
    let ok = results[0].as_ref().unwrap();
    assert!(ok.ok);
    assert_eq!(ok.attempts, 1);
    assert_eq!(server.stats.hits("/ok"), 1);
}

#[tokio::test]
async fn a_retry_that_could_not_start_before_the_deadline_is_not_made() {
    let server = TestServer::start().await;
    let mut unavailable = job(
        "unavailable",
        JobKind::Http(Box::new(http_spec(&server.url("/status/503")))),
    );
    unavailable.retries = 3;
    unavailable.retry_backoff = Duration::from_secs(120);
    // The retry would begin after the deadline: the run ends at once, without waiting for
    // the deadline (let alone the backoff). Half the deadline is a bound no loaded machine
    // reaches for one local request, and a run that waits for the deadline passes it.
    let deadline = Duration::from_secs(20);
    let started = Instant::now();
    let results = run_all(&[unavailable], &options(5, deadline)).await;
    let took = started.elapsed();
    assert!(
        took < deadline / 2,
        "{took:?}: the run waited for the deadline"
    );
    let unavailable = results[0].as_ref().unwrap();
    assert_eq!(unavailable.attempts, 1);
    assert_eq!(unavailable.message, "HTTP 503 (expected 200)");
}

#[tokio::test]
async fn the_deadline_fails_started_checks_and_leaves_unstarted_ones_out() {
    let server = TestServer::start().await;
    let jobs: Vec<_> = (0..20)
        .map(|i| {
            let mut hang = job(
                &format!("hang{i}"),
                JobKind::Http(Box::new(http_spec(&server.url("/hang")))),
            );
            hang.timeout = Duration::from_secs(10);
            hang
        })
        .collect();
    let started = Instant::now();
    let results = run_all(&jobs, &options(10, Duration::from_secs(1))).await;
    let elapsed = started.elapsed();
    // Cut off at the deadline (1 s), not at the checks' own timeouts (10 s): half of those
    // is a bound a loaded machine does not reach.
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );

    for (i, result) in results.iter().enumerate().take(10) {
        let result = result
            .as_ref()
            .unwrap_or_else(|| panic!("job {i} started but has no result"));
        assert_eq!(result.job, format!("hang{i}"));
        assert!(!result.ok);
        assert_eq!(result.message, "not finished within the tick deadline (1s)");
        assert!(result.duration_ms >= 900, "{}", result.duration_ms);
    }
    assert!(
        results[10..].iter().all(Option::is_none),
        "{:?}",
        &results[10..]
    );
}

#[tokio::test]
async fn a_command_cut_off_by_the_deadline_has_its_process_group_killed() {
    let scripts = Scripts::new();
    let script = scripts.write("grandchild.sh", SPAWNS_GRANDCHILD);
    let pid_file = scripts.path("grandchild.pid");
    let mut plugin = job(
        "plugin",
        JobKind::Command(sh(&script, &[&pid_file.display().to_string()])),
    );
    plugin.timeout = Duration::from_secs(60);
    let results = run_all(&[plugin], &options(5, Duration::from_millis(500))).await;
    assert_eq!(
        results[0].as_ref().map(|r| r.message.as_str()),
        Some("not finished within the tick deadline (500ms)")
    );
    let grandchild = read_pid(&pid_file).await;
    assert!(
        process_ended(grandchild).await,
        "grandchild {grandchild} still running"
    );
}

#[tokio::test]
async fn results_come_back_in_job_order_for_every_kind() {
    let server = TestServer::start().await;
    let scripts = Scripts::new();
    let plugin = scripts.write("ok.sh", "echo 'OK fine | x=1'");
    let jobs = vec![
        job(
            "slow",
            JobKind::Http(Box::new(http_spec(&server.url("/slow/200")))),
        ),
        job("port", JobKind::Tcp(tcp_spec(server.addr.port()))),
        job("plugin", JobKind::Command(sh(&plugin, &[]))),
        job(
            "missing",
            JobKind::Http(Box::new(http_spec(&server.url("/status/404")))),
        ),
    ];
    let results = run_all(&jobs, &options(10, Duration::from_secs(30))).await;
    let summary: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|r| (r.job.as_str(), r.ok)))
        .collect();
    assert_eq!(
        summary,
        vec![
            Some(("slow", true)),
            Some(("port", true)),
            Some(("plugin", true)),
            Some(("missing", false))
        ]
    );
    assert_eq!(results[2].as_ref().unwrap().perfdata.len(), 1);
}
