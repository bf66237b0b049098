//! The confirmation decision, pure: [`confirm`] says which places see a job failing
//! (this instance by its own state, each peer by its answer, judged against the job's
//! timeout and the peer's interval), and [`gate`] applies it to what the notification
//! rules decided for the result — the one more reason to hold a failure alert back, and
//! the one way an alerted failure ends while this instance still sees it.
//!
//! Precisely, for a job with `confirm_with` whose own check fails:
//! - a failure alert the rules decide goes out when at least `confirm_min` places count
//!   as seeing the failure ("confirmed"); else it is held back ("not confirmed"), as if
//!   the rules had not decided it, so it goes out at the first failing check that is
//!   confirmed;
//! - an alerted failure ends ("no longer confirmed", a recovery notice) when even
//!   counting every unknown place as failing, fewer than `confirm_min` places see it: the
//!   other places positively see the job passing. A peer that merely does not answer never
//!   ends an alert;
//! - when its own check passes, the rules decide as for any job: the recovery notice goes
//!   out if the failure was alerted.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::wire::PeerState;
use super::{Answers, Asked};
use crate::check::http::human;
use crate::config::{Confirm, Job, UnknownCounts};
use crate::duration::{format as short, humanize};
use crate::rules::{self, Decision, Marks};
use crate::state::{Confirmation, JobState, JobStatus, Place, Sees};

/// Which places see `job` failing at `now`; `None` for a job without `confirm_with`.
/// `js` is the job's state with its latest result recorded; `servername` names this
/// instance among the places.
pub fn confirm(
    servername: &str,
    job: &Job,
    js: &JobState,
    answers: &Answers,
    now: DateTime<Utc>,
) -> Option<Confirmation> {
    let c = job.confirm.as_ref()?;
    let own_failing = js.status == JobStatus::Failing;
    let mut places = vec![Place {
        name: servername.to_string(),
        sees: if own_failing { Sees::Failing } else { Sees::Ok },
        counted: own_failing,
        detail: None,
    }];
    for peer in &c.with {
        let (sees, detail) = peer_view(job, c, answers.peers.get(peer), now);
        let counted = match sees {
            Sees::Failing => true,
            Sees::Ok => false,
            Sees::Unknown => c.unknown == UnknownCounts::Failing,
        };
        places.push(Place {
            name: peer.clone(),
            sees,
            counted,
            detail,
        });
    }
    let counted = places.iter().filter(|p| p.counted).count();
    Some(Confirmation {
        at: now,
        confirmed: counted >= c.min as usize,
        needed: c.min,
        places,
    })
}

/// What one peer's answer says of the job: failing, ok, or unknown and why.
fn peer_view(
    job: &Job,
    c: &Confirm,
    asked: Option<&Asked>,
    now: DateTime<Utc>,
) -> (Sees, Option<String>) {
    let unknown = |why: String| (Sees::Unknown, Some(why));
    let Some(asked) = asked else {
        return unknown("not asked: this result did not come from a check of this instance".into());
    };
    let answer = match &asked.answer {
        Ok(a) => a,
        Err(why) => return unknown(why.clone()),
    };
    if asked.after > job.timeout {
        return unknown(format!(
            "answered late: after {}, past the job's timeout of {}",
            human(asked.after),
            short(job.timeout)
        ));
    }
    let name = c.job.as_deref().unwrap_or(&job.name);
    let Some(entry) = answer.jobs.get(name) else {
        return unknown(format!("it has no job {name:?}"));
    };
    let Some(last_run) = entry.last_run else {
        return unknown(format!("it has not checked {name:?} yet"));
    };
    // Its own clock on both sides: a skew between the machines does not matter.
    let answered = answer.generated_at.unwrap_or(now);
    let interval = entry.interval.unwrap_or_else(|| job.schedule.period());
    let age = answered.signed_duration_since(last_run);
    if age.to_std().is_ok_and(|a| a > interval.saturating_mul(2)) {
        return unknown(format!(
            "its last check of {name:?} is {} old, more than twice its interval of {}",
            humanize(age),
            short(interval)
        ));
    }
    match &entry.state {
        // What it failed with is its own business (its alert says it); kept out of the
        // state, which carries this for every failing job.
        PeerState::Failing => (Sees::Failing, None),
        PeerState::Ok => (Sees::Ok, None),
        PeerState::Other(s) => unknown(format!("it says {name:?} is {s:?}")),
    }
}

