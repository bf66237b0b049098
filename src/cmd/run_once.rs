//! `checker run-once [JOB...] [--dry-run] [--json]`: run jobs now. Exit 1 when a check failed.

use serde_json::json;

use crate::check::runner::{run_all, RunnerOptions};
use crate::config::{Config, Job};
use crate::error::AppError;
use crate::text::{printable, printable_lines};
use crate::tick::{run as run_jobs, RunError, RunOptions, RunReport, Selection};

pub fn run(
    config: &Config,
    names: &[String],
    dry_run: bool,
    json: bool,
    nomail: bool,
) -> Result<u8, AppError> {
    for n in names {
        super::known_job(config, n)?;
    }
    let report = if dry_run {
        // Passive jobs have no check to run.
        let jobs: Vec<Job> = if names.is_empty() {
            config
                .jobs
                .iter()
                .filter(|j| j.enabled && j.kind.runs_a_check())
                .cloned()
                .collect()
        } else {
            config
                .jobs
                .iter()
                .filter(|j| names.contains(&j.name) && j.kind.runs_a_check())
                .cloned()
                .collect()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(RunError::Runtime)?;
        let opts = RunnerOptions {
            max_concurrency: config.general.max_concurrency,
            deadline: config.general.tick_deadline,
        };
        let results = rt.block_on(run_all(&jobs, &opts));
        let mut report = RunReport::default();
        for (job, r) in jobs.iter().zip(results) {
            match r {
                Some(r) => report.results.push(r),
                None => report.not_started.push(job.name.clone()),
            }
        }
        report
    } else {
        run_jobs(
            config,
            Selection::Jobs(names.to_vec()),
            RunOptions { nomail },
        )?
    };
    let failed = report.results.iter().any(|r| !r.ok) || !report.not_started.is_empty();
    if json {
        let results: Vec<_> = report
            .results
            .iter()
            .map(|r| {
                let mut v = json!({"job": r.job, "ok": r.ok, "message": r.message, "duration_ms": r.duration_ms, "attempts": r.attempts});
                if !r.perfdata.is_empty() {
                    v["perfdata"] = json!(r.perfdata);
                }
                v
            })
            .collect();
        super::print_json(&json!({
            "results": results,
            "notifications": report.notifications,
            "not_started": report.not_started,
            "dry_run": dry_run,
        }))?;
    } else {
        let width = report
            .results
            .iter()
            .map(|r| r.job.chars().count())
            .max()
            .unwrap_or(0);
        for r in &report.results {
            println!(
                "{:<4} {:<width$}  {:>6} ms  {}",
                if r.ok { "ok" } else { "FAIL" },
                printable(&r.job),
                r.duration_ms,
                printable_lines(&r.message)
            );
        }
        for n in &report.not_started {
            println!("SKIP {n:<width$}  not started before the tick deadline");
        }
        let mail_off = !config.email.enabled || nomail;
        for n in &report.notifications {
            let how = match (n.delivered, n.channel == "email" && mail_off) {
                (true, true) => "recorded (email off)",
                (true, false) => "sent",
                (false, _) => "queued",
            };
            println!(
                "{how} {} notification for {} via {}{}",
                n.kind.as_str(),
                printable(&n.job),
                n.channel,
                n.error
                    .as_deref()
                    .map(|e| format!(" (failed: {}; will retry)", printable(e)))
                    .unwrap_or_default()
            );
        }
        if dry_run {
            println!("(dry run: no state changed, nothing sent)");
        }
    }
    Ok(if failed { 1 } else { 0 })
}
