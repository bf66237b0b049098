//! One run of checker: decide what is due under the lock, run the checks without it,
//! merge results and decide notifications under the lock, deliver without it, and settle
//! deliveries under the lock (`delivery`). Used by cron ticks and by `run-once`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::check::runner::{run_all, RunnerOptions};
use crate::check::CheckResult;
use crate::config::{Config, Job};
use crate::delivery::{deliver_and_settle, delivery_limit, fallback_channels, route};
use crate::history::{Event, EventKind, History};
use crate::notify::{Alert, AlertKind, SendOptions};
use crate::outbox;
use crate::rules::{self, Decision};
use crate::schedule::Tick;
use crate::state::{ConfigProblem, State, StateError, Store, FORGET_AFTER_DAYS};

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
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Appends events to the history: the one way every path records them, so this is where
/// configured secrets are masked in them.
pub(crate) fn append(history: &History, events: &[Event]) -> Result<(), RunError> {
    let masked: Vec<Event> = events.iter().cloned().map(crate::redact::value).collect();
    Ok(history.append(&masked)?)
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
        target: None,
        expected: None,
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

/// Compares the problems of the job files that could not be loaded with those the last
/// tick found. Each new one is an error event, a log line and an alert through
/// `[defaults] notify`; each one gone is a recovery notice (recoveries queued first, so a
/// problem replaced by another ends on the new one's alert). The state keeps the list,
/// which `peer-status`, `/status.json` and `status` show.
pub(crate) fn note_config_problems(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    now: DateTime<Utc>,
) {
    let (kept, fixed): (Vec<ConfigProblem>, Vec<ConfigProblem>) =
        std::mem::take(&mut state.config_problems)
            .into_iter()
            .partition(|known| config.problems.iter().any(|p| known.same(p)));
    for p in &fixed {
        log::info!("configuration problem fixed: {}", p.describe());
        let mut ev = Event::new(now, EventKind::Error, None);
        ev.ok = Some(true);
        ev.message = Some(format!("configuration problem fixed: {}", p.describe()));
        events.push(ev);
        queue_config_alert(config, state, AlertKind::Recovery, p, now);
    }
    state.config_problems = kept;
    for p in &config.problems {
        if state.config_problems.iter().any(|known| known.same(p)) {
            continue;
        }
        let problem = ConfigProblem {
            file: p.file.clone(),
            line: p.line,
            message: p.message.clone(),
            since: now,
        };
        log::error!(
            "job file not loaded, its jobs are skipped until it is fixed: {}",
            problem.describe()
        );
        events.push(Event::error(
            now,
            None,
            format!(
                "job file not loaded (its jobs are skipped): {}",
                problem.describe()
            ),
        ));
        queue_config_alert(config, state, AlertKind::Failure, &problem, now);
        state.config_problems.push(problem);
    }
}

/// The alert about one problem of a job file (or its fix), to `[defaults] notify`.
fn queue_config_alert(
    config: &Config,
    state: &mut State,
    kind: AlertKind,
    p: &ConfigProblem,
    now: DateTime<Utc>,
) {
    let at = if p.line == 0 {
        String::new()
    } else {
        format!("line {}: ", p.line)
    };
    let alert = Alert {
        kind,
        servername: config.general.servername.clone(),
        job: format!("job file {}", p.file.display()),
        job_kind: "config".into(),
        description: Some(
            "a job file that cannot be loaded: its jobs are skipped (keeping their last state) until it is fixed; the other files' jobs run"
                .into(),
        ),
        message: match kind {
            AlertKind::Recovery => format!("fixed: {at}{}", p.message),
            _ => format!("{at}{}", p.message),
        },
        consecutive_failures: 1,
        failing_since: Some(p.since),
        last_success: None,
        next_reminder: "none: told once, and again when it is fixed".into(),
        at: now,
        recipients: config.general.alertcontact.clone(),
        // The job name already says which file.
        target: None,
        expected: None,
    };
    for ch in route(config, state, &config.default_notify) {
        outbox::enqueue(state, &ch, alert.clone(), now);
    }
}

/// Whether a job the configuration does not have is only out of sight: its job file
/// could not be loaded this time. Its state is kept, and `status` shows it as
/// `config error`.
pub fn in_broken_file(config: &Config, js: &crate::state::JobState) -> bool {
    js.source.as_ref().is_some_and(|f| config.is_broken_file(f))
}

/// Marks the jobs in the state that the configuration no longer has, clears the mark of
/// those that came back, and drops the state of those gone for [`FORGET_AFTER_DAYS`]
/// (their history stays). A job of a job file that cannot be loaded is not gone: its
/// state stays as it is. Returns the names dropped.
pub fn forget_removed_jobs(config: &Config, state: &mut State, now: DateTime<Utc>) -> Vec<String> {
    let mut dropped = Vec::new();
    for (name, js) in state.jobs.iter_mut() {
        if let Some(job) = config.job(name) {
            js.left_config = None;
            if js.source.as_ref() != Some(&job.source.file) {
                js.source = Some(job.source.file.clone());
            }
            continue;
        }
        if in_broken_file(config, js) {
            js.left_config = None;
            continue;
        }
        let since = *js.left_config.get_or_insert(now);
        if now.signed_duration_since(since) >= chrono::Duration::days(FORGET_AFTER_DAYS) {
            dropped.push(name.clone());
        }
    }
    for name in &dropped {
        state.jobs.remove(name);
    }
    dropped
}

/// The jobs whose state will be dropped because the configuration no longer has them:
/// name, and when (counted from the first tick that found them gone, or from `now` when
/// none has yet). For `validate`.
pub fn removed_jobs(
    config: &Config,
    state: &State,
    now: DateTime<Utc>,
) -> Vec<(String, DateTime<Utc>)> {
    state
        .jobs
        .iter()
        .filter(|(name, js)| config.job(name).is_none() && !in_broken_file(config, js))
        .map(|(name, js)| {
            let since = js.left_config.unwrap_or(now);
            (
                name.clone(),
                crate::saturating::add(since, chrono::Duration::days(FORGET_AFTER_DAYS)),
            )
        })
        .collect()
}

/// Opens the history (importing, migrating, moving a corrupt database aside) under the
/// state lock; when it had to start a fresh database: an error event and an alert.
pub(crate) fn note_history_recovered(
    config: &Config,
    history: &History,
    state: &mut State,
    events: &mut Vec<Event>,
    now: DateTime<Utc>,
) -> Result<(), RunError> {
    history.prepare()?;
    if let Some(why) = history.take_recovered() {
        events.push(Event::error(now, None, why.clone()));
        system_alert(config, state, "checker history", why, now);
    }
    Ok(())
}

/// Runs the selection: the whole cycle of SPEC §1 and §5.
pub fn run(config: &Config, sel: Selection, opts: RunOptions) -> Result<RunReport, RunError> {
    let store = Store::new(&config.general.state_file, config.general.lock_timeout);
    let history = History::from_config(&config.general);
    let is_tick = matches!(sel, Selection::Tick(_));
    let mut report = RunReport::default();

    // Phase 1, under the lock: what is due; heartbeat; and when nothing is due and no
    // delivery is waiting, the whole tick ends here with one save.
    let started = Utc::now();
    let guard = store.lock()?;
    let mut state = store.load_locked(&guard)?;
    let mut events = Vec::new();
    note_recovered(config, &mut state, &mut events, started);
    note_history_recovered(config, &history, &mut state, &mut events, started)?;
    if let Selection::Tick(t) = sel {
        note_config_problems(config, &mut state, &mut events, started);
        state.heartbeat.last_tick = Some(t.as_str().to_string());
        state.heartbeat.last_tick_started = Some(started);
        for name in forget_removed_jobs(config, &mut state, started) {
            log::info!(
                "{name}: not configured for {FORGET_AFTER_DAYS} days: its state is dropped (its history stays)"
            );
        }
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
        if let Selection::Tick(t) = sel {
            retention(config, &history, t);
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
        // The self-check is bounded by the same deadline as the checks beside it.
        let deadline = crate::saturating::instant_in(config.general.tick_deadline);
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
                Some(
                    crate::selfcheck::run_until(
                        &config.email,
                        &config.general.servername,
                        deadline,
                        config.general.tick_deadline,
                    )
                    .await,
                )
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
    note_history_recovered(config, &history, &mut state, &mut events, now)?;
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
    events.extend(outbox::supersede(&mut state, now));
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
    if let Selection::Tick(t) = sel {
        retention(config, &history, t);
    }
    Ok(report)
}

fn describe(sel: &Selection) -> String {
    match sel {
        Selection::Tick(t) => format!("{} tick", t.as_str()),
        Selection::Jobs(_) => "run-once".into(),
    }
}

/// The day tick prunes the history (and any tick when no prune ran for over a day), after
/// the state lock is released: pruning takes only the database.
fn retention(config: &Config, history: &History, tick: Tick) {
    let now = Utc::now();
    let policy = crate::history::PrunePolicy::from_config(&config.general, now);
    match history.maintain(&policy, tick == Tick::Day, now) {
        Ok(Some(r)) => log::info!(
            "history retention: {} event(s) pruned ({} archived, {} kept by history_keep_last), {} hourly and {} daily rollup(s)",
            r.events, r.archived, r.kept, r.hourly_rollups, r.daily_rollups
        ),
        Ok(None) => {}
        Err(e) => log::warn!("history retention: {e}"),
    }
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
    if js.source.as_ref() != Some(&job.source.file) {
        js.source = Some(job.source.file.clone());
    }
    let decision = rules::record(js, r.ok, &r.message, now, &job.rules);
    js.last_duration_ms = Some(r.duration_ms);
    js.perfdata = r.perfdata.clone();
    if let Some(c) = r.count {
        js.total_count = js.total_count.saturating_add(c);
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
            target: Some(crate::notify::target::target(job)),
            expected: crate::notify::target::expected(job),
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
            target: Some(crate::notify::target::target(job)),
            expected: crate::notify::target::expected(job),
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
    if o.cut_short {
        // Not a verdict on mail: its health stays as it was (and goes stale in time,
        // which peers hear), and the next scheduled self-check tries again.
        log::warn!("{SELF_CHECK}: {}", o.message);
        let mut ev = Event::new(now, EventKind::Result, Some(SELF_CHECK));
        ev.message = Some(o.message.clone());
        events.push(ev);
        return;
    }
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
        target: None,
        expected: None,
    };
    for ch in fallback_channels(config, &[]) {
        outbox::enqueue(state, &ch, alert.clone(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_jobs_state_is_dropped_a_week_after_it_left_the_configuration_unless_it_returns() {
        let (_dir, config) = crate::push::test_config(
            "[[job]]\nname = \"kept\"\nkind = \"passive\"\nexpect_every = \"1h\"\n",
        );
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut state = State::default();
        for name in ["kept", "gone", "back"] {
            state.jobs.entry(name.into()).or_default().total_attempts = 1;
        }
        assert!(forget_removed_jobs(&config, &mut state, t0).is_empty());
        assert_eq!(state.jobs["gone"].left_config, Some(t0));
        assert_eq!(state.jobs["kept"].left_config, None);
        let gone = removed_jobs(&config, &state, t0);
        assert_eq!(
            gone,
            vec![
                ("back".to_string(), t0 + chrono::Duration::days(7)),
                ("gone".to_string(), t0 + chrono::Duration::days(7))
            ]
        );
        // "back" returns to the configuration on day 3: its mark goes.
        let (_dir2, with_back) = crate::push::test_config(
            "[[job]]\nname = \"kept\"\nkind = \"passive\"\nexpect_every = \"1h\"\n\
             [[job]]\nname = \"back\"\nkind = \"passive\"\nexpect_every = \"1h\"\n",
        );
        let day3 = t0 + chrono::Duration::days(3);
        assert!(forget_removed_jobs(&with_back, &mut state, day3).is_empty());
        assert_eq!(state.jobs["back"].left_config, None);
        let almost = t0 + chrono::Duration::days(7) - chrono::Duration::seconds(1);
        assert!(forget_removed_jobs(&config, &mut state, almost).is_empty());
        assert!(state.jobs.contains_key("gone"));
        let week = t0 + chrono::Duration::days(7);
        assert_eq!(forget_removed_jobs(&config, &mut state, week), vec!["gone"]);
        assert!(!state.jobs.contains_key("gone"));
        assert!(state.jobs.contains_key("kept"));
        // "back" left again at `almost` (when `config` saw it gone): kept for a week from then.
        assert!(state.jobs.contains_key("back"));
    }

    #[test]
    fn the_jobs_of_a_broken_job_file_keep_their_state_for_as_long_as_it_is_broken() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(
            dir.path().join("settings.toml"),
            "[general]\nalertcontact = \"ops@example.com\"\n",
        )
        .expect("settings");
        let good = "[[job]]\nname = \"web\"\nkind = \"passive\"\n";
        let web = dir.path().join("jobs/web.toml");
        std::fs::write(&web, good).expect("job file");
        let load = || crate::config::load(&dir.path().join("settings.toml")).expect("loads");
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut state = State::default();
        state.jobs.entry("web".into()).or_default().total_attempts = 5;
        // A tick records where the job came from.
        assert!(forget_removed_jobs(&load(), &mut state, t0).is_empty());
        assert_eq!(
            state.jobs["web"].source.as_deref(),
            Some(load().jobs[0].source.file.as_path())
        );

        // The file breaks: the job is gone from the configuration, not from the state.
        std::fs::write(&web, good.replace("kind", "knid")).expect("job file");
        let broken = load();
        assert!(broken.job("web").is_none());
        assert!(in_broken_file(&broken, &state.jobs["web"]));
        for days in [1, 7, 30, 365] {
            let later = t0 + chrono::Duration::days(days);
            assert!(forget_removed_jobs(&broken, &mut state, later).is_empty());
            assert_eq!(state.jobs["web"].left_config, None, "not counted as gone");
        }
        assert!(
            removed_jobs(&broken, &state, t0).is_empty(),
            "validate does not list it"
        );
        assert_eq!(state.jobs["web"].total_attempts, 5);

        // Removed for good: then the week starts.
        std::fs::remove_file(&web).expect("remove");
        let gone = load();
        let day = t0 + chrono::Duration::days(400);
        assert!(forget_removed_jobs(&gone, &mut state, day).is_empty());
        assert_eq!(state.jobs["web"].left_config, Some(day));
        let week = day + chrono::Duration::days(7);
        assert_eq!(forget_removed_jobs(&gone, &mut state, week), vec!["web"]);
    }

    #[test]
    fn each_problem_of_a_job_file_is_alerted_once_and_its_fix_told_recoveries_first() {
        let (_dir, mut config) = crate::push::test_config("");
        let problem = |line: usize, message: &str| crate::config::Problem {
            file: "/etc/checker/jobs/web.toml".into(),
            line,
            message: message.into(),
        };
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut state = State::default();
        let mut events = Vec::new();
        config.problems = vec![problem(4, "unknown key `urll`")];
        for minute in 0..3 {
            let now = t0 + chrono::Duration::minutes(minute);
            note_config_problems(&config, &mut state, &mut events, now);
        }
        assert_eq!(state.outbox.len(), 1, "one alert for the one problem");
        assert_eq!(events.len(), 1, "one error event");
        assert_eq!(state.config_problems[0].since, t0);
        let a = &state.outbox[0].alert;
        assert_eq!(a.kind, AlertKind::Failure);
        assert_eq!(a.job, "job file /etc/checker/jobs/web.toml");
        assert_eq!(a.message, "line 4: unknown key `urll`");
        assert_eq!(state.outbox[0].channel, "email", "[defaults] notify");

        // The same text at another line is another problem: the old one is fixed first.
        let t1 = t0 + chrono::Duration::minutes(5);
        config.problems = vec![problem(5, "unknown key `urll`")];
        note_config_problems(&config, &mut state, &mut events, t1);
        let kinds: Vec<(AlertKind, &str)> = state
            .outbox
            .iter()
            .map(|e| (e.alert.kind, e.alert.message.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (AlertKind::Failure, "line 4: unknown key `urll`"),
                (AlertKind::Recovery, "fixed: line 4: unknown key `urll`"),
                (AlertKind::Failure, "line 5: unknown key `urll`"),
            ]
        );
        config.problems.clear();
        note_config_problems(&config, &mut state, &mut events, t1);
        assert!(state.config_problems.is_empty());
        assert_eq!(state.outbox.len(), 4);
        assert_eq!(state.outbox[3].alert.kind, AlertKind::Recovery);
        assert_eq!(state.outbox[3].alert.failing_since, Some(t1));
    }
}
