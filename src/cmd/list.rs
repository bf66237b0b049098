//! `checker list [--json]`: jobs with kind, target, schedule and rules (confirmation
//! from other places included).

use serde_json::json;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;

pub fn run(config: &Config, json: bool) -> Result<Exit, AppError> {
    if json {
        let jobs: Vec<_> = config
            .jobs
            .iter()
            .map(|j| {
                json!({
                    "job": j.name,
                    "kind": j.kind.name(),
                    "target": j.target(),
                    "schedule": j.schedule.describe(),
                    "enabled": j.enabled,
                    "notify_every": j.rules.notify_every.as_str(),
                    "failures_before_notify": j.rules.failures_before_notify,
                    "failing_for": j.rules.failing_for.map(crate::duration::format),
                    "notify_recovery": j.rules.notify_recovery,
                    "notify": j.notify,
                    "timeout": crate::duration::format(j.timeout),
                    "retries": j.retries,
                    "source": j.source.to_string(),
                    "confirm": j.confirm.as_ref().map(|c| json!({
                        "with": c.with,
                        "min": c.min,
                        "job": c.job,
                        "unknown": c.unknown.as_str(),
                    })),
                })
            })
            .collect();
        super::print_json(&json!({ "jobs": jobs }))?;
        return Ok(Exit::Success);
    }
    let rows: Vec<[String; 6]> = config
        .jobs
        .iter()
        .map(|j| {
            let mut rules = format!(
                "{} after {}",
                j.rules.notify_every.as_str(),
                j.rules.failures_before_notify
            );
            if let Some(f) = j.rules.failing_for {
                rules.push_str(&format!(", failing for {}", crate::duration::format(f)));
            }
            if let Some(c) = &j.confirm {
                rules.push_str(&format!(
                    ", seen by {} of {} places (with {})",
                    c.min,
                    c.places(),
                    c.with.join(", ")
                ));
            }
            [
                j.name.clone(),
                j.kind.name().to_string(),
                crate::text::truncate(&j.target(), 50),
                if j.enabled {
                    j.schedule.describe()
                } else {
                    "disabled".into()
                },
                rules,
                j.notify.join(","),
            ]
        })
        .collect();
    print_rows(
        &[
            "JOB",
            "KIND",
            "TARGET",
            "SCHEDULE",
            "NOTIFY RULE",
            "CHANNELS",
        ],
        &rows,
    );
    Ok(Exit::Success)
}

pub fn print_rows<const N: usize>(header: &[&str; N], rows: &[[String; N]]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            widths[i] = widths[i].max(v.chars().count());
        }
    }
    let print = |vals: Vec<&str>| {
        let mut out = String::new();
        for (i, v) in vals.iter().enumerate() {
            out.push_str(v);
            out.push_str(&" ".repeat(widths[i].saturating_sub(v.chars().count()) + 2));
        }
        println!("{}", out.trim_end());
    };
    print(header.to_vec());
    for r in rows {
        print(r.iter().map(String::as_str).collect());
    }
}
