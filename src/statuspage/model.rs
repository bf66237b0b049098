//! What the status page shows, decided from the configuration, the state, the history's
//! series and `now`: pure, so tests drive it with any clock and any data. `html` draws it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::{Config, Job};
use crate::history::{DayFigures, FailureNote, HourFigures, Series};
use crate::state::{Covers, JobStatus, State};

/// Daily bars, and the days the 90-day figure covers.
pub const DAYS: u32 = 90;
/// Days of past incidents listed.
pub const INCIDENT_DAYS: i64 = 14;
/// Above this many jobs on the page, each group draws one row of bars for all its jobs
/// (a day's results summed over them) instead of a row per job: 90 bars with a tooltip
/// each take about 5 KB a job.
pub const BARS_PER_JOB_UP_TO: usize = 100;
/// Jobs listed per day of past incidents; the rest are counted.
pub const INCIDENTS_PER_DAY: usize = 20;
/// A page built while the last tick finished longer ago than this says so.
pub const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(10);

const DAY_MS: i64 = 86_400_000;

/// The page as a whole.
#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    pub now: DateTime<Utc>,
    pub overall: Overall,
    /// How long ago the last tick finished, when that is longer than [`STALE_AFTER`].
    pub stale: Option<chrono::Duration>,
    pub groups: Vec<Group>,
    /// Whether each job has its own row of bars (else each group has one).
    pub bars_per_job: bool,
    /// The days of the bars, oldest first (days since the epoch, UTC).
    pub days: Vec<i64>,
    pub open: Vec<OpenIncident>,
    /// The last [`INCIDENT_DAYS`] days, newest first.
    pub past: Vec<PastDay>,
    pub quiet: Vec<Quiet>,
}

/// The banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overall {
    /// No job has a result yet.
    NoData,
    Operational,
    /// Some jobs are failing (at most half of those with a result).
    Degraded {
        failing: usize,
        of: usize,
    },
    /// More than half of the jobs with a result are failing.
    Outage {
        failing: usize,
        of: usize,
    },
}

impl Overall {
    pub fn of(jobs: &[&JobView]) -> Overall {
        let known = jobs.iter().filter(|j| j.state != Health::Pending).count();
        let failing = jobs.iter().filter(|j| j.state == Health::Failing).count();
        if known == 0 {
            Overall::NoData
        } else if failing == 0 {
            Overall::Operational
        } else if failing * 2 > known {
            Overall::Outage { failing, of: known }
        } else {
            Overall::Degraded { failing, of: known }
        }
    }
}

/// A job's current state, in words and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Pending,
    Operational,
    Failing,
}

