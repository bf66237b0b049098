//! The `[[commands]]` channel running real programs: what they receive, and how failures,
//! hangs and floods of output are handled.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};

use crate::support::api::config::CommandChannel;
use crate::support::api::notify::command::send;
use crate::support::api::notify::{Alert, AlertKind, DeliveryError};

fn alert() -> Alert {
    let at = Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0).unwrap();
    Alert {
        kind: AlertKind::Failure,
        servername: "web1".into(),
        job: "nightly backup".into(),
        job_kind: "passive".into(),
        description: Some("the 02:00 run".into()),
        message: "no report for 26h".into(),
        consecutive_failures: 3,
        failing_since: Some(at - chrono::Duration::hours(2)),
        last_success: None,
        next_reminder: "at the next failing check".into(),
        at,
        recipients: vec!["ops@example.com".into()],
        target: None,
        expected: None,
    }
}

fn channel(command: &[&str], timeout: Duration) -> CommandChannel {
    CommandChannel {
        name: "pager".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
        timeout,
        digest: None,
    }
}

fn write_script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

/// True once `pid` is gone (a zombie waiting for init to reap it counts as gone).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .map(|rest| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

#[tokio::test]
async fn the_program_gets_the_alert_as_json_on_stdin_and_in_checker_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let script = write_script(
        out,
        "capture.sh",
        &format!(
            r#"out={out}
cat > "$out/stdin.json"
for v in CHECKER_KIND CHECKER_SERVERNAME CHECKER_JOB CHECKER_JOB_KIND CHECKER_MESSAGE \
         CHECKER_CONSECUTIVE_FAILURES CHECKER_FAILING_SINCE CHECKER_LAST_SUCCESS CHECKER_SUBJECT EXTRA; do
    eval "printf '%s=%s\n' $v \"\$$v\"" >> "$out/env.txt"
done
printf '%s' "$CHECKER_BODY" > "$out/body.txt"
"#,
            out = out.display()
        ),
    );
    let mut c = channel(&[&script], Duration::from_secs(10));
    c.env.insert("EXTRA".into(), "from the settings".into());
    let alert = alert();
    send(&c, &alert).await.unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stdin.json")).unwrap()).unwrap();
    assert_eq!(json["kind"], "failure");
    assert_eq!(json["servername"], "web1");
    assert_eq!(json["job"], "nightly backup");
    assert_eq!(json["job_kind"], "passive");
    assert_eq!(json["message"], "no report for 26h");
    assert_eq!(json["consecutive_failures"], 3);
    assert_eq!(json["recipients"][0], "ops@example.com");
    assert_eq!(json["subject"], alert.subject());
    assert_eq!(json["body"], alert.body());

    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    let expected = "\
CHECKER_KIND=failure
CHECKER_SERVERNAME=web1
CHECKER_JOB=nightly backup
CHECKER_JOB_KIND=passive
CHECKER_MESSAGE=no report for 26h
CHECKER_CONSECUTIVE_FAILURES=3
CHECKER_FAILING_SINCE=2026-03-04T10:00:00Z
CHECKER_LAST_SUCCESS=
CHECKER_SUBJECT=[web1] FAILED: nightly backup (no report for 26h)
EXTRA=from the settings
";
    assert_eq!(env, expected);
    assert_eq!(
        std::fs::read_to_string(out.join("body.txt")).unwrap(),
        alert.body()
    );
}

#[tokio::test]
async fn a_program_that_ignores_its_stdin_and_exits_zero_is_a_delivery() {
    assert_eq!(
        send(&channel(&["true"], Duration::from_secs(10)), &alert()).await,
        Ok(())
    );
}

#[tokio::test]
async fn a_nonzero_exit_is_a_transient_error_with_the_status_and_the_first_stderr_line() {
    let c = channel(
        &[
            "sh",
            "-c",
            "echo 'stdout talk'; echo 'pager API said 401' >&2; echo 'second line' >&2; exit 3",
        ],
        Duration::from_secs(10),
    );
    let err = send(&c, &alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Transient(
            "command channel \"pager\": sh exited with status 3: pager API said 401".into()
        )
    );
}

#[tokio::test]
async fn a_missing_program_is_a_transient_error_naming_it() {
    let c = channel(
        &["/nonexistent/notify-pager", "--urgent"],
        Duration::from_secs(10),
    );
    let err = send(&c, &alert()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(err.message().contains("/nonexistent/notify-pager"), "{err}");
    assert!(err.message().contains("No such file"), "{err}");
}

#[tokio::test]
async fn a_hanging_program_is_killed_at_the_timeout_with_its_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let script = format!("sleep 300 & echo $! > {}; sleep 300", pidfile.display());
    let c = channel(&["sh", "-c", &script], Duration::from_millis(500));
    let started = Instant::now();
    let err = send(&c, &alert()).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(err.message().contains("timed out after 500ms"), "{err}");

    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "grandchild {pid} still runs after the timeout"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_flood_of_output_is_read_and_capped_not_held_in_memory() {
    // 50 MB on each pipe, then a failure: the program must not block on a full pipe, and
    // the error keeps only a short line.
    let c = channel(
        &["sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' x; head -c 50000000 /dev/zero | tr '\\0' y >&2; exit 1"],
        Duration::from_secs(30),
    );
    let err = send(&c, &alert()).await.unwrap_err();
    assert!(
        err.message().contains("exited with status 1: yyyy"),
        "{}",
        &err.message()[..200]
    );
    assert!(
        err.message().len() < 500,
        "message is {} bytes",
        err.message().len()
    );
}
