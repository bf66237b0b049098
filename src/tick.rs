//! One run of checker: decide what is due under the lock, run the checks without it,
//! merge results and decide notifications under the lock, deliver without it, and settle
//! deliveries under the lock. Used by cron ticks and by `run-once`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::check::runner::{run_all, RunnerOptions};
use crate::check::CheckResult;
use crate::config::{Config, Job};
use crate::history::{Event, EventKind, History};
use crate::notify::{deliver, Alert, AlertKind, Delivered, DeliveryError, SendOptions};
use crate::outbox;
use crate::rules::{self, Decision};
use crate::schedule::Tick;
use crate::state::{OutboxEntry, State, StateError, Store};

/// What to run.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A cron tick: the jobs due on it.
    Tick(Tick),
    /// `run-once`: these jobs now, whatever their schedule (all enabled jobs when empty).
    Jobs(Vec<String>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub nomail: bool,
}

/// One delivery attempt made in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotificationReport {
    pub job: String,
    pub channel: String,
    pub kind: AlertKind,
    pub delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunReport {
    pub results: Vec<CheckResult>,
    pub notifications: Vec<NotificationReport>,
    /// Jobs the deadline stopped before they started.
    #[serde(skip)]
    pub not_started: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("history folder {dir}: {source}")]
    History { dir: String, source: std::io::Error },
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub(crate) fn append(history: &History, events: &[Event]) -> Result<(), RunError> {
    history.append(events).map_err(|source| RunError::History {
        dir: history.dir().display().to_string(),
        source,
    })
}

/// Jobs the selection asks for, in configuration order.
fn selected<'a>(
    config: &'a Config,
    sel: &Selection,
    state: &State,
    now: DateTime<Utc>,
) -> Vec<&'a Job> {
    match sel {
        Selection::Tick(tick) => config
            .jobs
            .iter()
            .filter(|j| {
                j.enabled
                    && j.schedule.is_due(
                        *tick,
                        now,
                        state.jobs.get(&j.name).and_then(|s| s.last_started),
                    )
            })
            .collect(),
        Selection::Jobs(names) if names.is_empty() => {
            config.jobs.iter().filter(|j| j.enabled).collect()
        }
        Selection::Jobs(names) => config
            .jobs
            .iter()
            .filter(|j| names.contains(&j.name))
            .collect(),
    }
}

/// An alert about checker itself (not about one job), sent to `[defaults] notify`.
fn system_alert(
    config: &Config,
    state: &mut State,
    what: &str,
    message: String,
    now: DateTime<Utc>,
) {
    let alert = Alert {
        kind: AlertKind::Failure,
        servername: config.general.servername.clone(),
        job: what.to_string(),
        job_kind: "checker".into(),
        description: None,
        message,
        consecutive_failures: 1,
        failing_since: Some(now),
        last_success: None,
        next_reminder: "none: this alert is sent once".into(),
        at: now,
        recipients: config.general.alertcontact.clone(),
    };
    for ch in &config.default_notify {
        outbox::enqueue(state, ch, alert.clone(), now);
    }
}

/// When the store had to move an unreadable state file aside: an error event and an alert.
pub(crate) fn note_recovered(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    now: DateTime<Utc>,
) {
    if let Some(why) = state.recovered_from.take() {
        events.push(Event::error(now, None, why.clone()));
        system_alert(config, state, "checker state", why, now);
    }
}

