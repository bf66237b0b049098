//! `[[webhooks]] format = "alertmanager"` against Debian's real Prometheus Alertmanager on
//! loopback: the alert is active there after a failure (checked through its own API),
//! posted again every `resend` while the job keeps failing, and resolved after recovery.

use std::time::Duration;

use serde_json::Value;

use super::{deliveries, fixture, pass, webhook_table};
use crate::support::alertmanager::Alertmanager;
use crate::support::Fixture;

/// Alertmanager's alerts about `job`.
fn about(am: &Alertmanager, job: &str) -> Vec<Value> {
    am.alerts()
        .into_iter()
        .filter(|a| a["labels"]["job"] == job)
        .collect()
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&chrono::Utc)
}

fn setup(am: &Alertmanager, resend: &str) -> Fixture {
    let f = fixture(
        &["am"],
        &webhook_table(
            "am",
            "alertmanager",
            &am.url(),
            &format!("resend = \"{resend}\""),
        ),
    );
    f.jobs("[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\ngroup = \"storage\"\ndescription = \"root file system\"\n");
    f
}

#[test]
fn a_failing_job_is_active_in_alertmanager_posted_again_every_resend_and_resolved_on_recovery() {
    let dir = tempfile::tempdir().expect("temp dir");
    let am = Alertmanager::start(dir.path());
    let f = setup(&am, "1m");

    f.tick("minute");
    let alerts = about(&am, "disk");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["status"]["state"], "active", "{a:#}");
    assert_eq!(a["labels"]["alertname"], "CheckerJobFailing");
    assert_eq!(a["labels"]["kind"], "command");
    assert_eq!(a["labels"]["servername"], "testbox");
    assert_eq!(a["labels"]["group"], "storage");
    assert_eq!(a["annotations"]["message"], "CRITICAL - disk full");
    assert_eq!(a["annotations"]["description"], "root file system");
    assert!(
        a["annotations"]["target"]
            .as_str()
            .is_some_and(|t| t.ends_with("jobs/disk.sh")),
        "{a:#}"
    );
    let first_failure = instant(&f.job_state("disk")["first_failure"]);
    // Alertmanager keeps milliseconds.
    let off = (instant(&a["startsAt"]) - first_failure)
        .num_milliseconds()
        .abs();
    assert!(off <= 1, "startsAt is the streak's start: {a:#}");
    let ends = instant(&a["endsAt"]);
    assert!(
        ends > chrono::Utc::now() + chrono::Duration::minutes(3),
        "active for four resends: {a:#}"
    );

    // Within the minute nothing is posted again; a minute on (state_change: no new alert
    // by the rules) the firing alert is, and Alertmanager extends it.
    f.tick("minute");
    assert_eq!(instant(&about(&am, "disk")[0]["endsAt"]), ends);
    f.age_state(Duration::from_secs(61));
    f.tick("minute");
    let again = about(&am, "disk");
    assert_eq!(again.len(), 1, "one alert, the same one: {again:#?}");
    assert_eq!(again[0]["status"]["state"], "active");
    assert!(instant(&again[0]["endsAt"]) > ends, "{again:#?}");
    assert!(f.alerts().is_empty());
    // The repeat is not an event of its own: one delivery in the history.
    assert_eq!(deliveries(&f, "am").len(), 1, "{:#?}", deliveries(&f, "am"));

    pass(&f);
    f.tick("minute");
    let resolved = about(&am, "disk");
    assert!(
        resolved.iter().all(
            |a| a["status"]["state"] != "active" && instant(&a["endsAt"]) <= chrono::Utc::now()
        ),
        "resolved after the recovery: {resolved:#?}"
    );
    let kinds: Vec<Value> = deliveries(&f, "am")
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(kinds, vec!["notify", "recover"]);
}

#[test]
fn an_alertmanager_that_is_down_gets_the_alert_when_it_is_back_without_a_pile_of_repeats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let am = Alertmanager::start(dir.path());
    let url = am.url();
    let port = am.port;
    drop(am);
    let f = setup_at(&url, "1m");
    f.tick("minute");
    assert_eq!(f.state()["outbox"].as_array().map(Vec::len), Some(1));
    // Minutes pass with Alertmanager down: still one alert waiting, not one per minute.
    for _ in 0..3 {
        f.age_state(Duration::from_secs(61));
        f.tick("minute");
    }
    let outbox = f.state()["outbox"].as_array().cloned().unwrap_or_default();
    assert_eq!(outbox.len(), 1, "{outbox:#?}");
    let am = Alertmanager::start_on(dir.path(), port);
    f.age_to_next_retry();
    f.tick("minute");
    let alerts = about(&am, "disk");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["status"]["state"], "active");
}

fn setup_at(url: &str, resend: &str) -> Fixture {
    let f = fixture(
        &["am"],
        &webhook_table("am", "alertmanager", url, &format!("resend = \"{resend}\"")),
    );
    f.jobs("[[job]]\nname = \"disk\"\nkind = \"command\"\ncommand = [\"./disk.sh\"]\n");
    f
}
