//! The dead-man's switch of `passive` jobs: a job fed only by `report` / `wrap` that has
//! had no result within `expect_every` + `grace` fails as "missing". Checked under the
//! state lock whenever a run selects the job (on its schedule, like any job); the failure
//! is merged as a result, so the job's notification rules apply to it.

use chrono::{DateTime, Utc};

use crate::check::CheckResult;
use crate::config::{Config, Job, JobKind, PassiveSpec};
use crate::duration;
use crate::engine::record::{record, result, Source};
use crate::history::Event;
use crate::state::{JobState, State};

/// Why a passive job is missing at `now`, or `None` while its deadline has not passed (or
/// it has none: no `expect_every`). The deadline counts from the last pushed result, else
/// from when a run first saw the job (so a new job is given one full period before it is
/// missing).
pub fn overdue(spec: &PassiveSpec, js: &JobState, now: DateTime<Utc>) -> Option<String> {
    let expect_every = spec.expect_every?;
    let (since, reported) = match (js.last_pushed, js.first_seen) {
        (Some(t), _) => (t, true),
        (None, Some(t)) => (t, false),
        (None, None) => return None,
    };
    let allowed = chrono::Duration::from_std(expect_every.saturating_add(spec.grace))
        .unwrap_or(chrono::Duration::MAX);
    let age = now.signed_duration_since(since);
    if age <= allowed {
        return None;
    }
    let when = since.format("%Y-%m-%d %H:%M:%S UTC");
    let every = duration::format(expect_every);
    Some(if reported {
        format!(
            "missing: no result since {when} ({} ago), expected every {every}",
            duration::humanize(age)
        )
    } else {
        format!(
            "missing: no result yet; watched since {when} ({} ago), expected every {every}",
            duration::humanize(age)
        )
    })
}

