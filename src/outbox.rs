//! The outbox of queued notifications: decided and enqueued under the state lock,
//! claimed with a lease, delivered without the lock, and settled under the lock again.
//! A crash can cause at most a repeat (the lease expires), never a loss.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::history::{Event, EventKind};
use crate::notify::{Alert, AlertKind, Delivered, DeliveryError};
use crate::saturating;
use crate::state::{OutboxEntry, State};

/// How long a claimed entry belongs to the process delivering it, beyond the
/// delivery's own time limit: long enough that a live deliverer always settles first,
/// short enough that an entry claimed by a killed process is retried soon.
pub const LEASE_MARGIN: Duration = Duration::seconds(15);
/// Undelivered entries older than this are dropped with an error event.
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// Longest wait between two delivery attempts.
const MAX_BACKOFF: Duration = Duration::minutes(30);
/// Deliveries in flight at once through one channel, and through all of them: after an
/// outage a day of queued alerts goes out as a bounded stream of rounds, not thousands of
/// simultaneous connections.
pub const PER_CHANNEL: usize = 4;
pub const TOTAL: usize = 16;

pub fn enqueue(state: &mut State, channel: &str, alert: Alert, now: DateTime<Utc>) {
    let id = format!(
        "{}-{:08x}",
        now.format("%Y%m%dT%H%M%S%.6f"),
        rand::random::<u32>()
    );
    state.outbox.push(OutboxEntry {
        id,
        channel: channel.to_string(),
        alert,
        created: now,
        attempts: 0,
        next_attempt: now,
        last_error: None,
        lease_until: None,
        fallback_done: false,
    });
}

/// Whether any entry would be claimed now (cheap check for the idle fast path).
pub fn has_due(state: &State, now: DateTime<Utc>) -> bool {
    state.outbox.iter().any(|e| is_due(e, now))
}

fn is_due(e: &OutboxEntry, now: DateTime<Utc>) -> bool {
    e.next_attempt <= now && e.lease_until.is_none_or(|l| l <= now)
}

/// Leases due entries to this process for one round of deliveries and returns copies to
/// deliver, oldest first: at most [`PER_CHANNEL`] per channel, [`TOTAL`] in all, and one
/// per job and channel (a job's next alert through a channel waits for the round after,
/// so they arrive in the order decided). Everything claimed starts at once, so a lease is
/// the delivery's own hard limit (`limit` gives it per channel) plus a margin; the rest
/// stays due for the next round or run.
pub fn claim_due(
    state: &mut State,
    now: DateTime<Utc>,
    limit: impl Fn(&str) -> std::time::Duration,
) -> Vec<OutboxEntry> {
    let mut per_channel: HashMap<String, usize> = HashMap::new();
    let mut jobs: HashSet<(String, String)> = HashSet::new();
    let mut claimed = Vec::new();
    for e in state.outbox.iter_mut() {
        if claimed.len() >= TOTAL {
            break;
        }
        if !is_due(e, now) {
            continue;
        }
        let n = per_channel.entry(e.channel.clone()).or_default();
        if *n >= PER_CHANNEL || !jobs.insert((e.channel.clone(), e.alert.job.clone())) {
            continue;
        }
        *n += 1;
        let lease = saturating::sum(saturating::delta(limit(&e.channel)), LEASE_MARGIN);
        e.lease_until = Some(saturating::add(now, lease));
        claimed.push(e.clone());
    }
    claimed
}

