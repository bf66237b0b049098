//! `checker history [--job NAME] [--limit N] [--failures] [--since TIME] [--until TIME]
//! [--follow] [--json]`: the event log, newest first; `--follow` then prints new events as
//! they are recorded, like `tail -f`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::{Event, History, Query};
use crate::text::printable;

/// What `history` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    pub job: Option<&'a str>,
    pub limit: usize,
    pub failures: bool,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub follow: bool,
    pub json: bool,
}

/// A point in time from the command line: RFC 3339 (`2026-03-01T12:00:00Z`), a date
/// (`2026-03-01`, midnight UTC), a date and time in UTC (`2026-03-01 12:00`), or a
/// duration meaning that long ago (`90m`, `2h`, `7d`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(v) = DateTime::parse_from_rfc3339(t) {
        return Ok(v.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(v) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(v.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(v) = d.and_hms_opt(0, 0, 0) {
            return Ok(v.and_utc());
        }
    }
    if let Ok(d) = crate::duration::parse(t) {
        return Ok(chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC));
    }
    Err(format!(
        "{text:?} is not a time: give RFC 3339 (2026-03-01T12:00:00Z), a date (2026-03-01), a UTC date and time (\"2026-03-01 12:00\") or a duration ago (2h, 7d)"
    ))
}

fn print_event(e: &Event, json: bool) -> Result<(), AppError> {
    if json {
        let text = serde_json::to_string(e).map_err(|e| AppError::Other(e.into()))?;
        println!("{text}");
        return Ok(());
    }
    let ok = match e.ok {
        Some(true) => "ok  ",
        Some(false) => "FAIL",
        None => "    ",
    };
    let kind = serde_json::to_value(e.event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    println!(
        "{}  {:<7} {} {}{}{}",
        e.ts.format("%Y-%m-%d %H:%M:%S"),
        kind,
        ok,
        printable(e.job.as_deref().unwrap_or("-")),
        e.channel
            .as_deref()
            .map(|c| format!(" via {}", printable(c)))
            .unwrap_or_default(),
        e.message
            .as_deref()
            .map(|m| format!(": {}", printable(m.lines().next().unwrap_or(""))))
            .unwrap_or_default()
    );
    if let (true, Some(n)) = (e.is_retried_attempt(), e.attempt) {
        println!("{:<28}(attempt {n}, retried)", "");
    }
    Ok(())
}

pub fn run(config: &Config, o: &Options) -> Result<Exit, AppError> {
    if let Some(j) = o.job {
        // A job removed from the config still has history: unknown names simply match
        // nothing, with a warning in case it is a typo.
        if config.job(j).is_none() {
            log::warn!("job {j:?} is not in the configuration; showing whatever history it left");
        }
    }
    let now = Utc::now();
    let time = |flag: &str, v: Option<&str>| -> Result<Option<DateTime<Utc>>, AppError> {
        v.map(|t| parse_time(t, now).map_err(|e| AppError::Usage(format!("{flag}: {e}"))))
            .transpose()
    };
    let q = Query {
        job: o.job.map(str::to_string),
        failures_only: o.failures,
        since: time("--since", o.since)?,
        until: time("--until", o.until)?,
        limit: Some(o.limit),
    };
    let history = History::reader(&config.general);
    if !o.follow {
        let events = history.read(&q)?;
        if o.json {
            super::print_json(&events)?;
            return Ok(Exit::Success);
        }
        for e in &events {
            print_event(e, false)?;
        }
        if events.is_empty() {
            println!("(no events)");
        }
        return Ok(Exit::Success);
    }
    // Following: the last events oldest first, then each new one as it is recorded (JSON:
    // one object per line).
    let (first, mut pos) = history.follow(&q)?;
    for e in first.iter().rev() {
        print_event(e, o.json)?;
    }
    use std::io::Write;
    loop {
        let _ = std::io::stdout().flush();
        std::thread::sleep(std::time::Duration::from_millis(250));
        for e in history.poll(&mut pos)? {
            print_event(&e, o.json)?;
        }
    }
}
