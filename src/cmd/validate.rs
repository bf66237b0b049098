//! `checker validate`: load everything, report every problem with file and line (exit 2),
//! otherwise print what runs when.

use std::path::Path;

use crate::config::{self, Frequency};
use crate::error::AppError;
use crate::schedule::Schedule;

pub fn run(path: &Path) -> Result<u8, AppError> {
    let config = config::load(path)?;
    // Loading checks templates without rendering them; here each renders sample alerts
    // within its bounds, so a template that can only fail is found before an alert.
    let problems: Vec<config::Problem> = config
        .templates()
        .into_iter()
        .filter_map(|t| {
            t.check_samples().err().map(|e| config::Problem {
                file: config.path.clone(),
                line: t.line,
                message: format!("{} `{}`: {e}", t.table, t.key),
            })
        })
        .collect();
    if !problems.is_empty() {
        return Err(config::ConfigError { problems }.into());
    }
    println!(
        "{}: OK ({} job(s), {} channel(s))",
        path.display(),
        config.jobs.len(),
        config.channel_names().len()
    );
    for w in &config.warnings {
        println!("  warning: {w}");
    }
    let when = |f: Frequency| match f {
        Frequency::Minute => "every minute (minute, hour, day and day_noon ticks)",
        Frequency::Hour => "every hour (hour, day and day_noon ticks)",
        Frequency::Day => "daily at midnight (day tick)",
        Frequency::DayNoon => "daily at noon (day_noon tick)",
    };
    for f in [
        Frequency::Minute,
        Frequency::Hour,
        Frequency::Day,
        Frequency::DayNoon,
    ] {
        let names: Vec<&str> = config
            .jobs
            .iter()
            .filter(|j| j.enabled && j.schedule == Schedule::Tick(f))
            .map(|j| j.name.as_str())
            .collect();
        if !names.is_empty() {
            println!("  {}: {}", when(f), names.join(", "));
        }
    }
    for j in config.jobs.iter().filter(|j| j.enabled) {
        if let Schedule::Every(_) = j.schedule {
            println!(
                "  {} on the first tick after the interval: {}",
                j.schedule.describe(),
                j.name
            );
        }
    }
    let disabled: Vec<&str> = config
        .jobs
        .iter()
        .filter(|j| !j.enabled)
        .map(|j| j.name.as_str())
        .collect();
    if !disabled.is_empty() {
        println!("  disabled: {}", disabled.join(", "));
    }
    match (config.email.enabled, config.email.self_check) {
        (false, _) => println!("  email: off (alerts are recorded, not sent)"),
        (true, None) => println!(
            "  email: via {}:{}; self-check off",
            config.email.smtp_host, config.email.smtp_port
        ),
        (true, Some(s)) => {
            println!(
                "  email: via {}:{}; self-check {}",
                config.email.smtp_host,
                config.email.smtp_port,
                s.describe()
            )
        }
    }
    for line in crate::notify::http::describe_channels(&config) {
        println!("  {line}");
    }
    // Jobs the state still holds that are gone from the settings: their state goes.
    let store = crate::state::Store::new(&config.general.state_file, config.general.lock_timeout);
    if let Ok(state) = store.read() {
        let now = chrono::Utc::now();
        for (name, at) in crate::tick::removed_jobs(&config, &state, now) {
            println!(
                "  no longer configured: {name:?}: its state is dropped in {} ({}); its history stays",
                crate::duration::humanize(at - now),
                at.format("%Y-%m-%d %H:%M UTC")
            );
        }
    }
    Ok(0)
}
