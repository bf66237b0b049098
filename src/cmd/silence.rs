//! `checker silence`, `checker silences` and `checker unsilence` (SPEC §10): hold back the
//! failure alerts of some jobs for a while, list what is silenced and when windows open,
//! and end silences. Made for scripts too: `silence` prints only the id (or `--json`),
//! exit 0 when done and 2 on bad input, with nothing written then.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::quiet::{silence_json, window_json};
use crate::engine::silences::{self, Target};
use crate::engine::txn::Ledger;
use crate::error::AppError;
use crate::exit::Exit;
use crate::pattern::NamePattern;
use crate::state::{Covers, Silence, Store};
use crate::text::{printable, truncate};

/// The longest silence: a year and a day, like the longest `every`.
const LONGEST: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);
/// The longest `--reason` kept.
pub const REASON_CAP: usize = 1024;

/// What `silence` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub jobs: &'a [String],
    pub all: bool,
    pub glob: Option<&'a str>,
    pub duration: Option<&'a str>,
    pub until: Option<&'a str>,
    pub from: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub json: bool,
}

pub fn silence(config: &Config, o: &Options) -> Result<Exit, AppError> {
    let now = Utc::now();
    let covers = covers(config, o)?;
    let (from, until) = span(o, now)?;
    let reason = o
        .reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| truncate(r, REASON_CAP));
    let ledger = Ledger::new(config);
    let mut txn = ledger.begin(now)?;
    let dropped = silences::drop_over(&mut txn.state, now);
    txn.events.extend(dropped);
    let s = Silence {
        id: silences::new_id(&txn.state),
        covers,
        from,
        until,
        reason,
        who: super::who(),
        created: now,
    };
    silences::add(&mut txn.state, &mut txn.events, s.clone(), now);
    txn.commit()?;
    if o.json {
        super::print_json(&silence_json(&s, now))?;
    } else {
        println!("{}", s.id);
    }
    Ok(Exit::Success)
}

/// The jobs named must exist, a glob must match one; exactly one way of choosing.
fn covers(config: &Config, o: &Options) -> Result<Covers, AppError> {
    match (o.jobs.is_empty(), o.all, o.glob) {
        (false, false, None) => {
            for name in o.jobs {
                super::known_job(config, name)?;
            }
            let mut jobs: Vec<String> = Vec::new();
            for j in o.jobs {
                if !jobs.contains(j) {
                    jobs.push(j.clone());
                }
            }
            Ok(Covers::Jobs(jobs))
        }
        (true, true, None) => Ok(Covers::All),
        (true, false, Some(glob)) => {
            let p = NamePattern::new(glob).map_err(|e| AppError::Usage(format!("--match: {e}")))?;
            if !config.jobs.iter().any(|j| p.matches(&j.name)) {
                let names: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).take(10).collect();
                return Err(AppError::Usage(format!(
                    "--match {glob:?} matches no job (jobs: {}{}); globs take *, ? and [abc], and match whole names",
                    names.join(", "),
                    if config.jobs.len() > names.len() { ", ..." } else { "" }
                )));
            }
            Ok(Covers::Match(glob.to_string()))
        }
        _ => Err(AppError::Usage(
            "say what to silence: job names, --all, or --match GLOB (one of them), e.g. `checker silence web --for 2h`".into(),
        )),
    }
}

/// From when until when: `--for` or `--until`, from now or `--from`.
fn span(o: &Options, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), AppError> {
    let usage = |m: String| AppError::Usage(m);
    let from = match o.from {
        None => now,
        Some(t) => time("--from", t, now)?.max(now),
    };
    if from > crate::saturating::add_std(now, LONGEST) {
        return Err(usage(format!(
            "--from: at most {} ahead",
            crate::duration::format(LONGEST)
        )));
    }
    let until = match (o.duration, o.until) {
        (Some(d), None) => {
            let d = d.trim();
            if d.starts_with('-') {
                return Err(usage(format!(
                    "--for {d}: a silence cannot last a negative time; give how long, e.g. --for 2h"
                )));
            }
            let d = crate::duration::parse_at_most(d, LONGEST)
                .map_err(|e| usage(format!("--for: {e}")))?;
            if d.is_zero() {
                return Err(usage(
                    "--for: a silence must last more than 0s, e.g. --for 30m".into(),
                ));
            }
            crate::saturating::add_std(from, d)
        }
        (None, Some(t)) => {
            let until = time("--until", t, now)?;
            if until <= now {
                return Err(usage(format!(
                    "--until {t}: that is in the past (it is now {}); give a time to come",
                    now.format("%Y-%m-%d %H:%M:%S UTC")
                )));
            }
            if until <= from {
                return Err(usage(format!(
                    "--until {t} is not after --from: the silence would never start"
                )));
            }
            if until > crate::saturating::add_std(from, LONGEST) {
                return Err(usage(format!(
                    "--until {t}: a silence lasts at most {}",
                    crate::duration::format(LONGEST)
                )));
            }
            until
        }
        _ => {
            return Err(usage(
                "say for how long: --for DURATION (e.g. 2h) or --until TIME (e.g. \"2026-03-01 18:00\", UTC)".into(),
            ))
        }
    };
    Ok((from, until))
}

/// A time on the command line: RFC 3339, a date, or "DATE HH:MM" in UTC. A duration is
/// not one here: it would mean "that long ago" as for `history`.
fn time(flag: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    if crate::duration::parse(text.trim()).is_ok() {
        return Err(AppError::Usage(format!(
            "{flag} {text}: give a time, e.g. \"2026-03-01 18:00\" (UTC) or 2026-03-01T18:00:00+01:00; for a length of time use --for"
        )));
    }
    super::history::parse_time(text, now).map_err(|e| AppError::Usage(format!("{flag}: {e}")))
}

