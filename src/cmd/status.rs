//! `checker status [--hours N] [--json]`: per job, its state from the state file and its
//! attempts in the window from the history's rollups (plus the raw events of the partial
//! hour at the window's start), so its cost does not grow with the window.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::{Acc, History};
use crate::state::{Heartbeat, JobStatus, State, Store};
use crate::text::printable;

#[derive(Debug, Serialize)]
struct JobRow {
    job: String,
    kind: String,
    state: &'static str,
    consecutive_failures: u32,
    total_attempts: u64,
    successful: u64,
    failed: u64,
    success_rate: Option<f64>,
    total_count: u64,
    last_success: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
    last_error: Option<String>,
    recent: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    perfdata: Vec<crate::check::PerfDatum>,
    /// Quiet on purpose (SPEC §10): `silenced_until`, `acknowledged`, `suppressed_by`.
    #[serde(flatten)]
    quiet: crate::engine::quiet::View,
    /// Jobs with `confirm_with` only (SPEC §12): the places counted as seeing the current
    /// failure, the others, and the decision in words (empty and `null` while passing).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    confirmation: Option<ConfirmationCols>,
}

#[derive(Debug, Serialize)]
struct ConfirmationCols {
    confirmed_by: Vec<String>,
    not_confirmed_by: Vec<String>,
    confirmation: Option<String>,
    confirmation_at: Option<DateTime<Utc>>,
}

/// A job's confirmation columns: the last decision while it fails.
fn confirmation_cols(
    job: &crate::config::Job,
    js: &crate::state::JobState,
) -> Option<ConfirmationCols> {
    job.confirm.as_ref()?;
    let c = js
        .confirmation
        .as_ref()
        .filter(|_| js.status == JobStatus::Failing);
    let names = |v: Vec<&str>| v.into_iter().map(String::from).collect();
    Some(ConfirmationCols {
        confirmed_by: c.map(|c| names(c.confirmed_by())).unwrap_or_default(),
        not_confirmed_by: c.map(|c| names(c.not_confirmed_by())).unwrap_or_default(),
        confirmation: c.map(|c| crate::quorum::decide::describe(c, None)),
        confirmation_at: c.map(|c| c.at),
    })
}

