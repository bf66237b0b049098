//! The outbox of queued notifications: decided and enqueued under the state lock,
//! claimed with a lease, delivered without the lock, and settled under the lock again.
//! A crash can cause at most a repeat (the lease expires), never a loss.
//!
//! Order: the outbox is kept in the order alerts were decided, and an entry is never
//! claimed while an earlier entry for the same job and channel is still queued (waiting
//! for its retry, or in flight in another process), so a channel hears a job's alerts in
//! the order decided, across rounds, runs and retries. A queued failure alert whose
//! streak has ended is dropped as superseded ([`supersede`]): it is never sent after the
//! recovery.

use std::collections::{BTreeMap, HashMap, HashSet};

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
        last_attempt: None,
        lease_until: None,
        fallback_done: false,
    });
}

/// Queues a copy of an alert decided earlier (a failed email's alert sent through the
/// other channels) where its decision time puts it among that job's queued alerts for the
/// channel, so it does not go out after an alert decided later.
pub fn enqueue_in_order(state: &mut State, channel: &str, alert: Alert, now: DateTime<Utc>) {
    let at = alert.at;
    let job = alert.job.clone();
    enqueue(state, channel, alert, now);
    let later = state.outbox.iter().position(|e| {
        e.channel == channel && e.alert.job == job && e.alert.at > at && !is_leased(e, now)
    });
    if let Some(pos) = later {
        if let Some(entry) = state.outbox.pop() {
            state.outbox.insert(pos, entry);
        }
    }
}

/// Whether any entry would be claimed now (cheap check for the idle fast path).
pub fn has_due(state: &State, now: DateTime<Utc>) -> bool {
    heads(state).any(|i| is_due(&state.outbox[i], now))
}

fn is_due(e: &OutboxEntry, now: DateTime<Utc>) -> bool {
    e.next_attempt <= now && !is_leased(e, now)
}

/// Whether another delivery (of this process or another) holds the entry now.
fn is_leased(e: &OutboxEntry, now: DateTime<Utc>) -> bool {
    e.lease_until.is_some_and(|l| l > now)
}

/// The positions of the entries that are first in the outbox for their job and channel:
/// only those may be delivered, whatever the others' state.
fn heads(state: &State) -> impl Iterator<Item = usize> + '_ {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    state
        .outbox
        .iter()
        .enumerate()
        .filter(move |(_, e)| seen.insert((e.channel.as_str(), e.alert.job.as_str())))
        .map(|(i, _)| i)
}

/// Leases due entries to this process for one round of deliveries and returns copies to
/// deliver, oldest first: at most [`PER_CHANNEL`] per channel, [`TOTAL`] in all, and only
/// the first queued entry of each job and channel (its next alert through that channel
/// waits until this one is delivered or dropped, even while this one waits for a retry,
/// so they arrive in the order decided). Everything claimed starts at once, so a lease is
/// the delivery's own hard limit (`limit` gives it per channel) plus a margin; the rest
/// stays due for the next round or run.
pub fn claim_due(
    state: &mut State,
    now: DateTime<Utc>,
    limit: impl Fn(&str) -> std::time::Duration,
) -> Vec<OutboxEntry> {
    let mut per_channel: HashMap<&str, usize> = HashMap::new();
    let mut picked = Vec::new();
    for i in heads(state) {
        if picked.len() >= TOTAL {
            break;
        }
        let e = &state.outbox[i];
        if !is_due(e, now) {
            continue;
        }
        let n = per_channel.entry(e.channel.as_str()).or_default();
        if *n >= PER_CHANNEL {
            continue;
        }
        *n += 1;
        picked.push(i);
    }
    let mut claimed = Vec::with_capacity(picked.len());
    for i in picked {
        let e = &mut state.outbox[i];
        let lease = saturating::sum(saturating::delta(limit(&e.channel)), LEASE_MARGIN);
        e.lease_until = Some(saturating::add(now, lease));
        claimed.push(e.clone());
    }
    claimed
}

