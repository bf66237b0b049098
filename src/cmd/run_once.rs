//! `checker run-once [JOB...] [--dry-run] [--json]`: run jobs now. Exit 1 when a check failed.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::check::runner::{run_all, RunnerOptions};
use crate::check::CheckResult;
use crate::config::{Channel, Config, Job, JobKind};
use crate::engine::record::result;
use crate::engine::tick::run as run_jobs;
use crate::engine::{RunOptions, RunReport, Selection};
use crate::error::AppError;
use crate::exit::Exit;
use crate::runtime::Workers;
use crate::state::{JobState, Store};
use crate::text::{printable, printable_lines};

pub fn run(
    config: &Config,
    names: &[String],
    dry_run: bool,
    json: bool,
    nomail: bool,
) -> Result<Exit, AppError> {
    for n in names {
        super::known_job(config, n)?;
    }
    let report = if dry_run {
        // Passive jobs have no check to run: their deadlines are read below.
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
        let rt = crate::runtime::build(Workers::PerCore)?;
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
        let report = run_jobs(
            config,
            Selection::Jobs(names.to_vec()),
            RunOptions { nomail },
        );
        // As a tick does: the status page and the metrics textfile show what this run
        // found now, not after the next tick.
        super::tick::write_outputs(config);
        report?
    };
    // Passive jobs have no check: their deadline is what is checked. A real run merged
    // the missing ones as failures; every other one is said to be in time, so no job
    // asked for goes unmentioned.
    let mut report = report;
    let passive: Vec<&Job> = config
        .jobs
        .iter()
        .filter(|j| !j.kind.runs_a_check())
        .filter(|j| {
            if names.is_empty() {
                j.enabled
            } else {
                names.contains(&j.name)
            }
        })
        .filter(|j| !report.results.iter().any(|r| r.job == j.name))
        .collect();
    if !passive.is_empty() {
        let state = Store::new(&config.general.state_file, config.general.lock_timeout).read()?;
        let now = Utc::now();
        for job in passive {
            let js = state.jobs.get(&job.name).cloned().unwrap_or_default();
            report.results.push(deadline_result(job, &js, now));
        }
    }
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
            let how = match (n.delivered, n.channel == Channel::EMAIL && mail_off) {
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
    Ok(Exit::unhealthy_if(failed))
}

/// What a passive job's deadline looks like at `now`, as a result: missing (a failure, as
/// a run would record it) or in time, with when it would go missing.
fn deadline_result(job: &Job, js: &JobState, now: DateTime<Utc>) -> CheckResult {
    let JobKind::Passive(spec) = &job.kind else {
        return result(job, true, String::new(), 0, None);
    };
    let at = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let last = match js.last_pushed {
        Some(t) => format!(
            "last result {} ago ({})",
            crate::duration::humanize(now - t),
            at(t)
        ),
        None => "no result yet".to_string(),
    };
    if !job.enabled {
        return result(
            job,
            true,
            format!("disabled: no deadline is watched; {last}"),
            0,
            None,
        );
    }
    let Some(every) = spec.expect_every else {
        return result(
            job,
            true,
            format!("no deadline (no expect_every); {last}"),
            0,
            None,
        );
    };
    if let Some(missing) = crate::engine::passive::overdue(spec, js, now) {
        return result(job, false, missing, 0, None);
    }
    let allowed = chrono::Duration::from_std(every.saturating_add(spec.grace))
        .unwrap_or(chrono::Duration::MAX);
    let message = match js.last_pushed.or(js.first_seen) {
        Some(since) => match since.checked_add_signed(allowed) {
            Some(deadline) => format!("deadline met: {last}; missing after {}", at(deadline)),
            None => format!("deadline met: {last}"),
        },
        None => format!(
            "deadline not started: the first real run starts watching it; missing {} after that",
            crate::duration::format(every.saturating_add(spec.grace))
        ),
    };
    result(job, true, message, 0, None)
}
