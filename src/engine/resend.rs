//! Firing alerts posted again while their job keeps failing, for the channels that expect
//! it (`[[webhooks]] format = "alertmanager"`, every `resend`): Alertmanager resolves an
//! alert nobody re-posts, and deduplicates the repeats, so they bypass `notify_every`.
//! Quiet on purpose holds them back too (`engine::quiet::gate`: a silence, a maintenance
//! window, an acknowledgement, a failing parent): Alertmanager then resolves the alert
//! when its `endsAt` passes, and it fires again if the job is still failing once the
//! quiet ends. A pure function of the settings, the state and `now`, called by every tick
//! under the lock; what it queues is delivered like any alert.

use chrono::{DateTime, Utc};

use crate::config::{Config, Job, WebhookFormat};
use crate::engine::outbox;
use crate::engine::route::route;
use crate::notify::{Alert, AlertKind};
use crate::state::{JobState, JobStatus, State};

/// The channels that want firing alerts repeated, with their `resend`.
fn channels(config: &Config) -> Vec<(&str, std::time::Duration)> {
    config
        .webhooks
        .iter()
        .filter(|w| w.format == WebhookFormat::Alertmanager)
        .map(|w| (w.name.as_str(), w.resend))
        .collect()
}

/// Whether a copy posted at `last` is due again at `now`: `resend` has passed, less a
/// tenth (at most 10 s) so that cron's jitter does not skip a minute.
fn due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, resend: std::time::Duration) -> bool {
    let slack = (resend / 10).min(std::time::Duration::from_secs(10));
    let gap = crate::saturating::delta(resend.saturating_sub(slack));
    last.is_none_or(|t| now.signed_duration_since(t) >= gap)
}

/// Queues a copy of the firing alert of every enabled job that is failing and was
/// alerted in this streak, on each of its repeating channels, when the last one for this
/// streak went out `resend` ago or longer and none is queued there now. Returns how many
/// were queued. A job that is not failing forgets when it was last repeated.
pub fn queue_due(config: &Config, state: &mut State, now: DateTime<Utc>) -> usize {
    let repeating = channels(config);
    // Only the jobs with something to clear are taken to change (see `JobMap`).
    let with_resent: Vec<String> = state
        .jobs
        .glances()
        .filter(|(_, g)| g.resent)
        .map(|(name, _)| name.clone())
        .collect();
    if repeating.is_empty() {
        for name in with_resent {
            if let Some(js) = state.jobs.get_mut(&name) {
                js.resent.clear();
            }
        }
        return 0;
    }
    let mut queued = 0;
    for job in config.jobs.iter().filter(|j| j.enabled) {
        let firing = state
            .jobs
            .glance(&job.name)
            .is_some_and(|g| g.status == JobStatus::Failing && g.notified);
        if !firing {
            if with_resent.binary_search(&job.name).is_ok() {
                if let Some(js) = state.jobs.get_mut(&job.name) {
                    js.resent.clear();
                }
            }
            continue;
        }
        if crate::engine::quiet::gate(config, state, job, now).is_some() {
            continue;
        }
        let routed = route(config, state, &job.notify);
        for (channel, resend) in &repeating {
            if !routed.iter().any(|c| c == channel) {
                continue;
            }
            let waiting = state
                .outbox
                .iter()
                .any(|e| e.channel == *channel && e.alert.job == job.name);
            let Some(js) = state.jobs.get(&job.name) else {
                continue;
            };
            let last = js.last_notify.max(js.resent.get(*channel).copied());
            if waiting || !due(last, now, *resend) {
                continue;
            }
            let alert = firing_alert(config, job, js, now);
            outbox::enqueue(state, channel, alert, now);
            if let Some(e) = state.outbox.last_mut() {
                e.resend = true;
            }
            if let Some(js) = state.jobs.get_mut(&job.name) {
                js.resent.insert((*channel).to_string(), now);
            }
            queued += 1;
        }
    }
    if queued > 0 {
        log::debug!("{queued} firing alert(s) posted again (resend)");
    }
    queued
}

/// The failure alert of a job still failing, as it stands at `now`, saying its last error.
fn firing_alert(config: &Config, job: &Job, js: &JobState, now: DateTime<Utc>) -> Alert {
    let message = js
        .last_error
        .clone()
        .or_else(|| js.last_message.clone())
        .unwrap_or_default();
    failure_alert(config, job, js, message, now)
}