/// Runs the selection: the whole cycle of SPEC §1 and §5.
pub fn run(config: &Config, sel: Selection, opts: RunOptions) -> Result<RunReport, RunError> {
    let store = Store::new(&config.general.state_file, config.general.lock_timeout);
    let history = History::new(&config.general.history_dir);
    let is_tick = matches!(sel, Selection::Tick(_));
    let mut report = RunReport::default();

    // Phase 1, under the lock: what is due; heartbeat; and when nothing is due and no
    // delivery is waiting, the whole tick ends here with one save.
    let started = Utc::now();
    let guard = store.lock()?;
    let mut state = store.load_locked(&guard)?;
    let mut events = Vec::new();
    note_recovered(config, &mut state, &mut events, started);
    if let Selection::Tick(t) = sel {
        state.heartbeat.last_tick = Some(t.as_str().to_string());
        state.heartbeat.last_tick_started = Some(started);
    }
    let due: Vec<Job> = selected(config, &sel, &state, started)
        .into_iter()
        .cloned()
        .collect();
    // Passive jobs have no check to run: their deadline is checked here, under the lock.
    let (passive, due): (Vec<Job>, Vec<Job>) =
        due.into_iter().partition(|j| !j.kind.runs_a_check());
    report.results.extend(crate::passive::check_deadlines(
        config,
        &mut state,
        &mut events,
        &passive,
        started,
    ));
    let previous_start: HashMap<String, Option<DateTime<Utc>>> = due
        .iter()
        .map(|j| {
            (
                j.name.clone(),
                state.jobs.get(&j.name).and_then(|s| s.last_started),
            )
        })
        .collect();
    for j in &due {
        state.jobs.entry(j.name.clone()).or_default().last_started = Some(started);
    }
    let self_check_due = match (sel.clone(), config.email.self_check) {
        (Selection::Tick(tick), Some(schedule)) if config.email.enabled && !opts.nomail => {
            schedule.is_due(tick, started, state.mail.last_self_check)
        }
        _ => false,
    };
    if self_check_due {
        state.mail.last_self_check = Some(started);
    }
    let idle = due.is_empty() && !self_check_due && !outbox::has_due(&state, started);
    if idle {
        if is_tick {
            state.heartbeat.last_tick_finished = Some(Utc::now());
            state.heartbeat.last_tick_error = None;
        }
        store.save_locked(&guard, &state)?;
        append(&history, &events)?;
        drop(guard);
        if is_tick {
            retention(config, &history);
        }
        log::debug!("{}: nothing due", describe(&sel));
        return Ok(report);
    }
    store.save_locked(&guard, &state)?;
    append(&history, &events)?;
    drop(guard);
    log::info!("{}: {} job(s) due", describe(&sel), due.len());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?;

    // Phase 2, no lock: the checks, and the email self-check beside them.
    let (results, self_check) = runtime.block_on(async {
        let checks = async {
            if due.is_empty() {
                Vec::new()
            } else {
                let opts = RunnerOptions {
                    max_concurrency: config.general.max_concurrency,
                    deadline: config.general.tick_deadline,
                };
                run_all(&due, &opts).await
            }
        };
        let probe = async {
            if self_check_due {
                Some(crate::selfcheck::run(&config.email, &config.general.servername).await)
            } else {
                None
            }
        };
        tokio::join!(checks, probe)
    });

    // Phase 3, under the lock: merge results, decide and queue notifications, claim
    // what is due for delivery.
    let now = Utc::now();
    let guard = store.lock()?;
    let mut state = store.load_locked(&guard)?;
    let mut events = Vec::new();
    note_recovered(config, &mut state, &mut events, now);
    if let Some(o) = &self_check {
        merge_self_check(config, &mut state, &mut events, o, now);
    }
    for (job, result) in due.iter().zip(results) {
        match result {
            Some(r) => {
                merge_result_as(
                    config,
                    &mut state,
                    &mut events,
                    job,
                    &r,
                    now,
                    EventKind::Result,
                );
                report.results.push(r);
            }
            None => {
                // Never started: not a failure of the target. Put its schedule back so it
                // runs on the next tick.
                report.not_started.push(job.name.clone());
                if let Some(js) = state.jobs.get_mut(&job.name) {
                    js.last_started = previous_start.get(&job.name).copied().flatten();
                }
                events.push(Event::error(
                    now,
                    Some(&job.name),
                    format!(
                        "not started: the tick deadline ({}) passed first",
                        crate::duration::format(config.general.tick_deadline)
                    ),
                ));
            }
        }
    }
    let claimed = outbox::claim_due(&mut state, now, |ch| delivery_limit(config, ch));
    store.save_locked(&guard, &state)?;
    append(&history, &events)?;
    drop(guard);

    // Phases 4 and 5: deliver without the lock, settle under it (with the heartbeat).
    let send = SendOptions {
        nomail: opts.nomail,
    };
    let not_started = report.not_started.len();
    let notifications = deliver_and_settle(
        config,
        &store,
        &history,
        &runtime,
        &claimed,
        send,
        |state, now| {
            if is_tick {
                state.heartbeat.last_tick_finished = Some(now);
                state.heartbeat.last_tick_error = (not_started > 0)
                    .then(|| format!("{not_started} job(s) not started before the tick deadline"));
            }
        },
    )?;
    report.notifications.extend(notifications);
    if is_tick {
        retention(config, &history);
    }
    Ok(report)
}

