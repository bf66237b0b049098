//! Recording into the state, under the lock the caller holds: one job result (`record`,
//! the one function every path calls: checks of a tick or `run-once`, results pushed by
//! `report` and `wrap`, and passive jobs' missed deadlines), an email self-check, the
//! problems of job files, and troubles of checker itself. Each merges into the state,
//! applies its rules (a job's failure alerts then pass `quiet::gate`), queues its alerts
//! (`queue`) and adds its history events. No I/O: tests drive the clock.

use chrono::{DateTime, Utc};

use crate::check::CheckResult;
use crate::config::{Config, Job};
use crate::engine::outbox;
use crate::engine::quiet;
use crate::engine::resend::failure_alert;
use crate::engine::route::{fallback_channels, route};
use crate::history::{Event, EventKind};
use crate::notify::{Alert, AlertKind};
use crate::quorum::{decide, Answers};
use crate::rules::{self, Decision};
use crate::state::{ConfigProblem, State};

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A check checker ran, or a passive job's missed deadline: history event `result`.
    Check,
    /// Pushed by `report` or `wrap`: history event `report`, and a passive job's
    /// deadline restarts from it.
    Pushed,
}

/// A result that did not come from a check of checker's own (one attempt, no perfdata):
/// pushed ones, and a passive job's "missing".
pub fn result(
    job: &Job,
    ok: bool,
    message: String,
    duration_ms: u64,
    count: Option<u64>,
) -> CheckResult {
    CheckResult {
        job: job.name.clone(),
        ok,
        message,
        duration_ms,
        attempts: 1,
        perfdata: Vec::new(),
        count,
        earlier_attempts: Vec::new(),
        cert_not_after: None,
    }
}

/// Records one result of `job` at `now`: counters, the notification rules, the alerts
/// they decide queued on the job's channels, and the history events. For results that
/// come without the peers' answers (`report`, `wrap`, a passive job's deadline).
pub fn record(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    job: &Job,
    r: &CheckResult,
    now: DateTime<Utc>,
    source: Source,
) {
    record_asked(config, state, events, job, r, now, source, &Answers::none());
}

/// [`record`], with the peers' answers of this run for the jobs that need confirmation.
#[allow(clippy::too_many_arguments)]
pub fn record_asked(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    job: &Job,
    r: &CheckResult,
    now: DateTime<Utc>,
    source: Source,
    answers: &Answers,
) {
    let js = match state.jobs.get_mut(&job.name) {
        Some(js) => js,
        None => state.jobs.entry(job.name.clone()).or_default(),
    };
    let event = match source {
        Source::Check => EventKind::Result,
        Source::Pushed => {
            js.first_seen.get_or_insert(now);
            js.last_pushed = Some(now);
            EventKind::Report
        }
    };
    if js.source.as_ref() != Some(&job.source.file) {
        js.source = Some(job.source.file.clone());
    }
    let before = rules::Marks::of(js);
    let decision = rules::record(js, r.ok, &r.message, now, &job.rules);
    js.last_duration_ms = Some(r.duration_ms);
    js.perfdata = r.perfdata.clone();
    if r.cert_not_after.is_some() {
        js.cert_not_after = r.cert_not_after;
    }
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

    // ---- Confirmation from other places (#16, SPEC §12), decided by `quorum::decide`
    // (pure): one more reason to hold a failure alert back, and the one way an alerted
    // failure ends while this instance still sees it. It comes first among the gates: a
    // later one (#14's quiet gate) sees the decision it leaves.
    let confirmation = decide::confirm(&config.general.servername, job, js, answers, now);
    let (decision, verdict) = decide::gate(
        decision,
        confirmation.as_ref(),
        before,
        js,
        job.rules.notify_recovery,
    );
    let mut message = r.message.clone();
    if let (Some(c), Some(v)) = (&confirmation, verdict) {
        let words = decide::describe(c, Some(v));
        let mut ev = Event::new(now, EventKind::Confirmation, Some(&job.name));
        ev.ok = Some(v == decide::Verdict::Confirmed);
        ev.message = Some(words.clone());
        events.push(ev);
        log::info!("{}: {words}", job.name);
        message = match v {
            decide::Verdict::NoLongerConfirmed => {
                format!("{words}; still failing here: {}", r.message)
            }
            _ => format!("{} — {words}", r.message),
        };
    }
    js.confirmation = confirmation.filter(|_| !r.ok);
    // ---- end of confirmation.

    // Quiet on purpose: a failure alert passes the gate, or is held back with its reason.
    let held = match decision {
        Decision::Failure => quiet::gate(config, state, job, now),
        _ => None,
    };
    // The job's entry, made above: the gate only read the state.
    let Some(js) = state.jobs.get_mut(&job.name) else {
        return;
    };
    if let Some(reason) = &held {
        quiet::hold(js, events, job, reason, before, &r.message, now);
    }
    quiet::settle(js, r.ok, decision == Decision::Failure && held.is_none());
    if held.is_some() {
        return;
    }

    let alert = match decision {
        Decision::Nothing => return,
        Decision::Failure => failure_alert(config, job, js, message, now),
        Decision::Recovery { failures, since } => Alert {
            kind: AlertKind::Recovery,
            consecutive_failures: failures,
            failing_since: since,
            next_reminder: String::new(),
            ..failure_alert(config, job, js, message, now)
        },
    };
    let channels = route(config, state, &job.notify);
    queue(state, &channels, &alert, now);
}

