//! The outbox with digests: claimed together, grouped per channel (and per recipients for
//! email), retried together, and still one row, one order and one supersedence per job.

use super::*;
use chrono::TimeZone;

/// Channels named here send digests; every delivery may take 30 s.
struct Digests(&'static [&'static str]);

impl Channels for Digests {
    fn limit(&self, _: &str) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
    fn digest(&self, channel: &str) -> bool {
        self.0.contains(&channel)
    }
}

const HOOK: Digests = Digests(&["hook", "email"]);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn alert(job: &str, kind: AlertKind, at: DateTime<Utc>) -> Alert {
    Alert {
        kind,
        servername: "s".into(),
        job: job.into(),
        job_kind: "http".into(),
        description: None,
        message: format!("{job} {}", kind.as_str()),
        consecutive_failures: 1,
        failing_since: Some(at),
        last_success: None,
        next_reminder: String::new(),
        at,
        recipients: vec!["ops@example.com".into()],
        target: None,
        expected: None,
    }
}

/// The jobs of each delivery the claimed entries make.
fn deliveries(claimed: &[OutboxEntry]) -> Vec<(String, Vec<String>)> {
    batches(claimed, &HOOK)
        .into_iter()
        .map(|g| {
            (
                g[0].channel.clone(),
                g.iter().map(|e| e.alert.job.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn a_digest_channel_takes_every_due_alert_in_one_delivery_while_others_go_four_at_a_time() {
    let mut s = State::default();
    for i in 0..10 {
        enqueue(
            &mut s,
            "hook",
            alert(&format!("j{i}"), AlertKind::Failure, t0()),
            t0(),
        );
        enqueue(
            &mut s,
            "plain",
            alert(&format!("j{i}"), AlertKind::Failure, t0()),
            t0(),
        );
    }
    // A job's second alert still waits for its first.
    enqueue(&mut s, "hook", alert("j0", AlertKind::Recovery, t0()), t0());
    let claimed = claim_due(&mut s, t0(), HOOK);
    let got = deliveries(&claimed);
    let jobs = |n: usize| (0..n).map(|i| format!("j{i}")).collect::<Vec<_>>();
    assert_eq!(got[0], ("hook".to_string(), jobs(10)));
    assert_eq!(got.len(), 1 + PER_CHANNEL, "{got:?}");
    assert!(got[1..]
        .iter()
        .all(|(ch, jobs)| ch == "plain" && jobs.len() == 1));
    // Every entry of the digest is leased like a single delivery.
    assert!(claimed
        .iter()
        .all(|e| e.lease_until == Some(t0() + Duration::seconds(45))));
}

#[test]
fn a_digest_carries_at_most_its_maximum_and_email_makes_one_per_set_of_recipients() {
    let mut s = State::default();
    let n = DIGEST_MAX + 20;
    for i in 0..n {
        enqueue(
            &mut s,
            "hook",
            alert(&format!("j{i}"), AlertKind::Failure, t0()),
            t0(),
        );
    }
    for (job, to) in [
        ("a", "ops@example.com"),
        ("b", "db@example.com"),
        ("c", "ops@example.com"),
    ] {
        let mut a = alert(job, AlertKind::Failure, t0());
        a.recipients = vec![to.into()];
        enqueue(&mut s, "email", a, t0());
    }
    let claimed = claim_due(&mut s, t0(), HOOK);
    let got = deliveries(&claimed);
    let sizes: Vec<(&str, usize)> = got.iter().map(|(c, j)| (c.as_str(), j.len())).collect();
    assert_eq!(sizes, [("hook", DIGEST_MAX), ("email", 2), ("email", 1)]);
    assert_eq!(got[1].1, ["a", "c"]);
    for e in &claimed {
        settle(
            &mut s,
            &e.id,
            &Ok(Delivered::Sent),
            t0(),
            std::time::Duration::from_secs(60),
        );
    }
    // The rest goes in the next round, as one more digest.
    let rest = deliveries(&claim_due(&mut s, t0(), HOOK));
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].1.len(), 20);
}

#[test]
fn a_failed_digest_waits_and_goes_again_together_and_each_alert_keeps_its_own_row() {
    let base = std::time::Duration::from_secs(60);
    let mut s = State::default();
    for job in ["a", "b", "c"] {
        enqueue(&mut s, "hook", alert(job, AlertKind::Failure, t0()), t0());
    }
    let claimed = claim_due(&mut s, t0(), HOOK);
    let mut events = Vec::new();
    for e in &claimed {
        events.extend(settle(
            &mut s,
            &e.id,
            &Err(DeliveryError::Transient("HTTP 503".into())),
            t0(),
            base,
        ));
    }
    // One failed attempt event per alert, each kept with its own attempt count.
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e.ok == Some(false) && e.channel.as_deref() == Some("hook")));
    assert_eq!(s.outbox.len(), 3);
    assert!(s.outbox.iter().all(|e| e.attempts == 1));
    // Meanwhile "b" recovers: its failure is superseded, never sent; "d" fails.
    let t1 = t0() + Duration::seconds(20);
    s.jobs.entry("b".into()).or_default().last_success = Some(t1);
    let superseded = supersede(&mut s, t1);
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0].job.as_deref(), Some("b"));
    enqueue(&mut s, "hook", alert("d", AlertKind::Failure, t1), t1);
    // "d" is due now and goes alone; "a" and "c" wait for their retry, then go together.
    assert_eq!(
        deliveries(&claim_due(&mut s, t1, HOOK)),
        [("hook".to_string(), vec!["d".to_string()])]
    );
    let retry = t0() + Duration::seconds(60);
    assert!(claim_due(&mut s, retry - Duration::seconds(1), HOOK).is_empty());
    assert_eq!(
        deliveries(&claim_due(&mut s, retry, HOOK)),
        [("hook".to_string(), vec!["a".to_string(), "c".to_string()])]
    );
}