pub fn run(config: &Config, hours: u32, json: bool) -> Result<Exit, AppError> {
    let now = Utc::now();
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read()?;
    let since = now
        .checked_sub_signed(chrono::Duration::hours(i64::from(hours)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let windows = History::reader(&config.general).window(since, now)?;
    let empty = Acc::default();
    let quiet = crate::engine::quiet::Viewer::new(config, &state, now);
    let rows: Vec<JobRow> = config
        .jobs
        .iter()
        .map(|j| {
            let js = state.jobs.get(&j.name).cloned().unwrap_or_default();
            let w = windows.get(j.name.as_str()).unwrap_or(&empty);
            JobRow {
                job: j.name.clone(),
                kind: j.kind.name().to_string(),
                state: if !j.enabled {
                    "disabled"
                } else {
                    match js.status {
                        JobStatus::Pending => "pending",
                        JobStatus::Ok => "ok",
                        JobStatus::Failing => "failing",
                    }
                },
                consecutive_failures: js.consecutive_failures,
                total_attempts: w.attempts,
                successful: w.successes,
                failed: w.failures(),
                success_rate: (w.attempts > 0)
                    .then(|| (w.successes as f64 * 1000.0 / w.attempts as f64).round() / 10.0),
                total_count: w.count_sum,
                last_success: js.last_success,
                last_attempt: js.last_run,
                last_error: if js.status == JobStatus::Failing {
                    js.last_error.clone()
                } else {
                    None
                },
                recent: js.recent.clone(),
                perfdata: js.perfdata.clone(),
                quiet: quiet.view(j),
                confirmation: confirmation_cols(j, &js),
            }
        })
        .collect();
    let mut rows = rows;
    rows.extend(config_error_rows(config, &state, |job| {
        let w = windows.get(job).unwrap_or(&empty);
        (w.attempts, w.successes, w.count_sum)
    }));
    if json {
        let mail = serde_json::json!({
            "enabled": config.email.enabled,
            "ok": state.mail.ok,
            "checked_at": state.mail.checked_at,
            "last_error": state.mail.last_error,
            "last_self_check": state.mail.last_self_check,
        });
        let problems: Vec<serde_json::Value> = config
            .problems
            .iter()
            .map(|p| serde_json::json!({ "file": p.file, "line": p.line, "message": p.message }))
            .collect();
        super::print_json(&serde_json::json!({
            "window_hours": hours,
            "problems": problems,
            "jobs": rows,
            "mail": mail,
            "last_tick": last_tick_json(&state.heartbeat),
            "outbox": outbox_json(&state, now),
            "silences": state
                .silences
                .iter()
                .filter(|s| !s.is_over(now))
                .map(|s| crate::engine::quiet::silence_json(s, now))
                .collect::<Vec<_>>(),
        }))?;
        return Ok(Exit::Success);
    }
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    print_problems(config);
    print_table(&rows, hours, now, colour);
    print_quiet(&rows, now);
    print_confirmations(&rows, now);
    let mail = &state.mail;
    let line = match (config.email.enabled, mail.ok) {
        (false, _) => "mail: off (alerts are recorded, not sent)".to_string(),
        (true, None) => "mail: not checked yet".to_string(),
        (true, Some(true)) => format!("mail: ok (checked {})", ago(mail.checked_at, now)),
        (true, Some(false)) => format!(
            "mail: FAILING (checked {}): {}",
            ago(mail.checked_at, now),
            printable(mail.last_error.as_deref().unwrap_or("unknown error"))
        ),
    };
    println!("\n{line}");
    println!("{}", last_tick_line(&state.heartbeat, now));
    for line in outbox_lines(&state, now) {
        println!("{line}");
    }
    Ok(Exit::Success)
}

/// `status --json`'s `last_tick`: which tick ran last, when it started and finished, and
/// whether it ended in error; `null` before the first tick.
fn last_tick_json(hb: &Heartbeat) -> serde_json::Value {
    let Some(started) = hb.last_tick_started else {
        return serde_json::Value::Null;
    };
    let finished = hb.last_tick_finished.filter(|f| *f >= started);
    serde_json::json!({
        "tick": hb.last_tick,
        "started": started,
        "finished": finished,
        "duration_ms": finished.map(|f| (f - started).num_milliseconds()),
        "error": hb.last_tick_error,
    })
}

/// "last tick: minute, started 2026-03-01 12:00:01 UTC (25s ago), took 1s": cron can be
/// seen to work (or not).
fn last_tick_line(hb: &Heartbeat, now: DateTime<Utc>) -> String {
    let Some(started) = hb.last_tick_started else {
        return "last tick: none yet (is cron running `checker -c minute`?)".into();
    };
    let which = hb.last_tick.as_deref().unwrap_or("unknown");
    let when = format!(
        "started {} ({})",
        started.format("%Y-%m-%d %H:%M:%S UTC"),
        ago(Some(started), now)
    );
    match hb.last_tick_finished.filter(|f| *f >= started) {
        None => format!("last tick: {which}, {when}, not finished (running, or cut short)"),
        Some(finished) => {
            let took = (finished - started).to_std().unwrap_or_default();
            let error = hb
                .last_tick_error
                .as_deref()
                .map(|e| format!(", ended in error: {}", printable(e)))
                .unwrap_or_default();
            format!(
                "last tick: {which}, {when}, took {}{error}",
                crate::check::http::human(took)
            )
        }
    }
}

/// `status --json`'s `outbox`: per channel, the alerts queued, the oldest one's time and
/// age, and the last delivery error.
fn outbox_json(state: &State, now: DateTime<Utc>) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = crate::engine::outbox::queues(state)
        .into_iter()
        .map(|(channel, q)| {
            (
                channel,
                serde_json::json!({
                    "queued": q.queued,
                    "oldest": q.oldest,
                    "oldest_age_seconds": (now - q.oldest).num_seconds().max(0),
                    "last_error": q.last_error,
                    "last_error_at": q.last_error_at,
                }),
            )
        })
        .collect();
    serde_json::Value::Object(map)
}

/// "outbox: empty", or a line per channel with queued alerts.
fn outbox_lines(state: &State, now: DateTime<Utc>) -> Vec<String> {
    let queues = crate::engine::outbox::queues(state);
    if queues.is_empty() {
        return vec!["outbox: empty (no alert waiting for delivery)".into()];
    }
    let width = queues.keys().map(|c| c.chars().count()).max().unwrap_or(0);
    let mut out = vec!["outbox (alerts waiting for delivery):".to_string()];
    for (channel, q) in queues {
        let error = q
            .last_error
            .as_deref()
            .map(|e| {
                format!(
                    "; last error: {}",
                    printable(&crate::text::truncate(e.lines().next().unwrap_or(""), 120))
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "  {:<width$}  {} queued, oldest {} ({}){error}",
            printable(&channel),
            q.queued,
            ago(Some(q.oldest), now),
            q.oldest.format("%Y-%m-%d %H:%M:%S UTC"),
        ));
    }
    out
}

/// The state shown for a job of a job file that cannot be loaded.
pub const CONFIG_ERROR: &str = "config error";

/// The jobs the state still holds from job files that cannot be loaded: not checked until
/// their file is fixed, shown with their last state as `config error`. `window` gives a
/// job's attempts, successes and summed count in the window.
fn config_error_rows(
    config: &Config,
    state: &crate::state::State,
    window: impl Fn(&str) -> (u64, u64, u64),
) -> Vec<JobRow> {
    if config.problems.is_empty() {
        return Vec::new();
    }
    let configured = config.jobs_by_name();
    state
        .jobs
        .iter()
        .filter(|(name, js)| {
            !configured.contains_key(name.as_str())
                && crate::engine::tick::in_broken_file(config, js)
        })
        .map(|(name, js)| {
            let (attempts, ok, count) = window(name);
            JobRow {
                job: name.clone(),
                kind: "unknown".into(),
                state: CONFIG_ERROR,
                consecutive_failures: js.consecutive_failures,
                total_attempts: attempts,
                successful: ok,
                failed: attempts.saturating_sub(ok),
                success_rate: (attempts > 0)
                    .then(|| (ok as f64 * 1000.0 / attempts as f64).round() / 10.0),
                total_count: count,
                last_success: js.last_success,
                last_attempt: js.last_run,
                last_error: js
                    .source
                    .as_ref()
                    .map(|f| format!("not checked: its job file {} cannot be loaded", f.display())),
                recent: js.recent.clone(),
                perfdata: js.perfdata.clone(),
                quiet: Default::default(),
                confirmation: None,
            }
        })
        .collect()
}

/// After the table, the jobs kept quiet on purpose and why (SPEC §10).
fn print_quiet(rows: &[JobRow], now: DateTime<Utc>) {
    let quiet: Vec<&JobRow> = rows.iter().filter(|r| r.quiet.is_quiet()).collect();
    if quiet.is_empty() {
        return;
    }
    println!("\nquiet on purpose (failure alerts held back; checks still run):");
    for r in quiet {
        let mut parts: Vec<String> = Vec::new();
        if let Some(until) = r.quiet.silenced_until {
            parts.push(format!(
                "silenced until {} (in {})",
                until.format("%Y-%m-%d %H:%M UTC"),
                crate::duration::humanize(until - now)
            ));
        }
        if r.quiet.acknowledged {
            parts.push("acknowledged".into());
        }
        let others: Vec<&str> = r
            .quiet
            .suppressed_by
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "acknowledged")
            .collect();
        if !others.is_empty() {
            parts.push(format!("suppressed by {}", others.join(", ")));
        }
        println!("  {}: {}", printable(&r.job), printable(&parts.join("; ")));
    }
}

/// Problems first: the job files that cannot be loaded, before the table.
fn print_problems(config: &Config) {
    if config.problems.is_empty() {
        return;
    }
    println!(
        "CONFIGURATION PROBLEMS: {} job file(s) cannot be loaded; their jobs are not checked until fixed (`checker validate` says more):",
        config.broken_files().len()
    );
    for p in &config.problems {
        println!("  {}", printable(&p.to_string()));
    }
    println!();
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "never".into(),
        Some(t) => format!("{} ago", crate::duration::humanize(now - t)),
    }
}