impl Health {
    pub fn word(self) -> &'static str {
        match self {
            Health::Pending => "No data yet",
            Health::Operational => "Operational",
            Health::Failing => "Failing",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    /// `None`: the jobs without a `group`.
    pub name: Option<String>,
    pub jobs: Vec<JobView>,
    /// The group's own bars (its jobs' results summed per day), when jobs have none.
    pub bars: Vec<DayFigures>,
}

#[derive(Debug, Clone)]
pub struct JobView {
    pub name: String,
    pub state: Health,
    /// A silence or maintenance window holding its alerts back, in words.
    pub quiet: Option<String>,
    /// Uptime in per cent over 24 hours, 7, 30 and 90 days (`None`: no results).
    pub uptime: [Option<f64>; 4],
    /// Mean response time per hour over the last 24 hours, oldest first.
    pub spark: Vec<Option<f64>>,
    /// One per day of `Page::days`, when jobs have their own bars.
    pub bars: Vec<DayFigures>,
}

#[derive(Debug, Clone)]
pub struct OpenIncident {
    pub job: String,
    pub since: Option<DateTime<Utc>>,
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PastDay {
    pub day: i64,
    pub entries: Vec<PastEntry>,
    /// Jobs with incidents that day beyond those listed.
    pub more: usize,
}

#[derive(Debug, Clone)]
pub struct PastEntry {
    pub job: String,
    pub incidents: u64,
    pub down_ms: u64,
    pub failures: u64,
    pub note: Option<FailureNote>,
}

/// An active silence or maintenance window (SPEC §10).
#[derive(Debug, Clone, PartialEq)]
pub struct Quiet {
    /// "Maintenance" or "Silence", and its name or reason.
    pub what: String,
    /// The jobs on the page it covers; `None`: all of them.
    pub jobs: Option<Vec<String>>,
    pub until: Option<DateTime<Utc>>,
}

/// The silences and maintenance windows in force at `now` that cover jobs on the page. A
/// silence's reason is not shown (it is written for the team, not for the page's public);
/// a window's name is.
pub fn quiet(config: &Config, state: &State, now: DateTime<Utc>) -> Vec<Quiet> {
    let shown = public_jobs(config);
    let covered = |covers: &dyn Fn(&str) -> bool| -> Vec<String> {
        shown
            .iter()
            .filter(|j| covers(&j.name))
            .map(|j| j.name.clone())
            .collect()
    };
    let mut out = Vec::new();
    for s in state.silences.iter().filter(|s| s.is_active(now)) {
        let jobs = covered(&|n| s.covers(n));
        if !jobs.is_empty() {
            out.push(Quiet {
                what: "Silenced".into(),
                jobs: (!matches!(s.covers, Covers::All)).then_some(jobs),
                until: Some(s.until),
            });
        }
    }
    for (w, o) in crate::engine::quiet::open_windows(config, now) {
        let jobs = covered(&|n| w.covers(n));
        if !jobs.is_empty() {
            out.push(Quiet {
                what: format!("Maintenance: {}", w.name),
                jobs: w.jobs.is_some().then_some(jobs),
                until: Some(o.end),
            });
        }
    }
    out
}

/// The jobs the page shows, in configuration order: enabled and public.
pub fn public_jobs(config: &Config) -> Vec<&Job> {
    config
        .jobs
        .iter()
        .filter(|j| j.enabled && config.status_page.shows(&j.name, j.public))
        .collect()
}

/// The day number (since the epoch, UTC) of a time.
pub fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(DAY_MS)
}

/// Everything the page needs that is not in the history.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub state: &'a State,
    pub series: &'a Series,
    pub quiet: Vec<Quiet>,
    pub now: DateTime<Utc>,
}

/// The (job, day) pairs of past incidents worth a look in the events for their message:
/// those the page lists.
pub fn wanted_notes(page: &Page) -> Vec<(String, i64)> {
    page.past
        .iter()
        .flat_map(|d| d.entries.iter().map(move |e| (e.job.clone(), d.day)))
        .collect()
}

