//! What the commands and `serve` show of quiet on purpose: per job, when its silences
//! and windows end, whether its streak is acknowledged and what would hold an alert
//! back; the silences and windows themselves as JSON. Pure: `now` is given.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{open_windows, reasons_in, Reason};
use crate::calendar::Occurrence;
use crate::config::{Config, Job, Maintenance};
use crate::state::{Covers, Silence, State};

/// What `status`, `/status.json` and `/metrics` show of a job's quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct View {
    /// When the silences and windows covering it now end.
    pub silenced_until: Option<DateTime<Utc>>,
    /// Its failure streak is acknowledged.
    pub acknowledged: bool,
    /// Every reason a failure alert would be held back now.
    pub suppressed_by: Vec<String>,
}

impl View {
    pub fn is_quiet(&self) -> bool {
        self.silenced_until.is_some() || self.acknowledged || !self.suppressed_by.is_empty()
    }
}

/// One job's [`View`] at `now`.
pub fn view(config: &Config, state: &State, job: &Job, now: DateTime<Utc>) -> View {
    Viewer::new(config, state, now).view(job)
}

/// Views of many jobs at one time: the windows open then are worked out once.
pub struct Viewer<'a> {
    config: &'a Config,
    state: &'a State,
    now: DateTime<Utc>,
    open: Vec<(&'a Maintenance, Occurrence)>,
}

impl<'a> Viewer<'a> {
    pub fn new(config: &'a Config, state: &'a State, now: DateTime<Utc>) -> Self {
        Viewer {
            config,
            state,
            now,
            open: open_windows(config, now),
        }
    }

    pub fn view(&self, job: &Job) -> View {
        let reasons = reasons_in(self.config, self.state, job, self.now, &self.open);
        // The silences and windows covering it end at the latest of their ends.
        let silenced_until = reasons
            .iter()
            .filter_map(|r| match r {
                Reason::Silence { until, .. } | Reason::Maintenance { until, .. } => Some(*until),
                _ => None,
            })
            .max();
        View {
            silenced_until,
            acknowledged: reasons.contains(&Reason::Acknowledged),
            suppressed_by: reasons.iter().map(Reason::label).collect(),
        }
    }

    /// Whether a silence or a window covers `job` now (`checker_job_silenced`).
    pub fn silenced(&self, job: &str) -> bool {
        self.state
            .silences
            .iter()
            .any(|s| s.is_active(self.now) && s.covers(job))
            || self.open.iter().any(|(w, _)| w.covers(job))
    }
}

/// A silence for scripts: `{"id", "state": "active"|"scheduled", "all", "jobs", "match",
/// "from", "until", "reason", "who", "created"}`.
pub fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    let (all, jobs, glob) = match &s.covers {
        Covers::All => (true, None, None),
        Covers::Jobs(j) => (false, Some(j.clone()), None),
        Covers::Match(g) => (false, None, Some(g.clone())),
    };
    json!({
        "id": s.id,
        "state": if s.from > now { "scheduled" } else { "active" },
        "all": all,
        "jobs": jobs,
        "match": glob,
        "from": s.from,
        "until": s.until,
        "reason": s.reason,
        "who": s.who,
        "created": s.created,
    })
}

/// A maintenance window for scripts: `{"name", "jobs" (null: all), "schedule",
/// "timezone", "active", "start", "end", "next_start", "next_end"}`; `start` and `end`
/// are the open occurrence's (null when closed).
pub fn window_json(w: &Maintenance, now: DateTime<Utc>) -> Value {
    let open = w.calendar.active_at(now);
    let next = w.calendar.next_after(now);
    json!({
        "name": w.name,
        "jobs": w.jobs.as_ref().map(|p| p.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>()),
        "schedule": w.calendar.describe(),
        "timezone": w.calendar.tz.name(),
        "active": open.is_some(),
        "start": open.map(|o| o.start),
        "end": open.map(|o| o.end),
        "next_start": next.map(|o| o.start),
        "next_end": next.map(|o| o.end),
    })
}

/// `/status.json`'s `quiet`: the silences kept (active and scheduled), the windows open
/// now, and each job with something quiet about it.
pub fn summary_json(config: &Config, state: &State, now: DateTime<Utc>) -> Value {
    let silences: Vec<Value> = state
        .silences
        .iter()
        .filter(|s| !s.is_over(now))
        .map(|s| silence_json(s, now))
        .collect();
    let windows: Vec<Value> = config
        .maintenance
        .iter()
        .filter(|w| w.calendar.active_at(now).is_some())
        .map(|w| window_json(w, now))
        .collect();
    let viewer = Viewer::new(config, state, now);
    let jobs: Vec<Value> = config
        .jobs
        .iter()
        .filter(|j| j.enabled)
        .filter_map(|j| {
            let v = viewer.view(j);
            v.is_quiet().then(|| {
                json!({
                    "job": j.name,
                    "silenced_until": v.silenced_until,
                    "acknowledged": v.acknowledged,
                    "suppressed_by": v.suppressed_by,
                })
            })
        })
        .collect();
    json!({ "silences": silences, "maintenance": windows, "jobs": jobs })
}
