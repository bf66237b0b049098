//! Delivering queued alerts: each claimed outbox entry through its channel, concurrently and
//! under a hard time limit, without the state lock; then settling the outcomes under the
//! lock (outbox, mail health, history). A failed email delivery is copied to the other
//! channels (`route::fallback_channels`).
//!
//! Concurrency is bounded: at most `outbox::PER_CHANNEL` deliveries at once through one
//! channel, `outbox::TOTAL` in all, and one at a time per job and channel, so a backlog
//! after an outage goes out as a steady stream and a job's alerts keep their order.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::outbox;
use crate::engine::route::fallback_channels;
use crate::engine::txn::Ledger;
use crate::engine::{NotificationReport, RunError};
use crate::notify::digest::Digest;
use crate::notify::{
    deliver, deliver_digest, Alert, AlertKind, Delivered, DeliveryError, SendOptions,
};
use crate::state::{OutboxEntry, State};

/// Rounds of deliveries one run makes at most (each at most `outbox::PER_CHANNEL` per
/// channel): the rest of a backlog goes out on the next runs.
const MAX_ROUNDS: usize = 16;
/// No new round starts after this long.
const ROUNDS_BUDGET: Duration = Duration::from_secs(120);

/// Delivers claimed outbox entries concurrently without the lock (each channel on its
/// own, under a hard time limit), then settles them under the lock: outbox, mail health,
/// history. `finish` changes the state in that same locked step. Used by runs and by
/// pushed results.
pub fn deliver_and_settle(
    ledger: &Ledger,
    runtime: &tokio::runtime::Runtime,
    claimed: &[OutboxEntry],
    send: SendOptions,
    finish: impl FnOnce(&mut State, DateTime<Utc>),
) -> Result<Vec<NotificationReport>, RunError> {
    let config = ledger.config();
    let mut notifications = Vec::new();
    let mut claimed = claimed.to_vec();
    let mut finish = Some(finish);
    let started = std::time::Instant::now();
    // Round after round while alerts are due: a backlog after an outage (each round takes
    // at most a few per channel), or alerts a failed email delivery queued on the other
    // channels, which go out at once rather than a tick later. Failed deliveries wait for
    // their backoff, so rounds end; and never more than MAX_ROUNDS or ROUNDS_BUDGET.
    let channels = Policy(config);
    for round in 0..MAX_ROUNDS {
        // One delivery per entry, or per digest through a channel with digests.
        let groups = outbox::batches(&claimed, &channels);
        let leaders: Vec<OutboxEntry> = groups.iter().map(|g| g[0].clone()).collect();
        let group_of: HashMap<&str, &[OutboxEntry]> = groups
            .iter()
            .map(|g| (g[0].id.as_str(), g.as_slice()))
            .collect();
        let outcomes: Vec<Result<Delivered, DeliveryError>> =
            runtime.block_on(bounded(&leaders, outbox::PER_CHANNEL, outbox::TOTAL, |e| {
                deliver_group(
                    config,
                    group_of.get(e.id.as_str()).copied().unwrap_or(&[]),
                    send,
                )
            }));

        let mut txn = ledger.begin(Utc::now())?;
        let (state, events, now) = (&mut txn.state, &mut txn.events, txn.now);
        // Channels through which every delivery of this round worked, and those through
        // which one failed.
        let mut worked: Vec<&str> = Vec::new();
        let mut failed: Vec<&str> = Vec::new();
        // Each entry of a digest is settled with the digest's outcome: its own history
        // event, retry, backoff and give-up, as if it had gone alone.
        let settled = groups
            .iter()
            .zip(&outcomes)
            .flat_map(|(g, outcome)| g.iter().map(move |e| (e, outcome, g.len())));
        for (entry, outcome, together) in settled {
            let list = if outcome.is_ok() {
                &mut worked
            } else {
                &mut failed
            };
            if !list.contains(&entry.channel.as_str()) {
                list.push(entry.channel.as_str());
            }
            if entry.channel == "email" && outcome.is_err() {
                fan_out_after_mail_failure(config, state, entry, now);
            }
            let mut settled = outbox::settle(
                state,
                &entry.id,
                outcome,
                now,
                config.general.delivery_retry,
            );
            if together > 1 {
                // The attempt is the first event: say it was one message for them all.
                if let Some(m) = settled.first_mut().and_then(|ev| ev.message.as_mut()) {
                    m.push_str(&format!(" (in one digest of {together} alerts)"));
                }
            }
            events.extend(settled);
            if entry.channel == "email" {
                note_email_outcome(state, outcome, now, "delivering an alert");
            }
            notifications.push(NotificationReport {
                job: entry.alert.job.clone(),
                channel: entry.channel.clone(),
                kind: entry.alert.kind,
                delivered: outcome.is_ok(),
                error: outcome.as_ref().err().map(|e| e.message().to_string()),
            });
        }
        for channel in worked.iter().filter(|c| !failed.contains(c)) {
            outbox::channel_works(state, channel, now);
        }
        // A failure alert that was in flight (here or elsewhere) while its job recovered,
        // or copied to a fallback channel after it, is dropped before anything is claimed.
        events.extend(outbox::supersede(state, now));
        let again = round + 1 < MAX_ROUNDS && started.elapsed() < ROUNDS_BUDGET;
        claimed = if again {
            outbox::claim_due(state, now, channels)
        } else {
            Vec::new()
        };
        if claimed.is_empty() {
            if let Some(finish) = finish.take() {
                finish(state, now);
            }
        }
        txn.commit()?;
        if claimed.is_empty() {
            break;
        }
    }
    Ok(notifications)
}