/// `checker silences [--json]`: the silences active and scheduled, then the maintenance
/// windows. Reads the state without its lock.
pub fn list(config: &Config, json: bool) -> Result<Exit, AppError> {
    let now = Utc::now();
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read()?;
    let mut silences: Vec<&Silence> = state.silences.iter().filter(|s| !s.is_over(now)).collect();
    silences.sort_by_key(|s| (s.from, s.until));
    if json {
        let list: Vec<serde_json::Value> = silences.iter().map(|s| silence_json(s, now)).collect();
        let windows: Vec<serde_json::Value> = config
            .maintenance
            .iter()
            .map(|w| window_json(w, now))
            .collect();
        super::print_json(&serde_json::json!({ "silences": list, "maintenance": windows }))?;
        return Ok(Exit::Success);
    }
    if silences.is_empty() {
        println!("no silences");
    } else {
        print_silences(&silences, now);
    }
    if !config.maintenance.is_empty() {
        println!("\nmaintenance windows:");
        for w in &config.maintenance {
            println!("  {}", window_line(w, now));
        }
    }
    Ok(Exit::Success)
}

fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let rel = if t > now {
        format!("in {}", crate::duration::humanize(t - now))
    } else {
        format!("{} ago", crate::duration::humanize(now - t))
    };
    format!("{} ({rel})", t.format("%Y-%m-%d %H:%M UTC"))
}

fn print_silences(silences: &[&Silence], now: DateTime<Utc>) {
    let header = ["ID", "STATE", "JOBS", "FROM", "UNTIL", "BY", "REASON"].map(String::from);
    let rows: Vec<[String; 7]> = silences
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                if s.from > now { "scheduled" } else { "active" }.to_string(),
                printable(&s.describe_covers()).into_owned(),
                when(s.from, now),
                when(s.until, now),
                printable(&s.who).into_owned(),
                printable(s.reason.as_deref().unwrap_or("")).into_owned(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// "nightly: all jobs, 02:30 every day, for 1h (Europe/Berlin): open until ...".
fn window_line(w: &crate::config::Maintenance, now: DateTime<Utc>) -> String {
    let tz = w.calendar.tz;
    let local = |t| crate::calendar::local(t, tz);
    let state = match (w.calendar.active_at(now), w.calendar.next_after(now)) {
        (Some(o), _) => format!("OPEN now, until {}", local(o.end)),
        (None, Some(n)) => format!("next {} to {}", local(n.start), local(n.end)),
        (None, None) => "never opens again".into(),
    };
    format!(
        "{}: {}, {}: {state}",
        printable(&w.name),
        printable(&w.describe_jobs()),
        w.calendar.describe()
    )
}

/// `checker unsilence (ID | JOB | --all) [--json]`.
pub fn unsilence(
    config: &Config,
    target: Option<&str>,
    all: bool,
    json: bool,
) -> Result<Exit, AppError> {
    let now = Utc::now();
    if target.is_none() && !all {
        return Err(AppError::Usage(
            "say what to end: a silence id (see `checker silences`), a job, or --all".into(),
        ));
    }
    let ledger = Ledger::new(config);
    let mut txn = ledger.begin(now)?;
    let dropped = silences::drop_over(&mut txn.state, now);
    txn.events.extend(dropped);
    let target =
        match target {
            None => Target::All,
            Some(t) if txn.state.silences.iter().any(|s| s.id == t) => Target::Id(t),
            Some(t)
                if config.job(t).is_some()
                    || txn.state.silences.iter().any(
                        |s| matches!(&s.covers, Covers::Jobs(j) if j.iter().any(|x| x == t)),
                    ) =>
            {
                Target::Job(t)
            }
            Some(t) if t.starts_with("s-") => Target::Id(t),
            Some(t) => {
                super::known_job(config, t)?;
                Target::Job(t)
            }
        };
    // On an error the transaction is dropped: nothing is written.
    let done = silences::end(&mut txn.state, &mut txn.events, target, &super::who(), now)
        .map_err(AppError::Usage)?;
    txn.commit()?;
    if json {
        let ended: Vec<&str> = done
            .changes
            .iter()
            .filter(|c| c.ended)
            .map(|c| c.id.as_str())
            .collect();
        let narrowed: Vec<&str> = done
            .changes
            .iter()
            .filter(|c| !c.ended)
            .map(|c| c.id.as_str())
            .collect();
        super::print_json(&serde_json::json!({
            "ended": ended,
            "narrowed": narrowed,
            "still_silenced_by": done.still_covered_by,
        }))?;
        return Ok(Exit::Success);
    }
    for c in &done.changes {
        match (c.ended, target) {
            (true, _) => println!("ended {}", c.id),
            (false, Target::Job(job)) => println!("took {} out of {}", printable(job), c.id),
            (false, _) => {}
        }
    }
    if done.changes.is_empty() {
        match target {
            Target::Job(job) => eprintln!("{} is not silenced: nothing to end", printable(job)),
            _ => eprintln!("no silences to end"),
        }
    }
    if let (Target::Job(job), false) = (target, done.still_covered_by.is_empty()) {
        eprintln!(
            "note: {} is still silenced by {} (end it with `checker unsilence ID`)",
            printable(job),
            done.still_covered_by.join(", ")
        );
    }
    Ok(Exit::Success)
}