/// Delivers claimed outbox entries concurrently without the lock (each channel on its
/// own, under a hard time limit), then settles them under the lock: outbox, mail health,
/// history. `finish` changes the state in that same locked step. Used by runs and by
/// pushed results.
pub(crate) fn deliver_and_settle(
    config: &Config,
    store: &Store,
    history: &History,
    runtime: &tokio::runtime::Runtime,
    claimed: &[OutboxEntry],
    send: SendOptions,
    finish: impl FnOnce(&mut State, DateTime<Utc>),
) -> Result<Vec<NotificationReport>, RunError> {
    let mut notifications = Vec::new();
    let mut claimed = claimed.to_vec();
    let mut finish = Some(finish);
    // A failed email delivery queues the alert on the other channels; a second round
    // delivers those at once rather than a tick later. Never more than two rounds.
    for round in 0..2 {
        let outcomes: Vec<Result<Delivered, DeliveryError>> = runtime.block_on(async {
            let futs = claimed.iter().map(|e| deliver_one(config, e, send));
            futures_util::future::join_all(futs).await
        });

        let now = Utc::now();
        let guard = store.lock()?;
        let mut state = store.load_locked(&guard)?;
        let mut events = Vec::new();
        let mut fanned_out = false;
        for (entry, outcome) in claimed.iter().zip(&outcomes) {
            if entry.channel == "email" && outcome.is_err() {
                fanned_out |= fan_out_after_mail_failure(config, &mut state, entry, now);
            }
            events.extend(outbox::settle(
                &mut state,
                &entry.id,
                outcome,
                now,
                config.general.delivery_retry,
            ));
            if entry.channel == "email" {
                note_email_outcome(&mut state, outcome, now, "delivering an alert");
            }
            notifications.push(NotificationReport {
                job: entry.alert.job.clone(),
                channel: entry.channel.clone(),
                kind: entry.alert.kind,
                delivered: outcome.is_ok(),
                error: outcome.as_ref().err().map(|e| e.message().to_string()),
            });
        }
        let again = fanned_out && round == 0;
        claimed = if again {
            outbox::claim_due(&mut state, now, |ch| delivery_limit(config, ch))
        } else {
            Vec::new()
        };
        if claimed.is_empty() {
            if let Some(finish) = finish.take() {
                finish(&mut state, now);
            }
        }
        store.save_locked(&guard, &state)?;
        append(history, &events)?;
        drop(guard);
        if claimed.is_empty() {
            break;
        }
    }
    Ok(notifications)
}

fn describe(sel: &Selection) -> String {
    match sel {
        Selection::Tick(t) => format!("{} tick", t.as_str()),
        Selection::Jobs(_) => "run-once".into(),
    }
}

fn retention(config: &Config, history: &History) {
    if let Err(e) = history.apply_retention(Utc::now(), config.general.history_days) {
        log::warn!("history retention in {}: {e}", history.dir().display());
    }
}

/// Delivers one entry under a hard limit, so a hung channel cannot hold the run.
async fn deliver_one(
    config: &Config,
    e: &OutboxEntry,
    send: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let limit = delivery_limit(config, &e.channel);
    match tokio::time::timeout(limit, deliver(config, &e.channel, &e.alert, send)).await {
        Ok(r) => {
            match &r {
                Ok(_) => log::info!("delivered through {}: {}", e.channel, e.alert.subject()),
                Err(err) => log::warn!("delivery through {} failed: {}", e.channel, err.message()),
            }
            r
        }
        Err(_) => Err(DeliveryError::Transient(format!(
            "{} did not finish within {}",
            e.channel,
            crate::duration::format(limit)
        ))),
    }
}

