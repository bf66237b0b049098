//! Quiet on purpose (SPEC §10): whether a failure alert is held back, and why. One pure
//! function, [`gate`], answers it from the job, the state (silences, the job's
//! acknowledgement, its parents' states) and the maintenance windows at `now`. `record`
//! asks it about every failure alert the rules decide, on every path (ticks, `run-once`,
//! `report`, `wrap`, passive deadlines); recovery notices never pass through it. Later
//! reasons to hold an alert back (quorum) are added here.

use chrono::{DateTime, Utc};

use crate::calendar::Occurrence;
use crate::config::{Config, Job, Maintenance, NotifyEvery, Rules};
use crate::history::{Event, EventKind};
use crate::rules::{hold_back, reminder_gap, Marks};
use crate::state::{Ack, Held, JobState, JobStatus, State};

/// Why a failure alert is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `checker silence`.
    Silence { id: String, until: DateTime<Utc> },
    /// A `[[maintenance]]` window.
    Maintenance { name: String, until: DateTime<Utc> },
    /// `checker ack`: this streak is known.
    Acknowledged,
    /// A job in its `depends_on` is failing.
    Parent { job: String },
}

impl Reason {
    /// How the history and `status` name it: `silence s-1a2b3c4d`, `maintenance
    /// "nightly"`, `acknowledged`, `parent "internet link" failing`.
    pub fn label(&self) -> String {
        match self {
            Reason::Silence { id, .. } => format!("silence {id}"),
            Reason::Maintenance { name, .. } => format!("maintenance {name:?}"),
            Reason::Acknowledged => "acknowledged".into(),
            Reason::Parent { job } => format!("parent {job:?} failing"),
        }
    }
}

/// The one gate: whether a failure alert of `job` decided at `now` is held back, and the
/// first reason why (silences, then maintenance windows, the acknowledgement, parents).
pub fn gate(config: &Config, state: &State, job: &Job, now: DateTime<Utc>) -> Option<Reason> {
    reasons(config, state, job, now).into_iter().next()
}

/// Every reason that would hold back a failure alert of `job` at `now`, in the gate's
/// order.
pub fn reasons(config: &Config, state: &State, job: &Job, now: DateTime<Utc>) -> Vec<Reason> {
    reasons_in(config, state, job, now, &open_windows(config, now))
}

/// The maintenance windows open at `now`, with their open occurrence: worked out once
/// for every job a command shows.
pub fn open_windows(config: &Config, now: DateTime<Utc>) -> Vec<(&Maintenance, Occurrence)> {
    config
        .maintenance
        .iter()
        .filter_map(|w| w.calendar.active_at(now).map(|o| (w, o)))
        .collect()
}

/// [`reasons`], with the windows open at `now` given.
fn reasons_in(
    config: &Config,
    state: &State,
    job: &Job,
    now: DateTime<Utc>,
    open: &[(&Maintenance, Occurrence)],
) -> Vec<Reason> {
    let mut out: Vec<Reason> = state
        .silences
        .iter()
        .filter(|s| s.is_active(now) && s.covers(&job.name))
        .map(|s| Reason::Silence {
            id: s.id.clone(),
            until: s.until,
        })
        .collect();
    for (w, o) in open.iter().filter(|(w, _)| w.covers(&job.name)) {
        out.push(Reason::Maintenance {
            name: w.name.clone(),
            until: o.end,
        });
    }
    if state.jobs.get(&job.name).and_then(acknowledged).is_some() {
        out.push(Reason::Acknowledged);
    }
    for parent in &job.depends_on {
        if parent_failing(config, state, &job.name, parent) {
            out.push(Reason::Parent {
                job: parent.clone(),
            });
        }
    }
    out
}

/// The job's acknowledgement, when it is for the failure streak going on now.
pub fn acknowledged(js: &JobState) -> Option<&Ack> {
    js.ack
        .as_ref()
        .filter(|a| js.status == JobStatus::Failing && a.streak == js.first_failure)
}

/// Whether `parent` counts as failing for `child`: a configured, enabled job (its state
/// at the time of the decision) other than the child itself. A parent that is disabled
/// or gone is not checked any more: its last state would hold the child back forever.
fn parent_failing(config: &Config, state: &State, child: &str, parent: &str) -> bool {
    parent != child
        && state
            .jobs
            .get(parent)
            .is_some_and(|s| s.status == JobStatus::Failing)
        && config.job(parent).is_some_and(|p| p.enabled)
}

