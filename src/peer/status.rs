//! The peer-status word (SPEC §6), what this instance tells its peers: `MailProblem` when
//! email is on and the last self-check or delivery failed, or when mail was last proven
//! to work more than twice the self-check interval ago (an old "ok" no longer counts), or
//! when an alert has waited for email longer than `undeliverable_after`; else
//! `JobProblem` when no tick finished within `stale_after` or the last one ended in
//! error, or when an alert has waited that long for another channel; else `True`. A pure function of the state, the settings and `now`, so tests
//! control the clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::duration::{format as short, humanize};
use crate::engine::outbox::Undeliverable;
use crate::state::State;

/// The three answers of the original's status site, spelled as it spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Word {
    True,
    MailProblem,
    JobProblem,
}

impl Word {
    pub fn as_str(self) -> &'static str {
        match self {
            Word::True => "True",
            Word::MailProblem => "MailProblem",
            Word::JobProblem => "JobProblem",
        }
    }
}

/// What the word depends on besides the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub servername: String,
    pub email_enabled: bool,
    pub stale_after: Duration,
    /// How long a proof that mail works counts: twice the self-check interval. `None`
    /// when the self-check is off (then nothing renews it, and it never expires).
    pub mail_fresh_for: Option<Duration>,
    /// Alerts queued longer than this mean this instance cannot speak through that channel.
    pub undeliverable_after: Duration,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Policy {
            servername: config.general.servername.clone(),
            email_enabled: config.email.enabled,
            stale_after: config.general.stale_after,
            mail_fresh_for: config
                .email
                .self_check
                .map(|s| s.period().saturating_mul(2)),
            undeliverable_after: config.general.undeliverable_after,
        }
    }
}

/// The word and what it was decided from (`peer-status --json`, `/status.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerStatus {
    pub status: Word,
    pub servername: String,
    pub last_tick_finished: Option<DateTime<Utc>>,
    /// `None` when email is off or has never been tried.
    pub mail_ok: Option<bool>,
    pub mail_checked_at: Option<DateTime<Utc>>,
    /// One line a person can act on.
    pub detail: String,
    pub last_tick_error: Option<String>,
    pub mail_error: Option<String>,
    /// The channels through which alerts have waited longer than `undeliverable_after`:
    /// which, since when, how many, and the last error.
    pub undeliverable: Vec<Undeliverable>,
    /// The job files the last tick could not load, each problem with file, line and
    /// message: their jobs are not checked (`JobProblem`).
    pub config_problems: Vec<crate::state::ConfigProblem>,
}

pub fn compute(state: &State, policy: &Policy, now: DateTime<Utc>) -> PeerStatus {
    let hb = &state.heartbeat;
    let mail = &state.mail;
    let ago = |t: DateTime<Utc>| humanize(now - t);
    let undeliverable =
        crate::engine::outbox::undeliverable(state, policy.undeliverable_after, now);
    let (by_email, by_others): (Vec<&Undeliverable>, Vec<&Undeliverable>) =
        undeliverable.iter().partition(|u| u.channel == "email");
    let (status, detail) = if policy.email_enabled && mail.ok == Some(false) {
        let why = mail.last_error.as_deref().unwrap_or("no reason recorded");
        let when = mail
            .checked_at
            .map(|t| format!(" ({} ago)", ago(t)))
            .unwrap_or_default();
        (Word::MailProblem, format!("cannot send mail: {why}{when}"))
    } else if let Some(stale) = stale_mail(state, policy, now) {
        (Word::MailProblem, stale)
    } else if !by_email.is_empty() {
        (Word::MailProblem, stuck_detail(&by_email, policy, now))
    } else if let Some(problem) = job_problem(state, policy, now) {
        (Word::JobProblem, problem)
    } else if !by_others.is_empty() {
        (Word::JobProblem, stuck_detail(&by_others, policy, now))
    } else {
        let mail_words = match (policy.email_enabled, mail.ok, mail.checked_at) {
            (false, _, _) => "email is off".to_string(),
            (true, Some(true), Some(t)) => format!("mail works (checked {} ago)", ago(t)),
            (true, Some(true), None) => "mail works".to_string(),
            _ => "mail not checked yet".to_string(),
        };
        let tick = hb
            .last_tick_finished
            .map(|t| format!("last tick finished {} ago", ago(t)))
            .unwrap_or_default();
        (Word::True, format!("{tick}; {mail_words}"))
    };
    PeerStatus {
        status,
        servername: policy.servername.clone(),
        last_tick_finished: hb.last_tick_finished,
        mail_ok: if policy.email_enabled { mail.ok } else { None },
        mail_checked_at: mail.checked_at,
        detail,
        last_tick_error: hb.last_tick_error.clone(),
        mail_error: if policy.email_enabled {
            mail.last_error.clone()
        } else {
            None
        },
        undeliverable,
        config_problems: state.config_problems.clone(),
    }
}

