//! The outbox's unit tests: order, leases, supersedence, settling, with a controlled clock.

use super::*;
use chrono::TimeZone;

fn alert(at: DateTime<Utc>) -> Alert {
    Alert {
        kind: AlertKind::Failure,
        servername: "s".into(),
        job: "j".into(),
        job_kind: "http".into(),
        description: None,
        message: "down".into(),
        consecutive_failures: 1,
        failing_since: Some(at),
        last_success: None,
        next_reminder: "x".into(),
        at,
        recipients: vec!["a@example.com".into()],
        target: None,
        expected: None,
    }
}

#[test]
fn a_claimed_entry_is_not_claimed_again_until_its_lease_expires() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    enqueue(&mut s, "email", alert(t0), t0);
    let limit = |_: &str| std::time::Duration::from_secs(30);
    assert_eq!(claim_due(&mut s, t0, limit).len(), 1);
    assert_eq!(
        claim_due(&mut s, t0 + Duration::seconds(44), limit).len(),
        0
    );
    assert_eq!(
        claim_due(&mut s, t0 + Duration::seconds(45), limit).len(),
        1,
        "a crashed deliverer's entry comes back"
    );
}

#[test]
fn failures_back_off_then_give_up_after_a_day() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    enqueue(&mut s, "email", alert(t0), t0);
    let base = std::time::Duration::from_secs(60);
    let err = Err(DeliveryError::Transient("refused".into()));
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let id = claim_due(&mut s, now, |_: &str| std::time::Duration::from_secs(30))[0]
            .id
            .clone();
        settle(&mut s, &id, &err, now, base);
        waits.push((s.outbox[0].next_attempt - now).num_minutes());
        now = s.outbox[0].next_attempt;
    }
    assert_eq!(waits, vec![1, 2, 4, 8]);
    let id = claim_due(&mut s, t0 + Duration::hours(24), |_: &str| {
        std::time::Duration::from_secs(30)
    })[0]
        .id
        .clone();
    let events = settle(&mut s, &id, &err, t0 + Duration::hours(24), base);
    assert!(s.outbox.is_empty());
    assert_eq!(events.last().map(|e| e.event), Some(EventKind::Error));
}

#[test]
fn permanent_errors_are_dropped_at_once_and_successes_removed() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    enqueue(&mut s, "a", alert(t0), t0);
    enqueue(&mut s, "b", alert(t0), t0);
    let ids: Vec<String> = claim_due(&mut s, t0, |_: &str| std::time::Duration::from_secs(30))
        .into_iter()
        .map(|e| e.id)
        .collect();
    let ev = settle(
        &mut s,
        &ids[0],
        &Err(DeliveryError::Permanent("401 bad token".into())),
        t0,
        std::time::Duration::from_secs(60),
    );
    assert_eq!(ev.len(), 2);
    let ev = settle(
        &mut s,
        &ids[1],
        &Ok(Delivered::Sent),
        t0,
        std::time::Duration::from_secs(60),
    );
    assert_eq!(ev[0].ok, Some(true));
    assert_eq!(ev[0].channel.as_deref(), Some("b"));
    assert!(s.outbox.is_empty());
}

#[test]
fn huge_limits_and_retry_delays_saturate_instead_of_panicking() {
    // A channel timeout of 99999999999 days, and the last second of time.
    let huge = std::time::Duration::from_secs(99_999_999_999 * 86_400);
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let end = DateTime::<Utc>::MAX_UTC - Duration::seconds(1);
    for now in [t0, end] {
        let mut s = State::default();
        enqueue(&mut s, "email", alert(now), now);
        let claimed = claim_due(&mut s, now, |_: &str| huge);
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].lease_until, Some(DateTime::<Utc>::MAX_UTC));
        let err = Err(DeliveryError::Transient("refused".into()));
        settle(&mut s, &claimed[0].id, &err, now, huge);
        assert_eq!(s.outbox.len(), 1, "kept for a retry");
        assert!(s.outbox[0].next_attempt >= now);
        assert!(s.outbox[0].next_attempt <= saturating::add(now, MAX_BACKOFF));
    }
}