/// Holds back the failure alert the rules just decided for `job` (`before`: the rules'
/// marks as they were before the result): the streak stays as alerted as it was, the
/// job remembers why, and the history gets an event for each alert that would have gone
/// out: on a new reason, and then at the pace of the job's `notify_every`.
pub fn hold(
    js: &mut JobState,
    events: &mut Vec<Event>,
    job: &Job,
    reason: &Reason,
    before: Marks,
    message: &str,
    now: DateTime<Utc>,
) {
    hold_back(js, before);
    let label = reason.label();
    if worth_an_event(js.held.as_ref(), &label, &job.rules, now) {
        log::info!("{}: failure alert held back: {label}", job.name);
        let mut ev = Event::new(now, EventKind::Suppressed, Some(&job.name));
        ev.message = Some(format!("failure alert held back ({label}): {message}"));
        events.push(ev);
        let since = match &js.held {
            Some(h) if h.reason == label => h.since,
            _ => now,
        };
        js.held = Some(Held {
            reason: label,
            since,
            last: now,
        });
    }
}

/// Whether holding back one more alert for `reason` is news for the history.
fn worth_an_event(held: Option<&Held>, reason: &str, rules: &Rules, now: DateTime<Utc>) -> bool {
    let Some(h) = held.filter(|h| h.reason == reason) else {
        return true;
    };
    match rules.notify_every {
        NotifyEvery::Every => true,
        NotifyEvery::StateChange => false,
        mode => reminder_gap(mode).is_none_or(|gap| now - h.last > gap),
    }
}

/// After a result is recorded: a success ends the streak, with its acknowledgement and
/// what it was held back by; an alert that goes out ends the holding.
pub fn settle(js: &mut JobState, ok: bool, alerted: bool) {
    if ok {
        js.ack = None;
        js.held = None;
    } else if alerted {
        js.held = None;
    }
}

/// The order to record a run's results in: parents before their children (by depth in
/// `depends_on`), so that a child's decision sees its parent's result of the same run.
/// Otherwise the order given.
pub fn parents_first(config: &Config, jobs: &[&Job]) -> Vec<usize> {
    if config.jobs.iter().all(|j| j.depends_on.is_empty()) {
        return (0..jobs.len()).collect();
    }
    let by_name: std::collections::HashMap<&str, &Job> =
        config.jobs.iter().map(|j| (j.name.as_str(), j)).collect();
    let mut depth_of = std::collections::HashMap::new();
    let mut order: Vec<(usize, usize)> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (depth(&by_name, &j.name, &mut depth_of), i))
        .collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// How many `depends_on` steps lie above `name` (bounded: loading refuses cycles, and a
/// name seen again on the way counts as no parent).
fn depth<'c>(
    jobs: &std::collections::HashMap<&'c str, &'c Job>,
    name: &'c str,
    memo: &mut std::collections::HashMap<&'c str, usize>,
) -> usize {
    if let Some(d) = memo.get(name) {
        return *d;
    }
    // Iterative: a long chain must not exhaust the stack.
    let mut stack: Vec<&'c str> = vec![name];
    let mut on_path: std::collections::HashSet<&str> = std::collections::HashSet::new();
    on_path.insert(name);
    while let Some(&top) = stack.last() {
        let parents: Vec<&'c str> = jobs
            .get(top)
            .map(|j| j.depends_on.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let pending = parents
            .iter()
            .find(|p| !memo.contains_key(*p) && !on_path.contains(*p) && jobs.contains_key(*p));
        match pending {
            Some(p) => {
                on_path.insert(p);
                stack.push(p);
            }
            None => {
                let d = parents
                    .iter()
                    .filter_map(|p| memo.get(p))
                    .map(|d| d + 1)
                    .max()
                    .unwrap_or(0);
                memo.insert(top, d);
                on_path.remove(top);
                stack.pop();
            }
        }
    }
    memo.get(name).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;
mod view;

pub use view::{silence_json, summary_json, view, window_json, View, Viewer};