/// Below the table, each failing job with `confirm_with`: which places see it.
fn print_confirmations(rows: &[JobRow], now: DateTime<Utc>) {
    let lines: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let c = r.confirmation.as_ref()?;
            let words = c.confirmation.as_deref()?;
            Some(format!(
                "  {}: {} ({})",
                printable(&r.job),
                printable(words),
                ago(c.confirmation_at, now)
            ))
        })
        .collect();
    if !lines.is_empty() {
        println!("\nconfirmation from other places:");
        for line in lines {
            println!("{line}");
        }
    }
}

fn print_table(rows: &[JobRow], hours: u32, now: DateTime<Utc>, colour: bool) {
    let header = [
        "JOB",
        "KIND",
        "STATE",
        "FAILS",
        "LAST SUCCESS",
        "LAST ATTEMPT",
        &format!("{hours}h OK/ALL"),
        "RECENT",
        "LAST ERROR",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                printable(&r.job).into_owned(),
                r.kind.clone(),
                r.state.to_string(),
                r.consecutive_failures.to_string(),
                ago(r.last_success, now),
                ago(r.last_attempt, now),
                match r.success_rate {
                    Some(rate) => format!("{}/{} ({rate}%)", r.successful, r.total_attempts),
                    None => "-".into(),
                },
                r.recent.clone(),
                r.last_error
                    .as_deref()
                    .map(|e| {
                        printable(&crate::text::truncate(e.lines().next().unwrap_or(""), 60))
                            .into_owned()
                    })
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            widths[i] = widths[i].max(v.chars().count());
        }
    }
    let line = |vals: &[String], paint: Option<&str>| {
        let mut out = String::new();
        for (i, v) in vals.iter().enumerate() {
            let pad = widths[i].saturating_sub(v.chars().count());
            let text = match (i, paint) {
                (2, Some(code)) => format!("\x1b[{code}m{v}\x1b[0m"),
                _ => v.clone(),
            };
            if i + 1 == vals.len() {
                out.push_str(&text);
            } else {
                out.push_str(&text);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(
        &header.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        None,
    );
    for (row, c) in rows.iter().zip(&cells) {
        let paint = colour.then_some(match row.state {
            "ok" => "32",
            "failing" | CONFIG_ERROR => "31",
            "pending" => "33",
            _ => "2",
        });
        line(c, paint);
    }
    if rows.is_empty() {
        println!("(no jobs configured)");
    }
}