/// Drops the queued failure alerts whose streak has ended: the job has succeeded since the
/// alert was decided, or a recovery for the same job is queued on the same channel after
/// it. They are never sent after the recovery; each becomes a `superseded` history event.
/// An entry another delivery holds right now is left alone (it settles as usual, and the
/// next call drops it if that delivery failed). Call it under the lock before claiming.
pub fn supersede(state: &mut State, now: DateTime<Utc>) -> Vec<Event> {
    if !state
        .outbox
        .iter()
        .any(|e| e.alert.kind == AlertKind::Failure)
    {
        return Vec::new();
    }
    // The latest recovery queued per channel and job: its place in the queue (the order
    // alerts were decided in) and when it was decided. A failure queued after it belongs to
    // a newer streak (or a new problem) and stays.
    let mut recoveries: HashMap<(String, String), (usize, DateTime<Utc>)> = HashMap::new();
    for (i, e) in state.outbox.iter().enumerate() {
        if e.alert.kind == AlertKind::Recovery {
            recoveries.insert((e.channel.clone(), e.alert.job.clone()), (i, e.alert.at));
        }
    }
    let mut events = Vec::new();
    let jobs = &state.jobs;
    let mut position = 0usize;
    state.outbox.retain(|e| {
        let i = position;
        position += 1;
        if e.alert.kind != AlertKind::Failure || is_leased(e, now) {
            return true;
        }
        let recovered_at = jobs
            .get(&e.alert.job)
            .and_then(|js| js.last_success)
            .filter(|t| *t > e.alert.at);
        let recovery_queued = if recoveries.is_empty() {
            None
        } else {
            recoveries
                .get(&(e.channel.clone(), e.alert.job.clone()))
                .filter(|(at_index, _)| *at_index > i)
                .map(|(_, at)| *at)
        };
        let Some(when) = recovered_at.or(recovery_queued) else {
            return true;
        };
        let tried = match (&e.last_error, e.attempts) {
            (Some(err), n) if n > 0 => format!("; {n} attempt(s) failed, the last with: {err}"),
            _ => String::new(),
        };
        let mut ev = Event::new(now, EventKind::Superseded, Some(&e.alert.job));
        ev.channel = Some(e.channel.clone());
        ev.message = Some(format!(
            "not sent: {} (decided {}): {} recovered at {} before it could be delivered{tried}",
            e.alert.subject(),
            e.alert.at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.alert.job,
            when.format("%Y-%m-%d %H:%M:%S UTC"),
        ));
        log::info!(
            "superseded: the failure alert for {} through {} (the job recovered before it could be delivered)",
            e.alert.job,
            e.channel
        );
        events.push(ev);
        false
    });
    events
}

/// Every delivery through `channel` in a round worked: the channel is back, so the
/// entries waiting for a retry through it become due now instead of after their backoff
/// (a backlog after an outage goes out at once, in order).
pub fn channel_works(state: &mut State, channel: &str, now: DateTime<Utc>) {
    for e in state.outbox.iter_mut() {
        if e.channel == channel && e.next_attempt > now && !is_leased(e, now) {
            e.next_attempt = now;
        }
    }
}

/// What is queued for one channel (`status`, `peer-status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelQueue {
    pub queued: usize,
    /// When the oldest queued alert was decided.
    pub oldest: DateTime<Utc>,
    /// The error of the latest failed attempt, if any failed.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// The outbox per channel, by channel name.
pub fn queues(state: &State) -> BTreeMap<String, ChannelQueue> {
    let mut out: BTreeMap<String, ChannelQueue> = BTreeMap::new();
    for e in &state.outbox {
        let q = out.entry(e.channel.clone()).or_insert(ChannelQueue {
            queued: 0,
            oldest: e.created,
            last_error: None,
            last_error_at: None,
        });
        q.queued += 1;
        q.oldest = q.oldest.min(e.created);
        if let Some(err) = &e.last_error {
            // The latest failed attempt's error; entries from before `last_attempt` was
            // recorded count as older than any that has it.
            let newer = match (e.last_attempt, q.last_error_at) {
                (Some(t), Some(seen)) => t > seen,
                (Some(_), None) => true,
                (None, None) => q.last_error.is_none(),
                (None, Some(_)) => false,
            };
            if newer {
                q.last_error = Some(err.clone());
                q.last_error_at = e.last_attempt;
            }
        }
    }
    out
}

/// A channel through which alerts have waited longer than `undeliverable_after`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Undeliverable {
    pub channel: String,
    /// When the oldest of them was decided.
    pub since: DateTime<Utc>,
    /// How many have waited that long.
    pub waiting: usize,
    pub last_error: Option<String>,
}

/// The channels with alerts queued for longer than `after` at `now`, by channel name.
pub fn undeliverable(
    state: &State,
    after: std::time::Duration,
    now: DateTime<Utc>,
) -> Vec<Undeliverable> {
    let after = saturating::delta(after);
    let mut out: BTreeMap<&str, Undeliverable> = BTreeMap::new();
    for e in &state.outbox {
        if now.signed_duration_since(e.created) <= after {
            continue;
        }
        let u = out.entry(e.channel.as_str()).or_insert(Undeliverable {
            channel: e.channel.clone(),
            since: e.created,
            waiting: 0,
            last_error: None,
        });
        u.waiting += 1;
        u.since = u.since.min(e.created);
    }
    if !out.is_empty() {
        let queues = queues(state);
        for u in out.values_mut() {
            u.last_error = queues.get(&u.channel).and_then(|q| q.last_error.clone());
        }
    }
    out.into_values().collect()
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
            entry.last_attempt = Some(now);
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
}