/// The hard limit on one delivery through `channel`: its own timeout and a little more.
pub(crate) fn delivery_limit(config: &Config, channel: &str) -> Duration {
    channel_timeout(config, channel) + Duration::from_secs(5)
}

fn channel_timeout(config: &Config, channel: &str) -> Duration {
    if channel == "email" {
        return config.email.timeout;
    }
    if let (Some(p), "pushover") = (&config.pushover, channel) {
        return p.timeout;
    }
    if let Some(w) = config.webhooks.iter().find(|w| w.name == channel) {
        return w.timeout;
    }
    config
        .commands
        .iter()
        .find(|c| c.name == channel)
        .map(|c| c.timeout)
        .unwrap_or(Duration::from_secs(30))
}

/// Applies one result to the state: counters, rules, queued notifications, and a history
/// event of kind `event` (`Result` for checks, `Report` for pushed results).
pub(crate) fn merge_result_as(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    job: &Job,
    r: &CheckResult,
    now: DateTime<Utc>,
    event: EventKind,
) {
    let js = state.jobs.entry(job.name.clone()).or_default();
    let decision = rules::record(js, r.ok, &r.message, now, &job.rules);
    js.last_duration_ms = Some(r.duration_ms);
    js.perfdata = r.perfdata.clone();
    if let Some(c) = r.count {
        js.total_count += c;
    }
    // Each retried attempt is in the history too, marked `final: false` so that counts
    // (status, success rates) take only the run's verdict.
    for a in &r.earlier_attempts {
        let mut ev = Event::new(a.at.min(now), event, Some(&job.name));
        ev.ok = Some(false);
        ev.message = Some(a.message.clone());
        ev.duration_ms = Some(a.duration_ms);
        ev.attempt = Some(a.attempt);
        ev.is_final = Some(false);
        events.push(ev);
    }
    let mut ev = Event::new(now, event, Some(&job.name));
    ev.ok = Some(r.ok);
    ev.message = Some(r.message.clone());
    ev.duration_ms = Some(r.duration_ms);
    ev.attempts = (r.attempts > 1).then_some(r.attempts);
    if r.attempts > 1 {
        ev.attempt = Some(r.attempts);
        ev.is_final = Some(true);
    }
    ev.count = r.count;
    ev.perfdata = r.perfdata.clone();
    events.push(ev);
    if r.ok {
        log::debug!("{}: ok: {}", job.name, r.message);
    } else {
        log::info!(
            "{}: FAILED ({} in a row): {}",
            job.name,
            js.consecutive_failures,
            r.message
        );
    }

    let alert = match decision {
        Decision::Nothing => return,
        Decision::Failure => Alert {
            kind: AlertKind::Failure,
            servername: config.general.servername.clone(),
            job: job.name.clone(),
            job_kind: job.kind.name().into(),
            description: job.description.clone(),
            message: r.message.clone(),
            consecutive_failures: js.consecutive_failures,
            failing_since: js.first_failure,
            last_success: js.last_success,
            next_reminder: rules::next_reminder(js, &job.rules),
            at: now,
            recipients: job
                .contact
                .clone()
                .unwrap_or_else(|| config.general.alertcontact.clone()),
        },
        Decision::Recovery { failures, since } => Alert {
            kind: AlertKind::Recovery,
            servername: config.general.servername.clone(),
            job: job.name.clone(),
            job_kind: job.kind.name().into(),
            description: job.description.clone(),
            message: r.message.clone(),
            consecutive_failures: failures,
            failing_since: since,
            last_success: js.last_success,
            next_reminder: String::new(),
            at: now,
            recipients: job
                .contact
                .clone()
                .unwrap_or_else(|| config.general.alertcontact.clone()),
        },
    };
    let channels = route(config, state, &job.notify);
    log::info!(
        "{}: queued {} notification to {}",
        job.name,
        alert.kind.as_str(),
        channels.join(", ")
    );
    for ch in &channels {
        outbox::enqueue(state, ch, alert.clone(), now);
    }
}

