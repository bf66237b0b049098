//! One run of checker: decide what is due under the lock, run the checks without it,
//! record results and decide notifications under the lock, deliver without it, and settle
//! deliveries under the lock (`delivery`). Used by cron ticks and by `run-once`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::check::runner::{run_shared, RunnerOptions};
use crate::config::{Config, Job};
use crate::engine::delivery::{deliver_and_settle, Policy};
use crate::engine::outbox;
use crate::engine::passive;
use crate::engine::quiet;
use crate::engine::record::{record_asked, record_config_problems, record_self_check, Source};
use crate::engine::txn::Ledger;
use crate::engine::{RunError, RunOptions, RunReport, Selection};
use crate::history::{Event, History};
use crate::notify::SendOptions;
use crate::quorum::{self, Answers};
use crate::runtime::Workers;
use crate::schedule::Tick;
use crate::state::{ReadAhead, State, FORGET_AFTER_DAYS};

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
                // Only an `every` job's last start is looked up: a lookup by name for each
                // of 10,000 jobs is most of what an idle tick's scheduling costs.
                let last_started = match j.schedule {
                    crate::schedule::Schedule::Every(_) => {
                        state.jobs.glance(&j.name).and_then(|g| g.last_started)
                    }
                    crate::schedule::Schedule::Tick(_) => None,
                };
                j.enabled && j.schedule.is_due(*tick, now, last_started)
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
    let configured = config.jobs_by_name();
    // Only the jobs whose state changes are taken to change: the others stay as read (a
    // tick with nothing due then rewrites none of them).
    let changing: Vec<String> = state
        .jobs
        .glances()
        .filter(|(name, g)| match configured.get(name.as_str()) {
            Some(job) => g.left_config.is_some() || g.source != Some(job.source.file.as_path()),
            None => true,
        })
        .map(|(name, _)| name.clone())
        .collect();
    let mut dropped = Vec::new();
    for name in changing {
        let Some(js) = state.jobs.get_mut(&name) else {
            continue;
        };
        if let Some(job) = configured.get(name.as_str()) {
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
            dropped.push(name);
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
    let configured = config.jobs_by_name();
    state
        .jobs
        .iter()
        .filter(|(name, js)| !configured.contains_key(name.as_str()) && !in_broken_file(config, js))
        .map(|(name, js)| {
            let since = js.left_config.unwrap_or(now);
            (
                name.clone(),
                crate::saturating::add(since, chrono::Duration::days(FORGET_AFTER_DAYS)),
            )
        })
        .collect()
}

/// Runs the selection: the whole cycle of SPEC §1 and §5.
pub fn run(config: &Config, sel: Selection, opts: RunOptions) -> Result<RunReport, RunError> {
    run_ahead(config, sel, opts, None)
}

/// [`run`], with the state file read ahead for its first transaction.
pub fn run_ahead(
    config: &Config,
    sel: Selection,
    opts: RunOptions,
    ahead: Option<ReadAhead>,
) -> Result<RunReport, RunError> {
    let ledger = Ledger::new(config);
    let is_tick = matches!(sel, Selection::Tick(_));
    let mut report = RunReport::default();

    // Phase 1, under the lock: what is due; heartbeat; and when nothing is due and no
    // delivery is waiting, the whole tick ends here with one save.
    let mut txn = ledger.begin_ahead(Utc::now(), ahead)?;
    let (state, events, started) = (&mut txn.state, &mut txn.events, txn.now);
    if let Selection::Tick(t) = sel {
        record_config_problems(config, state, events, started);
        state.heartbeat.last_tick = Some(t.as_str().to_string());
        state.heartbeat.last_tick_started = Some(started);
        events.extend(crate::engine::silences::drop_over(state, started));
        for name in forget_removed_jobs(config, state, started) {
            log::info!(
                "{name}: not configured for {FORGET_AFTER_DAYS} days: its state is dropped (its history stays)"
            );
        }
        crate::engine::resend::queue_due(config, state, started);
    }
    let due: Vec<Job> = selected(config, &sel, state, started)
        .into_iter()
        .cloned()
        .collect();
    // Passive jobs have no check to run: their deadline is checked here, under the lock.
    let (passive, due): (Vec<Job>, Vec<Job>) =
        due.into_iter().partition(|j| !j.kind.runs_a_check());
    report.results.extend(passive::check_deadlines(
        config, state, events, &passive, started,
    ));
    // Marked started, in one pass; each job's previous start is kept (by its index in
    // `due`) to put back if it never starts.
    let previous_start: Vec<Option<DateTime<Utc>>> = due
        .iter()
        .map(|j| match state.jobs.get_mut(&j.name) {
            Some(js) => js.last_started.replace(started),
            None => {
                state.jobs.entry(j.name.clone()).or_default().last_started = Some(started);
                None
            }
        })
        .collect();
    // Shared with the checks' tasks rather than copied into each.
    let due: Arc<[Job]> = due.into();
    let self_check_due = match (sel.clone(), config.email.self_check) {
        (Selection::Tick(tick), Some(schedule)) if config.email.enabled && !opts.nomail => {
            schedule.is_due(tick, started, state.mail.last_self_check)
        }
        _ => false,
    };
    if self_check_due {
        state.mail.last_self_check = Some(started);
    }
    let idle = due.is_empty() && !self_check_due && !outbox::has_due(state, started);
    if idle {
        if is_tick {
            state.heartbeat.last_tick_finished = Some(Utc::now());
            state.heartbeat.last_tick_error = None;
        }
        txn.commit()?;
        if let Selection::Tick(t) = sel {
            retention(config, ledger.history(), t);
        }
        log::debug!("{}: nothing due", describe(&sel));
        return Ok(report);
    }
    txn.commit()?;
    log::info!("{}: {} job(s) due", describe(&sel), due.len());

    let runtime = crate::runtime::build(Workers::One)?;
    // The peers the due jobs confirm their failures with, each asked once (SPEC §12).
    let asks = quorum::ask::plan(config, &due, config.general.tick_deadline);

    // Phase 2, no lock: the checks, the email self-check and the peers' answers beside
    // them.
    let (results, self_check, answers) = runtime.block_on(async {
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
                run_shared(Arc::clone(&due), &opts).await
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
        let asked = quorum::ask::ask_all(&asks, tokio::time::Instant::now());
        let (mut asked, mut work) = (
            std::pin::pin!(asked),
            std::pin::pin!(async { tokio::join!(checks, probe) }),
        );
        // The answers are read while the checks run; once the checks are done they are
        // awaited only if a confirmed job failed (else nobody needs them).
        let mut answers = None;
        let (results, probe) = loop {
            tokio::select! {
                a = &mut asked, if answers.is_none() => answers = Some(a),
                done = &mut work => break done,
            }
        };
        let needed = due
            .iter()
            .zip(&results)
            .any(|(j, r)| j.confirm.is_some() && r.as_ref().is_some_and(|r| !r.ok));
        let answers = match answers {
            Some(a) => a,
            None if needed => asked.await,
            None => Answers::none(),
        };
        (results, probe, answers)
    });

    // Phase 3, under the lock: record results, decide and queue notifications, claim
    // what is due for delivery.
    let mut txn = ledger.begin(Utc::now())?;
    let (state, events, now) = (&mut txn.state, &mut txn.events, txn.now);
    if let Some(o) = &self_check {
        record_self_check(config, state, events, o, now);
    }
    // Parents first: a child's alert is decided on its parent's result of this run.
    let refs: Vec<&Job> = due.iter().collect();
    for i in quiet::parents_first(config, &refs) {
        let (Some(job), Some(result)) = (due.get(i), results.get(i)) else {
            continue;
        };
        match result {
            Some(r) => record_asked(config, state, events, job, r, now, Source::Check, &answers),
            None => {
                // Never started: not a failure of the target. Put its schedule back so it
                // runs on the next tick.
                report.not_started.push(job.name.clone());
                if let Some(js) = state.jobs.get_mut(&job.name) {
                    js.last_started = previous_start.get(i).copied().flatten();
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
    report.results.extend(results.into_iter().flatten());
    events.extend(outbox::supersede(state, now));
    let claimed = outbox::claim_due(state, now, Policy(config));
    let not_started = report.not_started.len();
    let finish = |state: &mut State, now: DateTime<Utc>| {
        if is_tick {
            state.heartbeat.last_tick_finished = Some(now);
            state.heartbeat.last_tick_error = (not_started > 0)
                .then(|| format!("{not_started} job(s) not started before the tick deadline"));
        }
    };
    if claimed.is_empty() {
        // Nothing to deliver: the run ends with this save, not with another round trip
        // of the state for the heartbeat alone.
        finish(state, now);
        txn.commit()?;
    } else {
        txn.commit()?;
        // Phases 4 and 5: deliver without the lock, settle under it (with the heartbeat).
        let send = SendOptions {
            nomail: opts.nomail,
        };
        let notifications = deliver_and_settle(&ledger, &runtime, &claimed, send, finish)?;
        report.notifications.extend(notifications);
    }
    if let Selection::Tick(t) = sel {
        retention(config, ledger.history(), t);
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_jobs_state_is_dropped_a_week_after_it_left_the_configuration_unless_it_returns() {
        let (_dir, config) = crate::engine::test_config(
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
        let (_dir2, with_back) = crate::engine::test_config(
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
}