/// What confirmation made of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The failure alert goes out.
    Confirmed,
    /// The failure alert is held back.
    NotConfirmed,
    /// The alerted failure ends: a recovery notice (unless `notify_recovery = false`).
    NoLongerConfirmed,
}

/// Applies confirmation `c` to the rules' `decision` for the result just recorded in
/// `js` (`before`: its marks before it). Returns the decision that stands and, when
/// confirmation decided something, the verdict. A job that passes is the rules' alone.
pub fn gate(
    decision: Decision,
    c: Option<&Confirmation>,
    before: Marks,
    js: &mut JobState,
    notify_recovery: bool,
) -> (Decision, Option<Verdict>) {
    let Some(c) = c else {
        return (decision, None);
    };
    if js.status != JobStatus::Failing {
        return (decision, None);
    }
    let could_confirm = c
        .places
        .iter()
        .filter(|p| p.counted || p.sees == Sees::Unknown)
        .count();
    let refuted = could_confirm < c.needed as usize;
    match decision {
        Decision::Failure if c.confirmed => (decision, Some(Verdict::Confirmed)),
        Decision::Failure => {
            rules::hold_back(js, before);
            if js.notified && refuted {
                no_longer(js, notify_recovery)
            } else {
                (Decision::Nothing, Some(Verdict::NotConfirmed))
            }
        }
        Decision::Nothing if js.notified && refuted => no_longer(js, notify_recovery),
        other => (other, None),
    }
}

/// The alerted failure ends while this instance still sees it: the streak goes on, and
/// a new confirmation alerts again.
fn no_longer(js: &mut JobState, notify_recovery: bool) -> (Decision, Option<Verdict>) {
    js.notified = false;
    js.last_notify = None;
    let decision = if notify_recovery {
        Decision::Recovery {
            failures: js.consecutive_failures,
            since: js.first_failure,
        }
    } else {
        Decision::Nothing
    };
    (decision, Some(Verdict::NoLongerConfirmed))
}

/// The decision in words, for alerts, history and `status`:
/// `confirmed by 2 of 3 places (2 needed): web1, web2; not by web3 (sees it ok)`.
pub fn describe(c: &Confirmation, verdict: Option<Verdict>) -> String {
    let counted = c.places.iter().filter(|p| p.counted).count();
    let head = match verdict {
        Some(Verdict::NoLongerConfirmed) => "no longer confirmed: seen failing by",
        Some(Verdict::Confirmed) => "confirmed by",
        Some(Verdict::NotConfirmed) => "not confirmed: seen failing by",
        None if c.confirmed => "confirmed by",
        None => "not confirmed: seen failing by",
    };
    let place = |p: &Place| match (&p.sees, &p.detail) {
        (Sees::Ok, _) => format!("{} (sees it ok)", p.name),
        (Sees::Unknown, Some(why)) if p.counted => {
            format!("{} (counted as failing: {why})", p.name)
        }
        (Sees::Unknown, Some(why)) => format!("{} ({why})", p.name),
        _ => p.name.clone(),
    };
    let by: Vec<String> = c.places.iter().filter(|p| p.counted).map(place).collect();
    let not: Vec<String> = c.places.iter().filter(|p| !p.counted).map(place).collect();
    let mut out = format!(
        "{head} {counted} of {} places ({} needed)",
        c.places.len(),
        c.needed
    );
    if !by.is_empty() {
        out.push_str(": ");
        out.push_str(&by.join(", "));
    }
    if !not.is_empty() {
        out.push_str("; not by ");
        out.push_str(&not.join(", "));
    }
    out
}

/// How long a peer may take to answer for the jobs `timeouts` belong to: the longest.
pub fn ask_timeout(timeouts: impl Iterator<Item = Duration>, cap: Duration) -> Duration {
    timeouts.max().unwrap_or(cap).min(cap)
}
