//! The `[[commands]]` channel: runs a program (no shell) with the alert (or a digest of
//! several) as JSON on stdin and in `CHECKER_*` environment variables, in its own process
//! group so a timeout kills everything it started (SPEC §7).

use std::process::ExitStatus;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::process::Command;

use super::digest::Digest;
use super::{Alert, DeliveryError};
use crate::config::CommandChannel;
use crate::duration::timed_out;
use crate::process::{Failure, Finished};
use crate::text::truncate;

/// How much of a stderr line goes into an error message.
const LINE_CAP: usize = 300;

/// Runs the channel's program for `alert`. Every failure is transient: a fixed program
/// or path lets the queued alert go out on a later tick.
pub async fn send(c: &CommandChannel, alert: &Alert) -> Result<(), DeliveryError> {
    run(c, alert_env(alert), alert_json(alert)).await
}

/// Runs the channel's program once for a digest: its JSON (`digest_json`) on stdin, its
/// counts, subject and body in the environment.
pub async fn send_digest(c: &CommandChannel, d: &Digest) -> Result<(), DeliveryError> {
    run(c, digest_env(d), digest_json(d)).await
}

async fn run(
    c: &CommandChannel,
    env: Vec<(&'static str, String)>,
    stdin: Vec<u8>,
) -> Result<(), DeliveryError> {
    let Some((program, args)) = c.command.split_first() else {
        return Err(DeliveryError::Transient(format!(
            "command channel {:?} has an empty command",
            c.name
        )));
    };
    let mut command = Command::new(program);
    command.args(args).envs(env).envs(&c.env);
    let failed =
        |what: String| DeliveryError::Transient(format!("command channel {:?}: {what}", c.name));
    let Finished {
        status,
        stdout,
        stderr,
    } = crate::process::run(command, Some(stdin), c.timeout)
        .await
        .map_err(|failure| match failure {
            Failure::Spawn(e) => failed(format!("cannot run {program}: {e}")),
            Failure::Wait(e) => failed(format!("waiting for {program} failed: {e}")),
            Failure::TimedOut => failed(format!(
                "{program} {}; killed it and its process group",
                timed_out(c.timeout)
            )),
        })?;
    if status.success() {
        return Ok(());
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let line = first_line(&text(&stderr)).or_else(|| first_line(&text(&stdout)));
    Err(failed(format!(
        "{program} {}{}",
        describe(status),
        line.map(|l| format!(": {l}")).unwrap_or_default()
    )))
}

/// A digest as one JSON object: `kind` "digest", the counts, `subject`, `body`, and
/// `alerts`, each as `alert_json` has it.
fn digest_json(d: &Digest) -> Vec<u8> {
    let alerts: Vec<serde_json::Value> = d
        .alerts
        .iter()
        .map(|a| serde_json::from_slice(&alert_json(a)).unwrap_or_else(|_| serde_json::json!({})))
        .collect();
    let value = serde_json::json!({
        "kind": "digest",
        "servername": d.servername,
        "failing": d.failing(),
        "recovered": d.recovered(),
        "at": d.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "recipients": d.recipients,
        "subject": d.subject(),
        "body": d.body(),
        "alerts": alerts,
    });
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

fn digest_env(d: &Digest) -> Vec<(&'static str, String)> {
    let clean = |s: String| s.replace('\0', "");
    vec![
        ("CHECKER_KIND", "digest".to_string()),
        ("CHECKER_SERVERNAME", clean(d.servername.clone())),
        ("CHECKER_FAILING", d.failing().to_string()),
        ("CHECKER_RECOVERED", d.recovered().to_string()),
        ("CHECKER_SUBJECT", clean(d.subject())),
        ("CHECKER_BODY", clean(d.body())),
    ]
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

    #[test]
    fn a_digest_is_one_json_object_with_its_alerts_and_counts_in_the_environment() {
        let recovered = Alert {
            job: "db".into(),
            kind: AlertKind::Recovery,
            ..alert()
        };
        let d = Digest::new(vec![recovered, alert()]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&digest_json(&d)).unwrap();
        assert_eq!(v["kind"], "digest");
        assert_eq!(
            (v["failing"].as_u64(), v["recovered"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(v["subject"], "[web1] 1 failing, 1 recovered");
        assert_eq!(v["alerts"][0]["job"], "shop");
        assert_eq!(v["alerts"][1]["job"], "db");
        assert!(v["alerts"][1]["subject"]
            .as_str()
            .unwrap()
            .starts_with("[web1] RECOVERED: db"));
        let env: std::collections::HashMap<_, _> = digest_env(&d).into_iter().collect();
        assert_eq!(env["CHECKER_KIND"], "digest");
        assert_eq!(
            (
                env["CHECKER_FAILING"].as_str(),
                env["CHECKER_RECOVERED"].as_str()
            ),
            ("1", "1")
        );
        assert!(env["CHECKER_BODY"].contains("- shop: badbyte"));
    }
}