#[test]
fn a_round_claims_four_per_channel_sixteen_in_all_and_one_per_job_and_channel() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    for ch in ["a", "b", "c", "d", "e"] {
        for i in 0..8 {
            let mut a = alert(t0);
            // Two alerts per job: the second goes in a later round.
            a.job = format!("job{}", i / 2);
            a.message = format!("{ch}{i}");
            enqueue(&mut s, ch, a, t0);
        }
    }
    let limit = |_: &str| std::time::Duration::from_secs(30);
    let mut rounds = Vec::new();
    let mut now = t0;
    loop {
        let claimed = claim_due(&mut s, now, limit);
        if claimed.is_empty() {
            break;
        }
        assert!(claimed.len() <= TOTAL);
        for ch in ["a", "b", "c", "d", "e"] {
            assert!(claimed.iter().filter(|e| e.channel == ch).count() <= PER_CHANNEL);
        }
        // Everything claimed starts at once: its own limit and the margin.
        assert!(claimed
            .iter()
            .all(|e| e.lease_until == Some(now + Duration::seconds(45))));
        let mut jobs: Vec<_> = claimed.iter().map(|e| (&e.channel, &e.alert.job)).collect();
        jobs.dedup();
        assert_eq!(jobs.len(), claimed.len(), "one per job and channel");
        rounds.push(
            claimed
                .iter()
                .map(|e| e.alert.message.clone())
                .collect::<Vec<_>>(),
        );
        for e in &claimed {
            settle(&mut s, &e.id, &Ok(Delivered::Sent), now, limit("a"));
        }
        now += Duration::seconds(1);
    }
    assert!(s.outbox.is_empty());
    assert_eq!(rounds[0].len(), TOTAL);
    assert_eq!(
        rounds[0][..3],
        ["a0", "a2", "a4"],
        "a's jobs, oldest alert first"
    );
    // Each job's alerts through a channel went out in the order decided.
    let order: Vec<String> = rounds.concat();
    for ch in ["a", "b", "c", "d", "e"] {
        for i in [0, 2, 4, 6] {
            let first = order.iter().position(|m| *m == format!("{ch}{i}"));
            let second = order.iter().position(|m| *m == format!("{ch}{}", i + 1));
            assert!(first < second, "{ch}{i}: {order:?}");
        }
    }
}

#[test]
fn a_recorded_email_names_its_recipients_and_refused_recipients_are_errors_with_the_reply() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    let mut a = alert(t0);
    a.recipients = vec!["a@example.com".into(), "b@example.com".into()];
    enqueue(&mut s, "email", a.clone(), t0);
    a.job = "other".into();
    enqueue(&mut s, "email", a, t0);
    let ids: Vec<String> = claim_due(&mut s, t0, |_: &str| std::time::Duration::from_secs(30))
        .into_iter()
        .map(|e| e.id)
        .collect();
    let base = std::time::Duration::from_secs(60);
    let ev = settle(&mut s, &ids[0], &Ok(Delivered::Recorded), t0, base);
    let m = ev[0].message.as_deref().unwrap();
    assert!(
        m.starts_with("recorded, not sent (email off), for a@example.com, b@example.com: "),
        "{m}"
    );
    let refused = Delivered::SentExcept(vec![crate::notify::Refusal {
        recipient: "b@example.com".into(),
        reply: "550 5.1.1 <b@example.com>: Recipient address rejected".into(),
    }]);
    let ev = settle(&mut s, &ids[1], &Ok(refused), t0, base);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].ok, Some(true));
    assert!(ev[0]
        .message
        .as_deref()
        .unwrap()
        .contains("refused for 1 of 2 recipient(s): b@example.com"));
    assert_eq!(ev[1].event, EventKind::Error);
    assert_eq!(ev[1].channel.as_deref(), Some("email"));
    assert!(ev[1]
        .message
        .as_deref()
        .unwrap()
        .contains("b@example.com: the server refused it: 550 5.1.1"));
    assert!(s.outbox.is_empty());
}

fn limit(_: &str) -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

fn transient() -> Result<Delivered, DeliveryError> {
    Err(DeliveryError::Transient("HTTP 503".into()))
}

/// What is claimed at `now`, as (channel, job, message).
fn claim(s: &mut State, now: DateTime<Utc>) -> Vec<(String, String, String)> {
    claim_due(s, now, limit)
        .into_iter()
        .map(|e| (e.channel, e.alert.job, e.alert.message))
        .collect()
}

fn named(job: &str, message: &str, kind: AlertKind, at: DateTime<Utc>) -> Alert {
    Alert {
        kind,
        job: job.into(),
        message: message.into(),
        ..alert(at)
    }
}