/// Queues `alert` on each of `channels`: the one way every decided alert reaches the
/// outbox.
pub fn queue(state: &mut State, channels: &[String], alert: &Alert, now: DateTime<Utc>) {
    log::info!(
        "{}: queued {} notification to {}",
        alert.job,
        alert.kind.as_str(),
        channels.join(", ")
    );
    for ch in channels {
        outbox::enqueue(state, ch, alert.clone(), now);
    }
}

/// Name of the email self-check in history and alerts.
pub const SELF_CHECK: &str = "email self-check";

/// Records a self-check outcome: mail health, a history event, and on a change of
/// health an alert (or recovery) through the channels that do not depend on mail.
pub fn record_self_check(
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
    queue(state, &fallback_channels(config, &[]), &alert, now);
}

/// A trouble of checker itself (not of one job): an error event, and an alert, sent once,
/// through `[defaults] notify` (and the other channels while mail is broken).
pub fn record_trouble(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    what: &str,
    message: String,
    now: DateTime<Utc>,
) {
    events.push(Event::error(now, None, message.clone()));
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
    let channels = route(config, state, &config.default_notify);
    queue(state, &channels, &alert, now);
}

/// Compares the problems of the job files that could not be loaded with those the last
/// tick found. Each new one is an error event, a log line and an alert through
/// `[defaults] notify`; each one gone is a recovery notice (recoveries queued first, so a
/// problem replaced by another ends on the new one's alert). The state keeps the list,
/// which `peer-status`, `/status.json` and `status` show.
pub fn record_config_problems(
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
    let channels = route(config, state, &config.default_notify);
    queue(state, &channels, &alert, now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_problem_of_a_job_file_is_alerted_once_and_its_fix_told_recoveries_first() {
        let (_dir, mut config) = crate::engine::test_config("");
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
            record_config_problems(&config, &mut state, &mut events, now);
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
        record_config_problems(&config, &mut state, &mut events, t1);
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
        record_config_problems(&config, &mut state, &mut events, t1);
        assert!(state.config_problems.is_empty());
        assert_eq!(state.outbox.len(), 4);
        assert_eq!(state.outbox[3].alert.kind, AlertKind::Recovery);
        assert_eq!(state.outbox[3].alert.failing_since, Some(t1));
    }

    #[test]
    fn a_check_and_a_pushed_result_are_recorded_alike_but_only_a_pushed_one_restarts_a_deadline() {
        let (_dir, config) = crate::engine::test_config(
            "[[job]]\nname = \"backup\"\nkind = \"passive\"\nexpect_every = \"1h\"\nnotify_every = \"state_change\"\nfailures_before_notify = 1\n",
        );
        let job = &config.jobs[0];
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let mut state = State::default();
        let mut events = Vec::new();
        let missing = result(job, false, "missing".into(), 0, None);
        record(
            &config,
            &mut state,
            &mut events,
            job,
            &missing,
            t0,
            Source::Check,
        );
        assert_eq!(state.jobs["backup"].last_pushed, None);
        assert_eq!(state.jobs["backup"].first_seen, None);
        let t1 = t0 + chrono::Duration::minutes(30);
        let pushed = result(job, true, "done".into(), 5, Some(3));
        record(
            &config,
            &mut state,
            &mut events,
            job,
            &pushed,
            t1,
            Source::Pushed,
        );
        let js = &state.jobs["backup"];
        assert_eq!((js.last_pushed, js.first_seen), (Some(t1), Some(t1)));
        assert_eq!((js.total_attempts, js.total_count), (2, 3));
        assert_eq!(
            events.iter().map(|e| e.event).collect::<Vec<_>>(),
            vec![EventKind::Result, EventKind::Report]
        );
        // The failure and its recovery, each through the job's channel (`[defaults]`).
        let queued: Vec<(AlertKind, &str)> = state
            .outbox
            .iter()
            .map(|e| (e.alert.kind, e.channel.as_str()))
            .collect();
        assert_eq!(
            queued,
            vec![
                (AlertKind::Failure, "email"),
                (AlertKind::Recovery, "email")
            ]
        );
    }

    #[test]
    fn a_trouble_of_checker_itself_reaches_the_other_channels_while_mail_is_broken() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(
            dir.path().join("settings.toml"),
            "[general]\nalertcontact = \"ops@example.com\"\n\n\
             [email]\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
             [[webhooks]]\nname = \"hook\"\nurl = \"http://127.0.0.1:9/\"\n\n\
             [defaults]\nnotify = [\"email\"]\n",
        )
        .expect("settings");
        let config = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let mut events = Vec::new();

        let mut state = State::default();
        record_trouble(
            &config,
            &mut state,
            &mut events,
            "checker history",
            "moved aside".into(),
            now,
        );
        let channels = |s: &State| {
            s.outbox
                .iter()
                .map(|e| e.channel.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(channels(&state), vec!["email"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, EventKind::Error);

        let mut broken = State::default();
        broken.mail.ok = Some(false);
        record_trouble(
            &config,
            &mut broken,
            &mut events,
            "checker history",
            "moved aside".into(),
            now,
        );
        assert_eq!(channels(&broken), vec!["email", "hook"]);
    }
}
