//! The `[[commands]]` channel: runs a program (no shell) with the alert as JSON on stdin
//! and in `CHECKER_*` environment variables, in its own process group so a timeout kills
//! everything it started (SPEC §7).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{Alert, DeliveryError};
use crate::check::{timed_out, truncate, OUTPUT_CAP};
use crate::config::CommandChannel;

/// How much of a stderr line goes into an error message.
const LINE_CAP: usize = 300;
/// After the program exits, how long its output pipes may stay open (held by a child
/// it left running) before we stop reading.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Runs the channel's program for `alert`. Every failure is transient: a fixed program
/// or path lets the queued alert go out on a later tick.
pub async fn send(c: &CommandChannel, alert: &Alert) -> Result<(), DeliveryError> {
    let Some((program, args)) = c.command.split_first() else {
        return Err(DeliveryError::Transient(format!(
            "command channel {:?} has an empty command",
            c.name
        )));
    };
    let stdin_json = alert_json(alert);

    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(alert_env(alert))
        .envs(&c.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill whatever it forked as well.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        DeliveryError::Transient(format!(
            "command channel {:?}: cannot run {program}: {e}",
            c.name
        ))
    })?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);

    let stdin = child.stdin.take();
    let writer = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            // A program that does not read its stdin is fine: ignore EPIPE and the like.
            let _ = stdin.write_all(&stdin_json).await;
            let _ = stdin.shutdown().await;
        }
    });
    let stdout = tokio::spawn(read_capped(child.stdout.take()));
    let stderr = tokio::spawn(read_capped(child.stderr.take()));

    let status = match tokio::time::timeout(c.timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            kill_group(pgid);
            return Err(DeliveryError::Transient(format!(
                "command channel {:?}: waiting for {program} failed: {e}",
                c.name
            )));
        }
        Err(_elapsed) => {
            kill_group(pgid);
            let _ = child.kill().await;
            writer.abort();
            stdout.abort();
            stderr.abort();
            return Err(DeliveryError::Transient(format!(
                "command channel {:?}: {program} {}; killed it and its process group",
                c.name,
                timed_out(c.timeout)
            )));
        }
    };
    writer.abort();
    let out = collect(stdout).await;
    let err = collect(stderr).await;
    if status.success() {
        return Ok(());
    }
    let line = first_line(&err).or_else(|| first_line(&out));
    Err(DeliveryError::Transient(format!(
        "command channel {:?}: {program} {}{}",
        c.name,
        describe(status),
        line.map(|l| format!(": {l}")).unwrap_or_default()
    )))
}

/// The alert as one JSON object, with the rendered `subject` and `body` added.
fn alert_json(alert: &Alert) -> Vec<u8> {
    let mut value = serde_json::to_value(alert).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = value.as_object_mut() {
        map.insert("subject".into(), alert.subject().into());
        map.insert("body".into(), alert.body().into());
    }
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

fn alert_env(alert: &Alert) -> Vec<(&'static str, String)> {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    // A NUL byte cannot travel in the environment and would make the spawn fail.
    let clean = |s: String| s.replace('\0', "");
    vec![
        ("CHECKER_KIND", alert.kind.as_str().to_string()),
        ("CHECKER_SERVERNAME", clean(alert.servername.clone())),
        ("CHECKER_JOB", clean(alert.job.clone())),
        ("CHECKER_JOB_KIND", clean(alert.job_kind.clone())),
        ("CHECKER_MESSAGE", clean(alert.message.clone())),
        (
            "CHECKER_TARGET",
            clean(alert.target.clone().unwrap_or_default()),
        ),
        (
            "CHECKER_EXPECTED",
            clean(alert.expected.clone().unwrap_or_default()),
        ),
        (
            "CHECKER_CONSECUTIVE_FAILURES",
            alert.consecutive_failures.to_string(),
        ),
        ("CHECKER_FAILING_SINCE", time(alert.failing_since)),
        ("CHECKER_LAST_SUCCESS", time(alert.last_success)),
        ("CHECKER_SUBJECT", clean(alert.subject())),
        ("CHECKER_BODY", clean(alert.body())),
    ]
}

/// Reads everything from `pipe`, keeping at most `OUTPUT_CAP` bytes; the rest is read and
/// thrown away so the program never blocks on a full pipe.
async fn read_capped<R: AsyncRead + Unpin>(pipe: Option<R>) -> Vec<u8> {
    let Some(mut pipe) = pipe else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

/// What a reader got, waiting at most `DRAIN_GRACE` for a pipe a leftover child holds open.
async fn collect(reader: tokio::task::JoinHandle<Vec<u8>>) -> String {
    let abort = reader.abort_handle();
    match tokio::time::timeout(DRAIN_GRACE, reader).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => {
            abort.abort();
            String::new()
        }
    }
}

fn first_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| truncate(l, LINE_CAP))
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("failed ({status})"),
    }
}

fn kill_group(pgid: Option<Pid>) {
    if let Some(pgid) = pgid {
        // ESRCH (already gone) is fine.
        let _ = killpg(pgid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::AlertKind;
    use chrono::TimeZone;

    fn alert() -> Alert {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Alert {
            kind: AlertKind::Failure,
            servername: "web1".into(),
            job: "shop".into(),
            job_kind: "http".into(),
            description: None,
            message: "bad\0byte".into(),
            consecutive_failures: 2,
            failing_since: Some(at),
            last_success: None,
            next_reminder: "soon".into(),
            at,
            recipients: vec![],
            target: None,
            expected: None,
        }
    }

    #[test]
    fn the_environment_has_rfc3339_times_and_empty_for_never() {
        let env: std::collections::HashMap<_, _> = alert_env(&alert()).into_iter().collect();
        assert_eq!(env["CHECKER_FAILING_SINCE"], "2026-01-02T03:04:05Z");
        assert_eq!(env["CHECKER_LAST_SUCCESS"], "");
        assert_eq!(env["CHECKER_MESSAGE"], "badbyte");
        assert_eq!(
            env["CHECKER_SUBJECT"],
            "[web1] FAILED: shop (bad\0byte)".replace('\0', "")
        );
    }

    #[test]
    fn the_json_carries_the_alert_plus_subject_and_body() {
        let v: serde_json::Value = serde_json::from_slice(&alert_json(&alert())).unwrap();
        assert_eq!(v["job"], "shop");
        assert_eq!(v["kind"], "failure");
        assert!(v["subject"]
            .as_str()
            .unwrap()
            .starts_with("[web1] FAILED: shop"));
        assert!(v["body"].as_str().unwrap().contains("Consecutive failures"));
    }

    #[test]
    fn the_first_nonblank_line_is_capped() {
        assert_eq!(first_line("\n  \nfirst\nsecond"), Some("first".into()));
        assert_eq!(first_line(""), None);
        assert!(first_line(&"x".repeat(10_000)).unwrap().len() <= LINE_CAP + 3);
    }
}