#[test]
fn a_jobs_next_alert_waits_while_an_earlier_one_waits_for_its_retry_or_is_in_flight() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let base = std::time::Duration::from_secs(60);
    let mut s = State::default();
    enqueue(
        &mut s,
        "hook",
        named("j", "first", AlertKind::Failure, t0),
        t0,
    );
    let first = claim_due(&mut s, t0, limit)[0].id.clone();
    // Decided while the first is in flight (here or in another process): it waits.
    let t1 = t0 + Duration::seconds(5);
    enqueue(
        &mut s,
        "hook",
        named("j", "second", AlertKind::Failure, t1),
        t1,
    );
    enqueue(
        &mut s,
        "hook",
        named("k", "other job", AlertKind::Failure, t1),
        t1,
    );
    enqueue(
        &mut s,
        "mail",
        named("j", "other channel", AlertKind::Failure, t1),
        t1,
    );
    assert!(has_due(&s, t1));
    let got = claim_due(&mut s, t1, limit);
    assert_eq!(
        got.iter()
            .map(|e| e.alert.message.as_str())
            .collect::<Vec<_>>(),
        ["other job", "other channel"],
        "only other jobs and channels go meanwhile"
    );
    for e in got {
        settle(&mut s, &e.id, &Ok(Delivered::Sent), t1, base);
    }
    // The first fails and waits a minute for its retry: the second still waits.
    settle(&mut s, &first, &transient(), t1, base);
    let t2 = t1 + Duration::seconds(10);
    assert!(claim(&mut s, t2).is_empty());
    assert!(!has_due(&s, t2), "nothing claimable means an idle tick");
    // At its retry the first goes; once delivered, the second follows.
    let t3 = t1 + Duration::seconds(60);
    let retry = claim_due(&mut s, t3, limit);
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].alert.message, "first");
    settle(&mut s, &retry[0].id, &Ok(Delivered::Sent), t3, base);
    assert_eq!(claim(&mut s, t3)[0].2, "second");
}

#[test]
fn a_queued_failure_is_superseded_once_its_job_succeeded_and_never_sent_after_the_recovery() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let base = std::time::Duration::from_secs(60);
    let mut s = State::default();
    enqueue(
        &mut s,
        "hook",
        named("j", "down", AlertKind::Failure, t0),
        t0,
    );
    enqueue(
        &mut s,
        "mail",
        named("j", "down", AlertKind::Failure, t0),
        t0,
    );
    let ids: Vec<String> = claim_due(&mut s, t0, limit)
        .into_iter()
        .map(|e| e.id)
        .collect();
    settle(&mut s, &ids[0], &transient(), t0, base);
    // Still failing: nothing to supersede.
    assert!(supersede(&mut s, t0 + Duration::seconds(1)).is_empty());
    // The job succeeds at t1 and its recovery is queued; the mail delivery is still in
    // flight, so only the webhook's failure can be dropped now.
    let t1 = t0 + Duration::seconds(20);
    s.jobs.entry("j".into()).or_default().last_success = Some(t1);
    enqueue(
        &mut s,
        "hook",
        named("j", "up", AlertKind::Recovery, t1),
        t1,
    );
    let events = supersede(&mut s, t1);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(ev.event, EventKind::Superseded);
    assert_eq!(ev.job.as_deref(), Some("j"));
    assert_eq!(ev.channel.as_deref(), Some("hook"));
    let m = ev.message.as_deref().unwrap();
    assert!(m.starts_with("not sent: [s] FAILED: j (down)"), "{m}");
    assert!(
        m.contains("j recovered at 2026-03-01 00:00:20 UTC before it could be delivered; 1 attempt(s) failed, the last with: HTTP 503"),
        "{m}"
    );
    assert_eq!(
        claim(&mut s, t1),
        vec![("hook".into(), "j".into(), "up".into())]
    );
    // The mail delivery fails after all: dropped then, not retried.
    settle(&mut s, &ids[1], &transient(), t1, base);
    assert_eq!(supersede(&mut s, t1).len(), 1);
    assert!(s.outbox.iter().all(|e| e.alert.kind == AlertKind::Recovery));
}

#[test]
fn a_recovery_queued_after_a_failure_supersedes_it_even_without_job_state() {
    // Alerts about checker itself (the email self-check) have no job state.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    enqueue(
        &mut s,
        "hook",
        named("self", "mail broken", AlertKind::Failure, t0),
        t0,
    );
    enqueue(
        &mut s,
        "other",
        named("self", "mail broken", AlertKind::Failure, t0),
        t0,
    );
    let t1 = t0 + Duration::hours(1);
    enqueue(
        &mut s,
        "hook",
        named("self", "mail works", AlertKind::Recovery, t1),
        t1,
    );
    let events = supersede(&mut s, t1);
    assert_eq!(events.len(), 1, "only on the channel the recovery goes to");
    assert_eq!(
        s.outbox
            .iter()
            .map(|e| (e.channel.as_str(), e.alert.kind))
            .collect::<Vec<_>>(),
        [("other", AlertKind::Failure), ("hook", AlertKind::Recovery)]
    );
}