/// Builds the page (past incidents without their notes: see [`add_notes`]).
pub fn build(i: &Inputs<'_>) -> Page {
    let jobs = public_jobs(i.config);
    let today = day_of(i.now);
    let days: Vec<i64> = (today - i64::from(DAYS) + 1..=today).collect();
    let bars_per_job = jobs.len() <= BARS_PER_JOB_UP_TO;
    let pending = crate::state::JobState::default();

    let mut groups: Vec<Group> = Vec::new();
    let mut open = Vec::new();
    let mut past: HashMap<i64, Vec<PastEntry>> = HashMap::new();
    for job in &jobs {
        let js = i.state.jobs.get(&job.name).unwrap_or(&pending);
        let s = i.series.jobs.get(&job.name);
        let state = match js.status {
            JobStatus::Pending => Health::Pending,
            JobStatus::Ok => Health::Operational,
            JobStatus::Failing => Health::Failing,
        };
        if state == Health::Failing {
            open.push(OpenIncident {
                job: job.name.clone(),
                since: js.first_failure,
                message: js.last_error.clone().or_else(|| js.last_message.clone()),
            });
        }
        let figures: &[DayFigures] = s.map(|s| s.days.as_slice()).unwrap_or_default();
        let first_day = i.series.first_day;
        let day = |d: i64| {
            usize::try_from(d - first_day)
                .ok()
                .and_then(|at| figures.get(at))
                .copied()
                .unwrap_or_default()
        };
        let window = |n: i64| {
            let mut a = DayFigures::default();
            for d in today - n + 1..=today {
                a.add(&day(d));
            }
            a.percent()
        };
        let hours: &[HourFigures] = s.map(|s| s.hours.as_slice()).unwrap_or_default();
        let last24 = hours.iter().fold(DayFigures::default(), |mut a, h| {
            a.add(&DayFigures {
                attempts: h.attempts,
                successes: h.successes,
                ..DayFigures::default()
            });
            a
        });
        let spark = (0..24)
            .map(|h| hours.get(h).and_then(HourFigures::mean_ms))
            .collect();
        for d in today - INCIDENT_DAYS + 1..=today {
            let a = day(d);
            if a.incidents > 0 || a.down_ms > 0 || a.failures() > 0 {
                past.entry(d).or_default().push(PastEntry {
                    job: job.name.clone(),
                    incidents: a.incidents,
                    down_ms: a.down_ms,
                    failures: a.failures(),
                    note: None,
                });
            }
        }
        let quiet = i
            .quiet
            .iter()
            .find(|q| q.jobs.as_ref().is_none_or(|js| js.contains(&job.name)))
            .map(|q| q.what.clone());
        let view = JobView {
            name: job.name.clone(),
            state,
            quiet,
            uptime: [
                last24.percent(),
                window(7),
                window(30),
                window(i64::from(DAYS)),
            ],
            spark,
            bars: if bars_per_job {
                days.iter().map(|&d| day(d)).collect()
            } else {
                Vec::new()
            },
        };
        let at = match groups.iter().position(|g| g.name == job.group) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    name: job.group.clone(),
                    jobs: Vec::new(),
                    bars: if bars_per_job {
                        Vec::new()
                    } else {
                        vec![DayFigures::default(); days.len()]
                    },
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[at];
        if !bars_per_job {
            for (bar, d) in g.bars.iter_mut().zip(&days) {
                bar.add(&day(*d));
            }
        }
        g.jobs.push(view);
    }
    // The jobs without a group last, under "Other", when there are groups.
    if let Some(at) = groups.iter().position(|g| g.name.is_none()) {
        let other = groups.remove(at);
        groups.push(other);
    }
    open.sort_by_key(|o| o.since);
    let all: Vec<&JobView> = groups.iter().flat_map(|g| g.jobs.iter()).collect();
    let overall = Overall::of(&all);
    let stale = i
        .state
        .heartbeat
        .last_tick_finished
        .map(|t| i.now.signed_duration_since(t))
        .filter(|age| *age > STALE_AFTER);
    let past = (0..INCIDENT_DAYS)
        .map(|back| {
            let day = today - back;
            let mut entries = past.remove(&day).unwrap_or_default();
            // The worst first: longest down, then most failures.
            entries.sort_by(|a, b| {
                b.down_ms
                    .cmp(&a.down_ms)
                    .then(b.failures.cmp(&a.failures))
                    .then(a.job.cmp(&b.job))
            });
            let more = entries.len().saturating_sub(INCIDENTS_PER_DAY);
            entries.truncate(INCIDENTS_PER_DAY);
            PastDay { day, entries, more }
        })
        .collect();
    Page {
        title: i.config.status_page.title.clone(),
        now: i.now,
        overall,
        stale,
        groups,
        bars_per_job,
        days,
        open,
        past,
        quiet: i.quiet.clone(),
    }
}

/// Adds the last failure message of each listed past incident.
pub fn add_notes(page: &mut Page, notes: &HashMap<(String, i64), FailureNote>) {
    for d in &mut page.past {
        for e in &mut d.entries {
            e.note = notes.get(&(e.job.clone(), d.day)).cloned();
        }
    }
}
