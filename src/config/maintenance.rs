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
    let mut seen: Vec<(String, usize)> = Vec::new();
    for r in raw {
        let line = cx.line_of(r);
        let name = r.get_ref().name.as_ref().map(|n| n.get_ref().trim());
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
                cx.at_line(
                    line,
                    format!(
                        "[[maintenance]] {name:?} is defined twice (first at line {first}): names must be unique"
                    ),
                );
                continue;
            }
            seen.push((name.to_string(), line));
        }
        out.extend(resolve_one(cx, r.get_ref(), line));
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

#[cfg(test)]
mod tests {
    use crate::config::{load_checked, LoadOptions};

    /// The problems and warnings of settings ending in `windows`, as `line: message`.
    fn check(windows: &str) -> (Vec<String>, Vec<String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            format!("[general]\nalertcontact = \"a@b.c\"\n{windows}"),
        )
        .expect("settings");
        std::fs::write(
            dir.path().join("jobs/a.toml"),
            "[[job]]\nname = \"web-1\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n",
        )
        .expect("jobs");
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        let show = |p: &crate::config::Problem| format!("{}: {}", p.line, p.message);
        let warnings = config
            .map(|c| c.warnings.iter().map(show).collect())
            .unwrap_or_default();
        (problems.iter().map(show).collect(), warnings)
    }

    #[test]
    fn a_good_window_loads_with_its_zone_days_and_jobs() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(
            dir.path().join("settings.toml"),
            "[general]\nalertcontact = \"a@b.c\"\n\
             [[maintenance]]\nname = \"backup\"\njobs = [\"web-*\", \"db\"]\nstart = \"23:30\"\ndays = [\"sat\", \"sun\"]\nduration = \"3h\"\ntimezone = \"Europe/Berlin\"\n\
             [[maintenance]]\nname = \"patch\"\ncron = \"0 4 1 * *\"\nduration = \"1h\"\n",
        )
        .expect("settings");
        let c = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
        let w = &c.maintenance[0];
        assert_eq!(w.line, 3);
        assert!(w.covers("web-1") && w.covers("db") && !w.covers("dbx"));
        assert_eq!(w.describe_jobs(), "web-*, db");
        assert_eq!(
            w.calendar.describe(),
            "23:30 on sat, sun, for 3h (Europe/Berlin)"
        );
        let p = &c.maintenance[1];
        assert!(p.covers("anything"), "no `jobs`: every job");
        assert_eq!(p.calendar.describe(), "cron \"0 4 1 * *\", for 1h (UTC)");
    }

    #[test]
    fn each_bad_key_of_a_window_is_an_error_at_its_line() {
        let (problems, _) = check(
            "[[maintenance]]\nname = \"a\"\nstart = \"25:00\"\ndays = [\"mon\", \"someday\"]\nduration = \"0s\"\ntimezone = \"Mars/Olympus\"\n\
             [[maintenance]]\nname = \"b\"\ncron = \"* * *\"\nstart = \"01:00\"\nduration = \"40d\"\n\
             [[maintenance]]\nname = \"c\"\njobs = []\ncron = \"0 0 * * *\"\ndays = [\"mon\"]\n\
             [[maintenance]]\nduration = \"1h\"\nstart = \"01:00\"\n\
             [[maintenance]]\nname = \"a\"\nstart = \"01:00\"\nduration = \"1h\"\n\
             [[maintenance]]\nname = \"d\"\nstart = \"01:00\"\nduration = \"1h\"\nevery = \"1d\"\n",
        );
        assert_eq!(
            problems,
            [
                "5: [[maintenance]] \"a\": `start`: \"25:00\" is not a time of day: write \"HH:MM\", 00:00 to 23:59, e.g. \"02:30\"",
                "6: [[maintenance]] \"a\": `days`: \"someday\" is not a day: use mon, tue, wed, thu, fri, sat or sun",
                "7: [[maintenance]] \"a\": `duration` must be more than 0s",
                "8: [[maintenance]] \"a\": `timezone`: \"Mars/Olympus\" is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"",
                "11: [[maintenance]] \"b\" sets both `start` and `cron`: keep one",
                "13: `duration`: duration \"40d\" is too long: at most 31d",
                "14: [[maintenance]] \"c\" needs `duration`, e.g. duration = \"2h\"",
                "16: [[maintenance]] \"c\": `jobs` is empty: leave it out for every job, or list names or globs",
                "18: [[maintenance]] \"c\": `days` goes with `start`; with `cron`, the fifth field says the days",
                "19: [[maintenance]] has no `name`: give each window a name, e.g. name = \"nightly backup\"",
                "22: [[maintenance]] \"a\" is defined twice (first at line 3): names must be unique",
                "30: unknown key `every` in [[maintenance]] (valid keys: `name`, `jobs`, `start`, `days`, `cron`, `duration`, `timezone`)",
            ]
        );
    }

    #[test]
    fn a_window_naming_no_configured_job_is_a_warning_not_an_error() {
        let (problems, warnings) = check(
            "[[maintenance]]\nname = \"x\"\njobs = [\"web-2\", \"db-*\", \"web-?\"]\nstart = \"01:00\"\nduration = \"1h\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            warnings,
            [
                "3: [[maintenance]] \"x\": `jobs` names \"web-2\", which is not a configured job; did you mean \"web-1\"?",
                "3: [[maintenance]] \"x\": `jobs` glob \"db-*\" matches no job",
            ]
        );
    }
}
