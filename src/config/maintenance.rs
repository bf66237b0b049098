//! `[[maintenance]]` in the settings: planned windows during which the failure alerts of
//! some jobs (all, when `jobs` is absent) are held back (SPEC §10). Each has a `name`, a
//! start (`start = "HH:MM"` with optional `days`, or a five-field `cron`), a `duration`
//! and a `timezone` (UTC when absent). The times themselves are `crate::calendar`'s.

use serde::Deserialize;
use toml::Spanned;

use super::context::{FileCtx, S};
use super::problem::Problem;
use crate::calendar::{parse_time_of_day, parse_zone, Calendar, Cron, Days, Starts};
use crate::pattern::NamePattern;

/// One `[[maintenance]]` table, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub name: Option<S<String>>,
    pub jobs: Option<S<Vec<String>>>,
    pub start: Option<S<String>>,
    pub days: Option<S<Vec<String>>>,
    pub cron: Option<S<String>>,
    pub duration: Option<S<String>>,
    pub timezone: Option<S<String>>,
}

/// A maintenance window.
#[derive(Debug, Clone)]
pub struct Maintenance {
    pub name: String,
    /// The jobs it covers, by name or glob; `None`: every job.
    pub jobs: Option<Vec<NamePattern>>,
    pub calendar: Calendar,
    /// The line of its table in the settings file.
    pub line: usize,
}

impl Maintenance {
    pub fn covers(&self, job: &str) -> bool {
        self.jobs
            .as_ref()
            .is_none_or(|p| p.iter().any(|p| p.matches(job)))
    }

    /// "all jobs", or the names and globs as written.
    pub fn describe_jobs(&self) -> String {
        match &self.jobs {
            None => "all jobs".into(),
            Some(p) => p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        }
    }
}

pub(super) fn resolve(cx: &mut FileCtx<'_>, raw: &[Spanned<RawMaintenance>]) -> Vec<Maintenance> {
    let mut out: Vec<Maintenance> = Vec::new();
    for r in raw {
        let line = cx.line_of(r);
        if let Some(m) = resolve_one(cx, r.get_ref(), line) {
            if let Some(first) = out.iter().find(|o| o.name == m.name) {
                cx.at_line(
                    line,
                    format!(
                        "[[maintenance]] {:?} is defined twice (first at line {}): names must be unique",
                        m.name, first.line
                    ),
                );
                continue;
            }
            out.push(m);
        }
    }
    out
}

fn resolve_one(cx: &mut FileCtx<'_>, r: &RawMaintenance, line: usize) -> Option<Maintenance> {
    let Some(name) = r
        .name
        .as_ref()
        .map(|n| n.get_ref().trim().to_string())
        .filter(|n| !n.is_empty())
    else {
        cx.at_line(
            line,
            "[[maintenance]] has no `name`: give each window a name, e.g. name = \"nightly backup\"",
        );
        return None;
    };
    let what = format!("[[maintenance]] {name:?}");
    let before = cx.problems.len();

    let jobs = match &r.jobs {
        None => None,
        Some(list) if list.get_ref().is_empty() => {
            cx.at(
                list.span().start,
                format!(
                    "{what}: `jobs` is empty: leave it out for every job, or list names or globs"
                ),
            );
            None
        }
        Some(list) => {
            let mut patterns = Vec::new();
            for text in list.get_ref() {
                match NamePattern::new(text) {
                    Ok(p) => patterns.push(p),
                    Err(e) => cx.at(list.span().start, format!("{what}: `jobs`: {e}")),
                }
            }
            Some(patterns)
        }
    };

    let starts = match (&r.start, &r.cron) {
        (Some(_), Some(c)) => {
            cx.at(
                c.span().start,
                format!("{what} sets both `start` and `cron`: keep one"),
            );
            None
        }
        (None, None) => {
            cx.at_line(
                line,
                format!("{what} needs `start` (\"HH:MM\", with `days` or every day) or `cron` (five fields, e.g. \"30 2 * * sun\")"),
            );
            None
        }
        (Some(start), None) => {
            let time = parse_time_of_day(start.get_ref())
                .map_err(|e| cx.at(start.span().start, format!("{what}: `start`: {e}")))
                .ok();
            let days = match &r.days {
                None => Some(Days::ALL),
                Some(d) => Days::parse(d.get_ref())
                    .map_err(|e| cx.at(d.span().start, format!("{what}: `days`: {e}")))
                    .ok(),
            };
            time.zip(days).map(|(time, days)| Starts::At { time, days })
        }
        (None, Some(c)) => {
            if let Some(d) = &r.days {
                cx.at(
                    d.span().start,
                    format!("{what}: `days` goes with `start`; with `cron`, the fifth field says the days"),
                );
            }
            Cron::parse(c.get_ref())
                .map_err(|e| cx.at(c.span().start, format!("{what}: `cron`: {e}")))
                .ok()
                .map(Starts::Cron)
        }
    };

    let duration = match &r.duration {
        None => {
            cx.at_line(
                line,
                format!("{what} needs `duration`, e.g. duration = \"2h\""),
            );
            None
        }
        Some(v) => match cx.duration("duration", v) {
            Some(d) if d.is_zero() => {
                cx.at(
                    v.span().start,
                    format!("{what}: `duration` must be more than 0s"),
                );
                None
            }
            Some(d) => chrono::Duration::from_std(d).ok(),
            None => None,
        },
    };

    let tz = match &r.timezone {
        None => Some(chrono_tz::UTC),
        Some(z) => parse_zone(z.get_ref())
            .map_err(|e| cx.at(z.span().start, format!("{what}: `timezone`: {e}")))
            .ok(),
    };

    if cx.problems.len() > before {
        return None;
    }
    Some(Maintenance {
        name,
        jobs,
        calendar: Calendar {
            starts: starts?,
            duration: duration?,
            tz: tz?,
        },
        line,
    })
}

/// What is allowed but probably not meant: a window naming a job that is not configured,
/// or a glob that matches none. Warnings, not errors: removing a job file must not stop
/// every tick. `names` are every job's.
pub(super) fn warnings(
    settings: &std::path::Path,
    windows: &[Maintenance],
    names: &[&str],
) -> Vec<Problem> {
    let mut out = Vec::new();
    for w in windows {
        for p in w.jobs.iter().flatten() {
            if names.iter().any(|n| p.matches(n)) {
                continue;
            }
            let message = if p.is_glob() {
                format!(
                    "[[maintenance]] {:?}: `jobs` glob {:?} matches no job",
                    w.name,
                    p.as_str()
                )
            } else {
                let hint = super::context::nearest(p.as_str(), names)
                    .map(|n| format!("; did you mean {n:?}?"))
                    .unwrap_or_default();
                format!(
                    "[[maintenance]] {:?}: `jobs` names {:?}, which is not a configured job{hint}",
                    w.name,
                    p.as_str()
                )
            };
            out.push(Problem {
                file: settings.to_path_buf(),
                line: w.line,
                message,
            });
        }
    }
    out
}