/// Runs `deliver` on every entry, in their order, with at most `per_channel` at once per
/// channel, `total` at once in all, and one at a time per job and channel; the outcomes
/// come back in the entries' order.
pub async fn bounded<'a, F, Fut>(
    entries: &'a [OutboxEntry],
    per_channel: usize,
    total: usize,
    deliver: F,
) -> Vec<Fut::Output>
where
    F: Fn(&'a OutboxEntry) -> Fut,
    Fut: Future,
{
    use tokio::sync::Semaphore;
    let all = Semaphore::new(total.max(1));
    let mut channels: HashMap<&str, Semaphore> = HashMap::new();
    let mut jobs: HashMap<(&str, &str), Semaphore> = HashMap::new();
    for e in entries {
        channels
            .entry(e.channel.as_str())
            .or_insert_with(|| Semaphore::new(per_channel.max(1)));
        jobs.entry((e.channel.as_str(), e.alert.job.as_str()))
            .or_insert_with(|| Semaphore::new(1));
    }
    let (all, channels, jobs) = (&all, &channels, &jobs);
    let deliver = &deliver;
    let futs = entries.iter().map(|e| async move {
        // Always in this order (job, channel, all), and tokio's semaphores are fair:
        // entries start in the order given, and waiting never deadlocks.
        let _job = match jobs.get(&(e.channel.as_str(), e.alert.job.as_str())) {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let _channel = match channels.get(e.channel.as_str()) {
            Some(s) => s.acquire().await.ok(),
            None => None,
        };
        let _all = all.acquire().await.ok();
        deliver(e).await
    });
    futures_util::future::join_all(futs).await
}

/// What the outbox needs to know of the configured channels: each one's hard limit on a
/// delivery, and whether it sends digests (`Config::digest`).
#[derive(Clone, Copy)]
pub struct Policy<'c>(pub &'c Config);

impl outbox::Channels for Policy<'_> {
    fn limit(&self, channel: &str) -> Duration {
        delivery_limit(self.0, channel)
    }

    fn digest(&self, channel: &str) -> bool {
        self.0.digest(channel)
    }
}