/// Checks the deadlines of the passive jobs a run selected, at `now`, under the lock the
/// caller holds. Each overdue job gets one failed result, merged like a check's; those
/// results are returned for the run's report.
pub fn check_deadlines(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    jobs: &[Job],
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let mut missing = Vec::new();
    for job in jobs.iter().filter(|j| j.enabled) {
        let JobKind::Passive(spec) = &job.kind else {
            continue;
        };
        let js = state.jobs.entry(job.name.clone()).or_default();
        js.first_seen.get_or_insert(now);
        // `every` schedules count from here, as for a check.
        js.last_started = Some(now);
        let Some(message) = overdue(spec, js, now) else {
            continue;
        };
        let r = result(job, false, message, 0, None);
        record(config, state, events, job, &r, now, Source::Check);
        missing.push(r);
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::push::apply;
    use crate::engine::test_config;
    use crate::history::EventKind;
    use chrono::TimeZone;
    use std::time::Duration;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    const JOB: &str = "[[job]]\nname = \"backup\"\nkind = \"passive\"\nexpect_every = \"1h\"\ngrace = \"5m\"\nnotify_every = \"hour\"\n";

    #[test]
    fn the_deadline_is_expect_every_plus_grace_from_the_last_result() {
        let spec = PassiveSpec {
            expect_every: Some(Duration::from_secs(3600)),
            grace: Duration::from_secs(300),
        };
        let mut js = JobState::default();
        assert_eq!(
            overdue(&spec, &js, t(10, 0)),
            None,
            "never seen: nothing to count from"
        );
        js.first_seen = Some(t(10, 0));
        assert_eq!(
            overdue(&spec, &js, t(11, 5)),
            None,
            "exactly at the deadline is still in time"
        );
        let never = overdue(&spec, &js, t(11, 6)).expect("missing");
        assert_eq!(
            never,
            "missing: no result yet; watched since 2026-03-01 10:00:00 UTC (1h 6m ago), expected every 1h"
        );
        js.last_pushed = Some(t(10, 30));
        assert_eq!(
            overdue(&spec, &js, t(11, 6)),
            None,
            "a result restarts the deadline"
        );
        assert_eq!(
            overdue(&spec, &js, t(12, 0)).as_deref(),
            Some(
                "missing: no result since 2026-03-01 10:30:00 UTC (1h 30m ago), expected every 1h"
            )
        );
    }

    #[test]
    fn the_default_grace_is_a_tenth_within_one_minute_and_one_hour() {
        let g = |secs| PassiveSpec::default_grace(Duration::from_secs(secs)).as_secs();
        assert_eq!(g(60), 60);
        assert_eq!(g(3600), 360);
        assert_eq!(g(86_400), 3600);
        let (_dir, config) =
            test_config("[[job]]\nname = \"b\"\nkind = \"passive\"\nexpect_every = \"2h\"\n");
        assert!(
            matches!(&config.jobs[0].kind, JobKind::Passive(p) if p.grace == Duration::from_secs(720))
        );
    }

    #[test]
    fn a_new_job_is_not_missing_at_once_but_a_silent_one_fails_once_per_run_and_a_late_result_recovers(
    ) {
        let (_dir, config) = test_config(JOB);
        let jobs = config.jobs.clone();
        let mut state = State::default();
        let mut events = Vec::new();
        assert!(
            check_deadlines(&config, &mut state, &mut events, &jobs, t(10, 0)).is_empty(),
            "first seen"
        );
        assert!(check_deadlines(&config, &mut state, &mut events, &jobs, t(11, 0)).is_empty());
        // Every run past the deadline adds one failure; `hour` mode alerts once an hour.
        for m in [6, 7, 8] {
            let missing = check_deadlines(&config, &mut state, &mut events, &jobs, t(11, m));
            assert_eq!(missing.len(), 1);
            assert!(
                missing[0].message.starts_with("missing: no result yet"),
                "{}",
                missing[0].message
            );
        }
        let js = &state.jobs["backup"];
        assert_eq!(js.consecutive_failures, 3);
        assert_eq!(js.first_failure, Some(t(11, 6)));
        assert_eq!(state.outbox.len(), 1, "one alert for the hour");
        assert_eq!(
            state.outbox[0].alert.kind,
            crate::notify::AlertKind::Failure
        );
        assert!(events
            .iter()
            .all(|e| e.event == EventKind::Result && e.ok == Some(false)));
        // The late result: a recovery notice, and the deadline restarts from it.
        apply(
            &config,
            &mut state,
            &mut events,
            &jobs[0],
            &result(&jobs[0], true, "done".into(), 0, None),
            t(11, 30),
        );
        assert_eq!(state.outbox.len(), 2);
        assert_eq!(
            state.outbox[1].alert.kind,
            crate::notify::AlertKind::Recovery
        );
        assert_eq!(state.outbox[1].alert.consecutive_failures, 3);
        assert!(check_deadlines(&config, &mut state, &mut events, &jobs, t(12, 35)).is_empty());
        let again = check_deadlines(&config, &mut state, &mut events, &jobs, t(12, 36));
        assert_eq!(
            again[0].message,
            "missing: no result since 2026-03-01 11:30:00 UTC (1h 6m ago), expected every 1h"
        );
    }

    #[test]
    fn a_passive_job_without_expect_every_is_accepted_and_never_goes_missing() {
        // Seed 000's downloaders: results come when they come; "failing for 3h" judges.
        let (_dir, config) = test_config(
            "[[job]]\nname = \"dl\"\nkind = \"passive\"\nfailing_for = \"3h\"\nfailures_before_notify = 2\n",
        );
        let JobKind::Passive(spec) = &config.jobs[0].kind else {
            panic!("a passive job");
        };
        assert_eq!(spec.expect_every, None);
        assert_eq!(spec.describe(), "pushed, no deadline");
        let jobs = config.jobs.clone();
        let mut state = State::default();
        let mut events = Vec::new();
        assert!(check_deadlines(&config, &mut state, &mut events, &jobs, t(10, 0)).is_empty());
        let much_later = t(10, 0) + chrono::Duration::days(400);
        assert!(
            check_deadlines(&config, &mut state, &mut events, &jobs, much_later).is_empty(),
            "no deadline, however long the silence"
        );
        assert_eq!(state.jobs["dl"].consecutive_failures, 0);
        assert!(state.outbox.is_empty());
    }

    #[test]
    fn grace_without_expect_every_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("settings.toml"), "").unwrap();
        std::fs::write(
            dir.path().join("jobs/j.toml"),
            "[[job]]\nname = \"dl\"\nkind = \"passive\"\ngrace = \"5m\"\n",
        )
        .unwrap();
        // A job file's problem leaves that file out; the settings still load.
        let c = crate::config::load(&dir.path().join("settings.toml")).unwrap();
        let e = crate::config::ConfigError {
            problems: c.problems.clone(),
        };
        assert_eq!(e.problems.len(), 1, "{e}");
        assert_eq!(e.problems[0].line, 4, "{e}");
        assert!(e.problems[0].message.contains("`grace`"), "{e}");
        assert!(c.jobs.is_empty());
    }

    #[test]
    fn a_failed_report_is_a_result_too_and_disabled_jobs_are_not_watched() {
        let (_dir, config) = test_config(JOB);
        let jobs = config.jobs.clone();
        let mut state = State::default();
        let mut events = Vec::new();
        apply(
            &config,
            &mut state,
            &mut events,
            &jobs[0],
            &result(&jobs[0], false, "done".into(), 0, None),
            t(10, 0),
        );
        assert!(
            check_deadlines(&config, &mut state, &mut events, &jobs, t(11, 0)).is_empty(),
            "it reported, if badly"
        );
        let mut off = jobs.clone();
        off[0].enabled = false;
        assert!(check_deadlines(&config, &mut state, &mut events, &off, t(23, 0)).is_empty());
    }
}