/// "alerts cannot be delivered through ops-hook: 3 waiting since 2026-03-01 11:20:00 UTC
/// (25m ago, more than undeliverable_after 15m); last error: HTTP 503", channel by channel.
fn stuck_detail(stuck: &[&Undeliverable], policy: &Policy, now: DateTime<Utc>) -> String {
    stuck
        .iter()
        .map(|u| {
            format!(
                "alerts cannot be delivered through {}: {} waiting since {} ({} ago, more than undeliverable_after {}){}",
                u.channel,
                u.waiting,
                u.since.format("%Y-%m-%d %H:%M:%S UTC"),
                humanize(now - u.since),
                short(policy.undeliverable_after),
                u.last_error
                    .as_deref()
                    .map(|e| format!("; last error: {}", crate::text::truncate(e, 200)))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why mail can no longer be said to work although it last did: the proof is older than
/// twice the self-check interval (self-checks stopped, or keep being cut short).
fn stale_mail(state: &State, policy: &Policy, now: DateTime<Utc>) -> Option<String> {
    let fresh_for = policy.mail_fresh_for?;
    if !policy.email_enabled || state.mail.ok != Some(true) {
        return None;
    }
    let checked = state.mail.checked_at?;
    // A check in the future (the clock was set back) counts as just now.
    let age = (now - checked).to_std().unwrap_or(Duration::ZERO);
    (age > fresh_for).then(|| {
        format!(
            "mail not proven to work for {}: the last good self-check or delivery is older than twice the self-check interval ({}); is the self-check running and finishing?",
            humanize(now - checked),
            short(fresh_for)
        )
    })
}

/// Why the jobs are not being run, if they are not.
fn job_problem(state: &State, policy: &Policy, now: DateTime<Utc>) -> Option<String> {
    let hb = &state.heartbeat;
    let Some(finished) = hb.last_tick_finished else {
        return Some("no tick has finished yet: is cron running `checker -c minute`?".into());
    };
    // A finish in the future (the clock was set back) counts as just now.
    let age = (now - finished).to_std().unwrap_or(Duration::ZERO);
    if age > policy.stale_after {
        return Some(format!(
            "no tick has finished for {} (stale after {}): is cron running `checker -c minute`?",
            humanize(now - finished),
            short(policy.stale_after)
        ));
    }
    if let Some(e) = &hb.last_tick_error {
        return Some(format!("the last tick ended in error: {e}"));
    }
    config_problem(state)
}

/// A job file that cannot be loaded: its jobs are not being run.
fn config_problem(state: &State) -> Option<String> {
    let first = state.config_problems.first()?;
    let more = state.config_problems.len() - 1;
    Some(format!(
        "a job file cannot be loaded, so its jobs are not checked: {}{}",
        first.describe(),
        if more > 0 {
            format!(" (and {more} more problem(s))")
        } else {
            String::new()
        }
    ))
}

/// The answer when the state itself cannot be read: the jobs cannot be running well.
pub fn unreadable(policy: &Policy, why: &str) -> PeerStatus {
    PeerStatus {
        status: Word::JobProblem,
        servername: policy.servername.clone(),
        last_tick_finished: None,
        mail_ok: None,
        mail_checked_at: None,
        detail: format!("the state cannot be read: {why}"),
        last_tick_error: None,
        mail_error: None,
        undeliverable: Vec::new(),
        config_problems: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000 + secs, 0)
            .single()
            .expect("valid time")
    }

    fn policy(email: bool) -> Policy {
        Policy {
            servername: "box".into(),
            email_enabled: email,
            stale_after: Duration::from_secs(180),
            mail_fresh_for: None,
            undeliverable_after: Duration::from_secs(900),
        }
    }

    #[test]
    fn an_ok_older_than_twice_the_self_check_interval_no_longer_counts() {
        let hourly = Policy {
            mail_fresh_for: Some(Duration::from_secs(2 * 3600)),
            ..policy(true)
        };
        let now = at(100);
        let mut s = state(Some(90), false, Some(true));
        s.mail.checked_at = Some(at(100 - 2 * 3600));
        let fresh = compute(&s, &hourly, now);
        assert_eq!(fresh.status, Word::True, "{}", fresh.detail);
        s.mail.checked_at = Some(at(100 - 2 * 3600 - 1));
        let stale = compute(&s, &hourly, now);
        assert_eq!(stale.status, Word::MailProblem, "{}", stale.detail);
        assert!(
            stale
                .detail
                .starts_with("mail not proven to work for 2h 1s")
                && stale.detail.contains("twice the self-check interval (2h)"),
            "{}",
            stale.detail
        );
        // With the self-check off nothing renews the proof, so it does not expire; with
        // email off mail is not judged at all.
        assert_eq!(compute(&s, &policy(true), now).status, Word::True);
        let off = Policy {
            email_enabled: false,
            ..hourly.clone()
        };
        assert_eq!(compute(&s, &off, now).status, Word::True);
    }

    /// A state whose last tick finished at `finished` (seconds from `at(0)`).
    fn state(finished: Option<i64>, tick_error: bool, mail_ok: Option<bool>) -> State {
        let mut s = State::default();
        s.heartbeat.last_tick_finished = finished.map(at);
        s.heartbeat.last_tick_error =
            tick_error.then(|| "2 job(s) not started before the tick deadline".into());
        s.mail.ok = mail_ok;
        s.mail.checked_at = mail_ok.map(|_| at(-30));
        s.mail.last_error = (mail_ok == Some(false)).then(|| "connection refused".into());
        s
    }

    #[test]
    fn the_word_follows_the_precedence_of_the_spec() {
        use Word::*;
        let now = at(100);
        // (email on, last tick finished, tick error, mail ok) -> word
        let table = [
            (true, Some(90), false, Some(true), True),
            (true, Some(90), false, None, True),
            (false, Some(90), false, Some(false), True),
            (true, Some(90), false, Some(false), MailProblem),
            (true, None, false, Some(false), MailProblem),
            (true, Some(-200), true, Some(false), MailProblem),
            (true, Some(90), true, Some(true), JobProblem),
            (true, Some(-81), false, Some(true), JobProblem),
            (true, Some(-80), false, Some(true), True),
            (false, None, false, None, JobProblem),
            (false, Some(-500), false, Some(false), JobProblem),
            // A finish in the future (clock set back) is fresh.
            (true, Some(1000), false, Some(true), True),
        ];
        for (email, finished, tick_error, mail_ok, expected) in table {
            let s = state(finished, tick_error, mail_ok);
            let got = compute(&s, &policy(email), now);
            assert_eq!(
                got.status, expected,
                "email {email}, finished {finished:?}, error {tick_error}, mail {mail_ok:?}: {}",
                got.detail
            );
        }
    }

    #[test]
    fn the_detail_says_why() {
        let now = at(100);
        let mail = compute(&state(Some(90), false, Some(false)), &policy(true), now);
        assert_eq!(
            mail.detail,
            "cannot send mail: connection refused (2m 10s ago)"
        );
        let stale = compute(&state(Some(-200), false, Some(true)), &policy(true), now);
        assert!(
            stale
                .detail
                .starts_with("no tick has finished for 5m (stale after 3m)"),
            "{}",
            stale.detail
        );
        let never = compute(&state(None, false, None), &policy(true), now);
        assert!(
            never.detail.starts_with("no tick has finished yet"),
            "{}",
            never.detail
        );
        let errored = compute(&state(Some(90), true, Some(true)), &policy(true), now);
        assert!(
            errored
                .detail
                .contains("ended in error: 2 job(s) not started"),
            "{}",
            errored.detail
        );
        let fine = compute(&state(Some(90), false, Some(true)), &policy(true), now);
        assert_eq!(
            fine.detail,
            "last tick finished 10s ago; mail works (checked 2m 10s ago)"
        );
        assert_eq!(fine.mail_ok, Some(true));
        let off = compute(&state(Some(90), false, Some(false)), &policy(false), now);
        assert_eq!(
            off.mail_ok, None,
            "with email off, its old health is not reported"
        );
        assert!(off.detail.ends_with("email is off"));
    }

    #[test]
    fn an_alert_waiting_past_undeliverable_after_is_a_mail_problem_for_email_and_a_job_problem_otherwise(
    ) {
        use crate::notify::{Alert, AlertKind};
        let alert = |at| Alert {
            kind: AlertKind::Failure,
            servername: "box".into(),
            job: "web".into(),
            job_kind: "http".into(),
            description: None,
            message: "down".into(),
            consecutive_failures: 2,
            failing_since: Some(at),
            last_success: None,
            next_reminder: String::new(),
            at,
            recipients: Vec::new(),
            target: None,
            expected: None,
        };
        let queued = at(0);
        let mut s = state(Some(890), false, Some(true));
        s.mail.checked_at = Some(at(890));
        crate::engine::outbox::enqueue(&mut s, "ops-hook", alert(queued), queued);
        s.outbox[0].last_error = Some("HTTP 503".into());
        // 15 minutes is not more than undeliverable_after (15m).
        let fine = compute(&s, &policy(true), at(900));
        assert_eq!(fine.status, Word::True, "{}", fine.detail);
        assert!(fine.undeliverable.is_empty());
        let mut s2 = s.clone();
        let late = compute(&s2, &policy(true), at(901));
        assert_eq!(late.status, Word::JobProblem);
        assert_eq!(
            late.detail,
            "alerts cannot be delivered through ops-hook: 1 waiting since 2025-06-15 15:06:40 UTC (15m 1s ago, more than undeliverable_after 15m); last error: HTTP 503"
        );
        let v = serde_json::to_value(&late).expect("serialises");
        assert_eq!(v["undeliverable"][0]["channel"], "ops-hook");
        assert_eq!(v["undeliverable"][0]["since"], "2025-06-15T15:06:40Z");
        assert_eq!(v["undeliverable"][0]["waiting"], 1);
        // Through email, peers hear MailProblem, though the last self-check worked.
        crate::engine::outbox::enqueue(&mut s2, "email", alert(queued), queued);
        let mail = compute(&s2, &policy(true), at(901));
        assert_eq!(mail.status, Word::MailProblem);
        assert!(
            mail.detail
                .starts_with("alerts cannot be delivered through email: 1 waiting since"),
            "{}",
            mail.detail
        );
        assert_eq!(mail.undeliverable.len(), 2);
    }

    #[test]
    fn a_job_file_that_cannot_be_loaded_is_a_job_problem_with_its_detail() {
        let now = at(100);
        let mut s = state(Some(90), false, Some(true));
        for line in [4, 9] {
            s.config_problems.push(crate::state::ConfigProblem {
                file: "/etc/checker/jobs/web.toml".into(),
                line,
                message: "unknown key `urll` in [[job]]; did you mean `url`?".into(),
                since: at(0),
            });
        }
        let got = compute(&s, &policy(true), now);
        assert_eq!(got.status, Word::JobProblem);
        assert_eq!(
            got.detail,
            "a job file cannot be loaded, so its jobs are not checked: /etc/checker/jobs/web.toml:4: unknown key `urll` in [[job]]; did you mean `url`? (and 1 more problem(s))"
        );
        let v = serde_json::to_value(&got).expect("serialises");
        assert_eq!(v["config_problems"][1]["line"], 9);
        assert_eq!(
            v["config_problems"][0]["file"],
            "/etc/checker/jobs/web.toml"
        );
        // Mail trouble still comes first, as the original's precedence has it.
        s.mail.ok = Some(false);
        assert_eq!(compute(&s, &policy(true), now).status, Word::MailProblem);
        // Fixed: True again.
        s.mail.ok = Some(true);
        s.config_problems.clear();
        assert_eq!(compute(&s, &policy(true), now).status, Word::True);
    }

    #[test]
    fn json_has_the_fields_of_the_spec() {
        let s = compute(&state(Some(90), false, Some(true)), &policy(true), at(100));
        let v = serde_json::to_value(&s).expect("serialises");
        for key in [
            "status",
            "servername",
            "last_tick_finished",
            "mail_ok",
            "mail_checked_at",
            "detail",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["status"], "True");
        assert_eq!(v["servername"], "box");
        assert_eq!(v["last_tick_finished"], "2025-06-15T15:08:10Z");
    }
}