/// Delivers one entry, or the entries of one digest as one message, under a hard limit,
/// so a hung channel cannot hold the run.
async fn deliver_group(
    config: &Config,
    group: &[OutboxEntry],
    send: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let Some(first) = group.first() else {
        return Err(DeliveryError::Permanent("nothing to deliver".into()));
    };
    if group.len() == 1 && !config.digest(&first.channel) {
        return deliver_limited(config, &first.channel, &first.alert, send).await;
    }
    let alerts = group.iter().map(|e| e.alert.clone()).collect();
    let Some(digest) = Digest::new(alerts) else {
        return Err(DeliveryError::Permanent("nothing to deliver".into()));
    };
    let subject = digest.subject();
    limited(
        config,
        &first.channel,
        &subject,
        deliver_digest(config, &first.channel, &digest, send),
    )
    .await
}

/// Delivers `alert` through `channel` within the channel's hard limit, logging the outcome.
pub async fn deliver_limited(
    config: &Config,
    channel: &str,
    alert: &Alert,
    send: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let subject = alert.subject();
    limited(
        config,
        channel,
        &subject,
        deliver(config, channel, alert, send),
    )
    .await
}

/// A digest (`test-notify --digest`) through `channel` within its hard limit, logged.
pub async fn deliver_digest_limited(
    config: &Config,
    channel: &str,
    digest: &Digest,
    send: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let subject = digest.subject();
    limited(
        config,
        channel,
        &subject,
        deliver_digest(config, channel, digest, send),
    )
    .await
}