/// The failure alert about `job` with `message`, its figures read from its state `js` at
/// `now`: the one place an alert about a job is made (a recovery changes its kind and
/// counts, see `engine::record`).
pub(crate) fn failure_alert(
    config: &Config,
    job: &Job,
    js: &JobState,
    message: String,
    now: DateTime<Utc>,
) -> Alert {
    Alert {
        kind: AlertKind::Failure,
        servername: config.general.servername.clone(),
        job: job.name.clone(),
        job_kind: job.kind.name().into(),
        description: job.description.clone(),
        message,
        consecutive_failures: js.consecutive_failures,
        failing_since: js.first_failure,
        last_success: js.last_success,
        next_reminder: crate::rules::next_reminder(js, &job.rules),
        at: now,
        recipients: job
            .contact
            .clone()
            .unwrap_or_else(|| config.general.alertcontact.clone()),
        target: Some(crate::notify::target::target(job)),
        expected: crate::notify::target::expected(job),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn config() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(
            dir.path().join("settings.toml"),
            "[general]\nalertcontact = \"ops@example.com\"\n\n\
             [[webhooks]]\nname = \"am\"\nformat = \"alertmanager\"\nurl = \"http://127.0.0.1:9/\"\nresend = \"1m\"\n\n\
             [[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/\"\n",
        )
        .expect("settings");
        std::fs::write(
            dir.path().join("jobs/jobs.toml"),
            "[[job]]\nname = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\nnotify = [\"am\", \"chat\"]\n",
        )
        .expect("jobs");
        let config = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
        (dir, config)
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn failing(state: &mut State, notified: bool) {
        let js = state.jobs.entry("web".into()).or_default();
        js.status = JobStatus::Failing;
        js.consecutive_failures = 3;
        js.first_failure = Some(t0() - Duration::minutes(3));
        js.last_notify = Some(t0());
        js.notified = notified;
        js.last_error = Some("connection refused".into());
    }

    #[test]
    fn a_firing_alert_is_repeated_every_resend_only_on_the_alertmanager_channel() {
        let (_dir, config) = config();
        let mut state = State::default();
        failing(&mut state, true);
        // Just alerted: nothing to repeat yet.
        assert_eq!(
            queue_due(&config, &mut state, t0() + Duration::seconds(30)),
            0
        );
        // A minute later (a little less: cron's jitter), on "am" only.
        let t1 = t0() + Duration::seconds(57);
        assert_eq!(queue_due(&config, &mut state, t1), 1);
        assert_eq!(state.outbox.len(), 1);
        let e = &state.outbox[0];
        assert_eq!((e.channel.as_str(), e.resend), ("am", true));
        assert_eq!(e.alert.kind, AlertKind::Failure);
        assert_eq!(e.alert.failing_since, Some(t0() - Duration::minutes(3)));
        assert_eq!(e.alert.message, "connection refused");
        // Still queued (Alertmanager down): no second copy piles up behind it.
        assert_eq!(queue_due(&config, &mut state, t1 + Duration::minutes(5)), 0);
        state.outbox.clear();
        // Delivered: the next one a resend after the last.
        assert_eq!(
            queue_due(&config, &mut state, t1 + Duration::seconds(30)),
            0
        );
        assert_eq!(
            queue_due(&config, &mut state, t1 + Duration::seconds(60)),
            1
        );
    }

    #[test]
    fn a_silenced_job_is_not_repeated_until_the_silence_ends() {
        let (_dir, config) = config();
        let mut state = State::default();
        failing(&mut state, true);
        let until = t0() + Duration::minutes(30);
        state.silences.push(crate::state::Silence {
            id: "s-0000abcd".into(),
            covers: crate::state::Covers::Jobs(vec!["web".into()]),
            from: t0(),
            until,
            reason: None,
            who: "ops".into(),
            created: t0(),
        });
        assert_eq!(
            queue_due(&config, &mut state, t0() + Duration::minutes(5)),
            0
        );
        assert_eq!(queue_due(&config, &mut state, until), 1);
    }

    #[test]
    fn nothing_is_repeated_before_the_first_alert_or_after_the_recovery() {
        let (_dir, config) = config();
        let mut state = State::default();
        failing(&mut state, false);
        assert_eq!(queue_due(&config, &mut state, t0() + Duration::hours(1)), 0);
        failing(&mut state, true);
        assert_eq!(queue_due(&config, &mut state, t0() + Duration::hours(1)), 1);
        state.outbox.clear();
        let js = state.jobs.get_mut("web").unwrap();
        js.status = JobStatus::Ok;
        js.notified = false;
        assert_eq!(queue_due(&config, &mut state, t0() + Duration::hours(2)), 0);
        assert!(
            state.jobs["web"].resent.is_empty(),
            "forgotten with the streak"
        );
    }
}
