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
//!
//! Digests: through a channel with `digest = true` the entries keep their own rows (one
//! per job, in order, superseded, settled and given up each on its own), are claimed
//! together, delivered as one message and settled with its one outcome; a failed digest's
//! entries wait for their retry together, so they go out together again.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::history::{Event, EventKind};
use crate::notify::digest::DIGEST_MAX;
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
        resend: false,
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

/// What the outbox needs to know of the channels: how long one delivery through one may
/// take (a lease outlives it), and whether its alerts go out as digests.
pub trait Channels {
    fn limit(&self, channel: &str) -> std::time::Duration;
    fn digest(&self, _channel: &str) -> bool {
        false
    }
}

/// A function of the channel's name giving its limit: no channel sends digests.
impl<F: Fn(&str) -> std::time::Duration> Channels for F {
    fn limit(&self, channel: &str) -> std::time::Duration {
        self(channel)
    }
}

/// The entries one digest may carry together: those of one channel and, for email, of
/// one set of recipients (one message has one list of recipients).
fn digest_key(e: &OutboxEntry) -> (&str, &[String]) {
    let recipients: &[String] = if e.channel == crate::config::Channel::EMAIL {
        &e.alert.recipients
    } else {
        &[]
    };
    (e.channel.as_str(), recipients)
}

/// Leases due entries to this process for one round of deliveries and returns copies to
/// deliver, oldest first: at most [`PER_CHANNEL`] deliveries per channel, [`TOTAL`] in
/// all, and only the first queued entry of each job and channel (its next alert through
/// that channel waits until this one is delivered or dropped, even while this one waits
/// for a retry, so they arrive in the order decided). Through a channel with digests a
/// delivery is a digest: up to [`DIGEST_MAX`] entries of one channel (and, for email, one
/// set of recipients) claimed together, which [`batches`] groups again. Everything
/// claimed starts at once, so a lease is the delivery's own hard limit (`channels` gives
/// it per channel) plus a margin; the rest stays due for the next round or run.
pub fn claim_due(
    state: &mut State,
    now: DateTime<Utc>,
    channels: impl Channels,
) -> Vec<OutboxEntry> {
    let mut per_channel: HashMap<&str, usize> = HashMap::new();
    let mut per_digest: HashMap<(&str, &[String]), usize> = HashMap::new();
    // Asked once per channel: a backlog has many entries and few channels.
    let mut digests: HashMap<&str, bool> = HashMap::new();
    let mut deliveries = 0usize;
    let mut picked = Vec::new();
    for i in heads(state) {
        if deliveries >= TOTAL && per_digest.is_empty() {
            break;
        }
        let e = &state.outbox[i];
        if !is_due(e, now) {
            continue;
        }
        let digest = *digests
            .entry(e.channel.as_str())
            .or_insert_with(|| channels.digest(&e.channel));
        let open_digest = if digest {
            per_digest.get_mut(&digest_key(e))
        } else {
            None
        };
        match open_digest {
            Some(n) if *n >= DIGEST_MAX => continue,
            // Joins a digest already claimed in this round: no delivery more.
            Some(n) => *n += 1,
            None => {
                let n = per_channel.entry(e.channel.as_str()).or_default();
                if *n >= PER_CHANNEL || deliveries >= TOTAL {
                    continue;
                }
                *n += 1;
                deliveries += 1;
                if digest {
                    per_digest.insert(digest_key(e), 1);
                }
            }
        }
        picked.push(i);
    }
    let mut claimed = Vec::with_capacity(picked.len());
    for i in picked {
        let e = &mut state.outbox[i];
        let lease = saturating::sum(saturating::delta(channels.limit(&e.channel)), LEASE_MARGIN);
        e.lease_until = Some(saturating::add(now, lease));
        claimed.push(e.clone());
    }
    claimed
}

/// The claimed entries as deliveries, in the order claimed: each entry on its own, except
/// through a channel with digests, where the entries of one digest (`digest_key`) are one
/// delivery.
pub fn batches(claimed: &[OutboxEntry], channels: &impl Channels) -> Vec<Vec<OutboxEntry>> {
    let mut out: Vec<Vec<OutboxEntry>> = Vec::new();
    let mut open: HashMap<(&str, &[String]), usize> = HashMap::new();
    let mut digests: HashMap<&str, bool> = HashMap::new();
    for e in claimed {
        let digest = *digests
            .entry(e.channel.as_str())
            .or_insert_with(|| channels.digest(&e.channel));
        if digest {
            if let Some(&at) = open.get(&digest_key(e)) {
                out[at].push(e.clone());
                continue;
            }
            open.insert(digest_key(e), out.len());
        }
        out.push(vec![e.clone()]);
    }
    out
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
        // A repeat of a firing alert (Alertmanager's resend): every minute of a long
        // outage would otherwise be a history event.
        Ok(_) if entry.resend => {
            state.outbox.remove(pos);
        }
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
mod digest_tests;
#[cfg(test)]
mod tests;