/// Runs a delivery of the message `subject` names through `channel` within the channel's
/// hard limit, masks what the server answered, and logs the outcome.
async fn limited(
    config: &Config,
    channel: &str,
    subject: &str,
    delivery: impl Future<Output = Result<Delivered, DeliveryError>>,
) -> Result<Delivered, DeliveryError> {
    let limit = delivery_limit(config, channel);
    let r = match tokio::time::timeout(limit, delivery).await {
        Ok(r) => r,
        Err(_) => Err(DeliveryError::Transient(format!(
            "{channel} did not finish within {}",
            crate::duration::format(limit)
        ))),
    };
    // What a server answered may echo a secret: masked before anyone prints or stores it.
    let r = r.map_err(|e| match e {
        DeliveryError::Transient(m) => DeliveryError::Transient(crate::redact::string(m)),
        DeliveryError::Permanent(m) => DeliveryError::Permanent(crate::redact::string(m)),
    });
    match &r {
        Ok(Delivered::Recorded) => {
            log::info!("recorded, not sent (email off), through {channel}: {subject}")
        }
        Ok(Delivered::SentExcept(refused)) => log::info!(
            "delivered through {channel}, except to {}: {subject}",
            refused
                .iter()
                .map(|r| r.recipient.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Ok(Delivered::Sent) => log::info!("delivered through {channel}: {subject}"),
        Err(err) => log::warn!("delivery through {channel} failed: {}", err.message()),
    }
    r
}

/// The hard limit on one delivery through `channel`: its own timeout and a little more.
pub fn delivery_limit(config: &Config, channel: &str) -> Duration {
    channel_timeout(config, channel).saturating_add(Duration::from_secs(5))
}

fn channel_timeout(config: &Config, channel: &str) -> Duration {
    match config.channel(channel) {
        // A refused recipient makes a second, per-recipient round (`email::send_each`).
        Some(c) if c.is_email() => c.timeout().saturating_mul(2),
        Some(c) => c.timeout(),
        None => Duration::from_secs(30),
    }
}

/// An email delivery of `entry` just failed: queue the alert once on the fallback
/// channels it was not already sent to (the next round delivers them), before any alert
/// for the same job decided after it.
fn fan_out_after_mail_failure(
    config: &Config,
    state: &mut State,
    entry: &OutboxEntry,
    now: DateTime<Utc>,
) {
    if entry.alert.kind == AlertKind::Test {
        return;
    }
    if let Some(e) = state.outbox.iter_mut().find(|e| e.id == entry.id) {
        if e.fallback_done {
            return;
        }
        e.fallback_done = true;
    }
    let own: Vec<String> = match config.job(&entry.alert.job) {
        Some(j) => j.notify.clone(),
        None => config.default_notify.clone(),
    };
    for ch in fallback_channels(config, &own) {
        if !own.contains(&ch) {
            log::warn!(
                "email is failing: also sending the {} alert for {} through {ch}",
                entry.alert.kind.as_str(),
                entry.alert.job
            );
            outbox::enqueue_in_order(state, &ch, entry.alert.clone(), now);
        }
    }
}

/// What an email delivery says of mail health: a sent message proves it, a failure
/// disproves it; a recorded one (email off) says nothing.
pub fn note_email_outcome(
    state: &mut State,
    outcome: &Result<Delivered, DeliveryError>,
    now: DateTime<Utc>,
    what: &str,
) {
    match outcome {
        Ok(Delivered::Sent | Delivered::SentExcept(_)) => {
            state.mail.ok = Some(true);
            state.mail.checked_at = Some(now);
            state.mail.last_error = None;
        }
        Err(e) => {
            state.mail.ok = Some(false);
            state.mail.checked_at = Some(now);
            state.mail.last_error = Some(format!("{what}: {}", e.message()));
        }
        Ok(Delivered::Recorded) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    fn entries(channels: usize, per: usize) -> Vec<OutboxEntry> {
        let now = Utc::now();
        let mut state = State::default();
        for c in 0..channels {
            for i in 0..per {
                let alert = Alert {
                    kind: AlertKind::Failure,
                    servername: "s".into(),
                    // Two alerts per job: they must go out one after the other, in order.
                    job: format!("job{}", i / 2),
                    job_kind: "http".into(),
                    description: None,
                    message: format!("{i}"),
                    consecutive_failures: 1,
                    failing_since: None,
                    last_success: None,
                    next_reminder: String::new(),
                    at: now,
                    recipients: Vec::new(),
                    target: None,
                    expected: None,
                };
                outbox::enqueue(&mut state, &format!("ch{c}"), alert, now);
            }
        }
        state.outbox
    }

    #[tokio::test]
    async fn deliveries_are_bounded_per_channel_and_in_all_and_keep_a_jobs_order() {
        let list = entries(6, 10);
        let in_flight: Mutex<HashMap<String, usize>> = Mutex::default();
        let most: Mutex<HashMap<String, usize>> = Mutex::default();
        let (all, most_all) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let order: Mutex<Vec<(String, String, String)>> = Mutex::default();
        let outcomes = bounded(&list, 4, 16, |e| {
            let (in_flight, most, all, most_all, order) =
                (&in_flight, &most, &all, &most_all, &order);
            async move {
                {
                    let mut f = in_flight.lock().unwrap();
                    let n = f.entry(e.channel.clone()).or_default();
                    *n += 1;
                    let mut m = most.lock().unwrap();
                    let top = m.entry(e.channel.clone()).or_default();
                    *top = (*top).max(*n);
                }
                let now = all.fetch_add(1, Ordering::SeqCst) + 1;
                most_all.fetch_max(now, Ordering::SeqCst);
                order.lock().unwrap().push((
                    e.channel.clone(),
                    e.alert.job.clone(),
                    e.alert.message.clone(),
                ));
                tokio::time::sleep(Duration::from_millis(20)).await;
                all.fetch_sub(1, Ordering::SeqCst);
                *in_flight.lock().unwrap().get_mut(&e.channel).unwrap() -= 1;
                e.id.clone()
            }
        })
        .await;
        // Every entry delivered, outcomes in the entries' order.
        assert_eq!(
            outcomes,
            list.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
        );
        let most = most.into_inner().unwrap();
        assert_eq!(most.len(), 6);
        assert!(most.values().all(|&n| n <= 4), "{most:?}");
        assert!(most.values().any(|&n| n == 4), "{most:?}");
        assert_eq!(most_all.load(Ordering::SeqCst), 16);
        // Each job's two alerts through a channel started in the order decided.
        let order = order.into_inner().unwrap();
        for e in &list {
            let started: Vec<&str> = order
                .iter()
                .filter(|(c, j, _)| *c == e.channel && *j == e.alert.job)
                .map(|(_, _, m)| m.as_str())
                .collect();
            let mut sorted = started.clone();
            sorted.sort_by_key(|m| m.parse::<u32>().unwrap_or(0));
            assert_eq!(started, sorted);
        }
    }
}
