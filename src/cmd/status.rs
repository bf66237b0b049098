//! `checker status [--hours N] [--json]`: per job, its state from the state file and its
//! attempts in the window from the history's rollups (plus the raw events of the partial
//! hour at the window's start), so its cost does not grow with the window.

use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::error::AppError;
use crate::history::{Acc, History};
use crate::state::{JobStatus, Store};
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
}

pub fn run(config: &Config, hours: u32, json: bool) -> Result<u8, AppError> {
    let now = Utc::now();
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read()?;
    let since = now
        .checked_sub_signed(chrono::Duration::hours(i64::from(hours)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let windows = History::reader(&config.general).window(since, now)?;
    let empty = Acc::default();
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
            }
        })
        .collect();
    if json {
        let mail = serde_json::json!({
            "enabled": config.email.enabled,
            "ok": state.mail.ok,
            "checked_at": state.mail.checked_at,
            "last_error": state.mail.last_error,
            "last_self_check": state.mail.last_self_check,
        });
        super::print_json(
            &serde_json::json!({ "window_hours": hours, "jobs": rows, "mail": mail }),
        )?;
        return Ok(0);
    }
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    print_table(&rows, hours, now, colour);
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
    Ok(0)
}

fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "never".into(),
        Some(t) => format!("{} ago", crate::duration::humanize(now - t)),
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
                        printable(&crate::check::truncate(e.lines().next().unwrap_or(""), 60))
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
            "failing" => "31",
            "pending" => "33",
            _ => "2",
        });
        line(c, paint);
    }
    if rows.is_empty() {
        println!("(no jobs configured)");
    }
}