/// Records the outcome of delivering entry `id`. Returns the history events to append
/// (the delivery attempt, and an error event if the entry is given up).
pub fn settle(
    state: &mut State,
    id: &str,
    outcome: &Result<Delivered, DeliveryError>,
    now: DateTime<Utc>,
    retry_base: std::time::Duration,
) -> Vec<Event> {
    let Some(pos) = state.outbox.iter().position(|e| e.id == id) else {
        // Another process settled it after our lease expired: nothing left to do.
        return Vec::new();
    };
    let mut events = Vec::new();
    let entry = &mut state.outbox[pos];
    let kind = match entry.alert.kind {
        AlertKind::Recovery => EventKind::Recover,
        _ => EventKind::Notify,
    };
    let mut attempt = Event::new(now, kind, Some(&entry.alert.job));
    attempt.channel = Some(entry.channel.clone());
    match outcome {
        Ok(how) => {
            attempt.ok = Some(true);
            let subject = entry.alert.subject();
            attempt.message = Some(match how {
                Delivered::Sent => subject,
                Delivered::Recorded => format!(
                    "recorded, not sent (email off), for {}: {subject}",
                    recipients(&entry.alert)
                ),
                Delivered::SentExcept(refused) => format!(
                    "{subject} (sent; refused for {} of {} recipient(s): {})",
                    refused.len(),
                    entry.alert.recipients.len(),
                    refused
                        .iter()
                        .map(|r| r.recipient.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            events.push(attempt);
            if let Delivered::SentExcept(refused) = how {
                for r in refused {
                    let mut ev = Event::error(
                        now,
                        Some(&entry.alert.job),
                        format!(
                            "the {} alert was not delivered to {}: the server refused it: {}",
                            entry.alert.kind.as_str(),
                            r.recipient,
                            r.reply
                        ),
                    );
                    ev.channel = Some(entry.channel.clone());
                    events.push(ev);
                }
            }
            state.outbox.remove(pos);
        }
        Err(err) => {
            entry.attempts += 1;
            entry.last_error = Some(err.message().to_string());
            entry.lease_until = None;
            attempt.ok = Some(false);
            attempt.message = Some(format!(
                "attempt {} failed: {}",
                entry.attempts,
                err.message()
            ));
            attempt.attempts = Some(entry.attempts);
            events.push(attempt);
            let permanent = matches!(err, DeliveryError::Permanent(_));
            if permanent || now.signed_duration_since(entry.created) >= GIVE_UP_AFTER {
                let why = if permanent {
                    "the error will not pass by retrying"
                } else {
                    "undelivered for 24 hours"
                };
                events.push(Event::error(
                    now,
                    Some(&entry.alert.job),
                    format!(
                        "gave up delivering the {} alert through {} after {} attempt(s) ({why}): {}",
                        entry.alert.kind.as_str(),
                        entry.channel,
                        entry.attempts,
                        err.message()
                    ),
                ));
                log::error!(
                    "gave up delivering {} through {}: {}",
                    entry.alert.subject(),
                    entry.channel,
                    err.message()
                );
                state.outbox.remove(pos);
            } else {
                let factor = 1i32 << entry.attempts.saturating_sub(1).min(16);
                let wait = saturating::mul(saturating::delta(retry_base), factor);
                entry.next_attempt = saturating::add(now, wait.min(MAX_BACKOFF));
            }
        }
    }
    events
}

/// An alert's email recipients, for messages.
fn recipients(alert: &Alert) -> String {
    if alert.recipients.is_empty() {
        "no recipient".to_string()
    } else {
        alert.recipients.join(", ")
    }
}

#[cfg(test)]
mod tests {
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
            let id = claim_due(&mut s, now, |_| std::time::Duration::from_secs(30))[0]
                .id
                .clone();
            settle(&mut s, &id, &err, now, base);
            waits.push((s.outbox[0].next_attempt - now).num_minutes());
            now = s.outbox[0].next_attempt;
        }
        assert_eq!(waits, vec![1, 2, 4, 8]);
        let id = claim_due(&mut s, t0 + Duration::hours(24), |_| {
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
        let ids: Vec<String> = claim_due(&mut s, t0, |_| std::time::Duration::from_secs(30))
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
            let claimed = claim_due(&mut s, now, |_| huge);
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
        let ids: Vec<String> = claim_due(&mut s, t0, |_| std::time::Duration::from_secs(30))
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
}