/// The channels an alert goes to: the job's, and while mail is known to be broken, every
/// other channel too, so that no alert is silently lost with the mail (SPEC §6).
pub(crate) fn route(config: &Config, state: &State, notify: &[String]) -> Vec<String> {
    let mut channels = notify.to_vec();
    if config.email.enabled && state.mail.ok == Some(false) && notify.iter().any(|c| c == "email") {
        for c in fallback_channels(config, notify) {
            if !channels.contains(&c) {
                channels.push(c);
            }
        }
    }
    channels
}

/// Where alerts go when email does not work: the other channels the job and `[defaults]`
/// name; when they name none, every configured channel but email.
pub(crate) fn fallback_channels(config: &Config, notify: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in notify.iter().chain(&config.default_notify) {
        if c != "email" && !out.contains(c) {
            out.push(c.clone());
        }
    }
    if out.is_empty() {
        out = config
            .channel_names()
            .into_iter()
            .filter(|c| c != "email")
            .collect();
    }
    out
}

/// An email delivery of `entry` just failed: queue the alert once on the fallback
/// channels it was not already sent to. Returns whether anything was queued.
fn fan_out_after_mail_failure(
    config: &Config,
    state: &mut State,
    entry: &OutboxEntry,
    now: DateTime<Utc>,
) -> bool {
    if entry.alert.kind == AlertKind::Test {
        return false;
    }
    if let Some(e) = state.outbox.iter_mut().find(|e| e.id == entry.id) {
        if e.fallback_done {
            return false;
        }
        e.fallback_done = true;
    }
    let mut queued = false;
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
            outbox::enqueue(state, &ch, entry.alert.clone(), now);
            queued = true;
        }
    }
    queued
}

/// What an email delivery says of mail health: a sent message proves it, a failure
/// disproves it; a recorded one (email off) says nothing.
pub(crate) fn note_email_outcome(
    state: &mut State,
    outcome: &Result<Delivered, DeliveryError>,
    now: DateTime<Utc>,
    what: &str,
) {
    match outcome {
        Ok(Delivered::Sent) => {
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

/// Name of the email self-check in history and alerts.
pub const SELF_CHECK: &str = "email self-check";

/// Records a self-check outcome: mail health, a history event, and on a change of
/// health an alert (or recovery) through the channels that do not depend on mail.
fn merge_self_check(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    o: &crate::selfcheck::Outcome,
    now: DateTime<Utc>,
) {
    let was_ok = state.mail.ok;
    state.mail.ok = Some(o.ok);
    state.mail.checked_at = Some(now);
    state.mail.last_error = (!o.ok).then(|| o.message.clone());
    let mut ev = Event::new(now, EventKind::Result, Some(SELF_CHECK));
    ev.ok = Some(o.ok);
    ev.message = Some(o.message.clone());
    events.push(ev);
    let kind = match (was_ok, o.ok) {
        (Some(false), true) => AlertKind::Recovery,
        (Some(true) | None, false) => AlertKind::Failure,
        _ => return,
    };
    if o.ok {
        log::info!("{SELF_CHECK}: mail works again: {}", o.message);
    } else {
        log::error!("{SELF_CHECK} failed: {}", o.message);
    }
    let alert = Alert {
        kind,
        servername: config.general.servername.clone(),
        job: SELF_CHECK.into(),
        job_kind: "selfcheck".into(),
        description: Some("checker mails itself and looks for the message over IMAP".into()),
        message: o.message.clone(),
        consecutive_failures: 1,
        failing_since: if o.ok {
            state.mail.checked_at
        } else {
            Some(now)
        },
        last_success: None,
        next_reminder: "none: told again only when mail health changes".into(),
        at: now,
        recipients: config.general.alertcontact.clone(),
    };
    for ch in fallback_channels(config, &[]) {
        outbox::enqueue(state, &ch, alert.clone(), now);
    }
}