#[test]
fn a_failure_queued_after_a_recovery_at_the_same_moment_is_a_new_problem_and_stays() {
    // A job file's problem fixed and another found in the same tick: the recovery of
    // the first is queued, then the failure of the second, both decided at t0.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut s = State::default();
    enqueue(
        &mut s,
        "hook",
        named("job file web.toml", "fixed", AlertKind::Recovery, t0),
        t0,
    );
    enqueue(
        &mut s,
        "hook",
        named("job file web.toml", "line 4: bad", AlertKind::Failure, t0),
        t0,
    );
    assert!(supersede(&mut s, t0).is_empty());
    assert_eq!(s.outbox.len(), 2);
}

#[test]
fn a_copy_of_an_earlier_alert_is_queued_before_the_jobs_later_alerts() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let t1 = t0 + Duration::minutes(1);
    let mut s = State::default();
    enqueue(
        &mut s,
        "push",
        named("k", "other job", AlertKind::Failure, t0),
        t1,
    );
    enqueue(
        &mut s,
        "push",
        named("j", "reminder", AlertKind::Failure, t1),
        t1,
    );
    enqueue_in_order(
        &mut s,
        "push",
        named("j", "first", AlertKind::Failure, t0),
        t1,
    );
    enqueue_in_order(
        &mut s,
        "push",
        named("m", "alone", AlertKind::Failure, t0),
        t1,
    );
    let order: Vec<&str> = s.outbox.iter().map(|e| e.alert.message.as_str()).collect();
    assert_eq!(order, ["other job", "first", "reminder", "alone"]);
}

#[test]
fn a_channel_that_works_again_lets_its_waiting_alerts_go_at_once() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let base = std::time::Duration::from_secs(600);
    let mut s = State::default();
    enqueue(&mut s, "hook", named("j", "a", AlertKind::Failure, t0), t0);
    enqueue(&mut s, "mail", named("j", "b", AlertKind::Failure, t0), t0);
    for e in claim_due(&mut s, t0, limit) {
        settle(&mut s, &e.id, &transient(), t0, base);
    }
    let t1 = t0 + Duration::seconds(30);
    assert!(claim(&mut s, t1).is_empty(), "both wait ten minutes");
    channel_works(&mut s, "hook", t1);
    assert_eq!(
        claim(&mut s, t1),
        vec![("hook".into(), "j".into(), "a".into())]
    );
}

#[test]
fn queues_and_undeliverable_say_per_channel_how_many_since_when_and_the_last_error() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let base = std::time::Duration::from_secs(1);
    let mut s = State::default();
    enqueue(&mut s, "hook", named("j", "a", AlertKind::Failure, t0), t0);
    let t1 = t0 + Duration::minutes(10);
    enqueue(&mut s, "hook", named("k", "b", AlertKind::Failure, t1), t1);
    enqueue(&mut s, "email", named("k", "b", AlertKind::Failure, t1), t1);
    let mut at = t1;
    for (e, err) in claim_due(&mut s, t1, limit)
        .into_iter()
        .zip(["older", "newer", "smtp"])
    {
        at += Duration::seconds(1);
        settle(
            &mut s,
            &e.id,
            &Err(DeliveryError::Transient(err.into())),
            at,
            base,
        );
    }
    let q = queues(&s);
    assert_eq!(q.len(), 2);
    assert_eq!(q["hook"].queued, 2);
    assert_eq!(q["hook"].oldest, t0);
    assert_eq!(q["hook"].last_error.as_deref(), Some("newer"));
    assert_eq!(q["hook"].last_error_at, Some(t1 + Duration::seconds(2)));
    let after = std::time::Duration::from_secs(15 * 60);
    assert!(undeliverable(&s, after, t0 + Duration::minutes(15)).is_empty());
    let u = undeliverable(&s, after, t0 + Duration::minutes(16));
    assert_eq!(
        u,
        vec![Undeliverable {
            channel: "hook".into(),
            since: t0,
            waiting: 1,
            last_error: Some("newer".into()),
        }]
    );
    let u = undeliverable(&s, after, t1 + Duration::minutes(16));
    assert_eq!(
        u.iter()
            .map(|u| (u.channel.as_str(), u.waiting))
            .collect::<Vec<_>>(),
        [("email", 1), ("hook", 2)]
    );
}
