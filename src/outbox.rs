//! The outbox of queued notifications: decided and enqueued under the state lock,
//! claimed with a lease, delivered without the lock, and settled under the lock again.
//! A crash can cause at most a repeat (the lease expires), never a loss.

use chrono::{DateTime, Duration, Utc};

use crate::history::{Event, EventKind};
use crate::notify::{Alert, AlertKind, Delivered, DeliveryError};
use crate::state::{OutboxEntry, State};

/// How long a claimed entry belongs to the process delivering it, beyond the
/// delivery's own time limit: long enough that a live deliverer always settles first,
/// short enough that an entry claimed by a killed process is retried soon.
pub const LEASE_MARGIN: Duration = Duration::seconds(15);
/// Undelivered entries older than this are dropped with an error event.
pub const GIVE_UP_AFTER: Duration = Duration::hours(24);
/// Longest wait between two delivery attempts.
const MAX_BACKOFF: Duration = Duration::minutes(30);

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

/// Leases every due entry to this process and returns copies to deliver.
/// `limit` gives the hard time limit of a delivery through a channel.
pub fn claim_due(
    state: &mut State,
    now: DateTime<Utc>,
    limit: impl Fn(&str) -> std::time::Duration,
) -> Vec<OutboxEntry> {
    let mut claimed = Vec::new();
    for e in state.outbox.iter_mut() {
        if is_due(e, now) {
            let lease =
                Duration::from_std(limit(&e.channel)).unwrap_or(Duration::hours(1)) + LEASE_MARGIN;
            e.lease_until = Some(now + lease);
            claimed.push(e.clone());
        }
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
            attempt.message = Some(match how {
                Delivered::Sent => entry.alert.subject(),
                Delivered::Recorded => {
                    format!("recorded, not sent (email off): {}", entry.alert.subject())
                }
            });
            events.push(attempt);
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
            if permanent || now - entry.created >= GIVE_UP_AFTER {
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
                let base = Duration::from_std(retry_base).unwrap_or(Duration::minutes(1));
                let factor = 1i32 << entry.attempts.saturating_sub(1).min(16);
                entry.next_attempt = now + (base * factor).min(MAX_BACKOFF);
            }
        }
    }
    events
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
}
