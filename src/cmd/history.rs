//! `checker history [--job NAME] [--limit N] [--failures] [--json]`: the event log, newest first.

use crate::config::Config;
use crate::error::AppError;
use crate::history::{History, Query};
use crate::text::printable;

pub fn run(
    config: &Config,
    job: Option<&str>,
    limit: usize,
    failures: bool,
    json: bool,
) -> Result<u8, AppError> {
    if let Some(j) = job {
        // A job removed from the config still has history: only warn-free lookups for
        // configured names; unknown names simply match nothing, unless it looks like a typo.
        if config.job(j).is_none() {
            log::warn!("job {j:?} is not in the configuration; showing whatever history it left");
        }
    }
    let history = History::new(&config.general.history_dir);
    let q = Query {
        job: job.map(str::to_string),
        failures_only: failures,
        since: None,
        limit: Some(limit),
    };
    let (events, bad) = history.read(&q).map_err(|e| {
        AppError::Other(anyhow::anyhow!(
            "reading history in {}: {e}",
            history.dir().display()
        ))
    })?;
    if bad > 0 {
        log::warn!("{bad} unreadable history line(s) skipped (torn writes from a crash)");
    }
    if json {
        super::print_json(&events)?;
        return Ok(0);
    }
    for e in &events {
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
    }
    if events.is_empty() {
        println!("(no events)");
    }
    Ok(0)
}
