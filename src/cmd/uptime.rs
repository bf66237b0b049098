//! `checker uptime [JOB...] [--days N] [--json]`: per job, over the last N days (whole
//! hours, the current one included): uptime (successful results in per cent), incidents
//! (failure streaks begun), total downtime (from a failing result to the next result, an
//! open streak up to now), and mean and p95 response time. Read from the rollups.

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::History;

pub fn run(config: &Config, jobs: &[String], days: u32, json: bool) -> Result<Exit, AppError> {
    if days == 0 {
        return Err(AppError::Usage("--days must be at least 1".into()));
    }
    for j in jobs {
        if config.job(j).is_none() {
            log::warn!("job {j:?} is not in the configuration; showing whatever history it left");
        }
    }
    let now = Utc::now();
    // Configured jobs in configuration order, then any others that left history.
    let names: Vec<String> = if jobs.is_empty() {
        config.jobs.iter().map(|j| j.name.clone()).collect()
    } else {
        jobs.to_vec()
    };
    let figures = History::reader(&config.general).uptime(days, now, &names)?;
    if json {
        super::print_json(&serde_json::json!({ "days": days, "jobs": figures }))?;
        return Ok(Exit::Success);
    }
    let header = [
        "JOB",
        "UPTIME",
        "CHECKS",
        "INCIDENTS",
        "DOWNTIME",
        "MEAN",
        "P95",
    ];
    let rows: Vec<[String; 7]> = figures
        .iter()
        .map(|f| {
            [
                f.job.clone(),
                f.uptime_percent
                    .map(|u| format!("{u:.3}%"))
                    .unwrap_or_else(|| "-".into()),
                f.attempts.to_string(),
                f.incidents.to_string(),
                if f.downtime_ms == 0 {
                    "0".into()
                } else {
                    crate::duration::humanize(chrono::Duration::milliseconds(
                        i64::try_from(f.downtime_ms).unwrap_or(i64::MAX),
                    ))
                },
                f.mean_response_ms
                    .map(|m| format!("{m:.0} ms"))
                    .unwrap_or_else(|| "-".into()),
                f.p95_response_ms
                    .map(|m| format!("{m:.0} ms"))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let print = |cells: Vec<String>| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    println!("last {days} day(s)");
    print(header.iter().map(|s| s.to_string()).collect());
    for r in rows {
        print(r.to_vec());
    }
    if figures.is_empty() {
        println!("(no jobs)");
    }
    Ok(Exit::Success)
}
