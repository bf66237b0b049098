//! One file per command: what it prints and its exit status.

pub mod ack;
pub mod history;
pub mod jobs_json;
pub mod list;
pub mod manpages;
pub mod metrics;
pub mod peer_status;
pub mod peers;
pub mod prune;
pub mod report;
pub mod run_once;
pub mod silence;
pub mod status;
pub mod status_page;
pub mod test_notify;
pub mod tick;
pub mod uptime;
pub mod validate;
pub mod wrap;

use crate::config::Config;
use crate::error::AppError;

/// The job names given on the command line must exist.
pub fn known_job(config: &Config, name: &str) -> Result<(), AppError> {
    if config.job(name).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
    let hint = crate::config::nearest(name, &names)
        .map(|n| format!("; did you mean {n:?}?"))
        .unwrap_or_default();
    let broken = config.broken_files();
    let unloaded = if broken.is_empty() {
        String::new()
    } else {
        format!(
            "; it may be in a job file that cannot be loaded: {} (see `checker validate`)",
            broken
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(AppError::Usage(format!(
        "unknown job {name:?}{hint} (see `checker list`){unloaded}"
    )))
}

/// Who is running checker, for silences and acknowledgements: `$SUDO_USER` (the person
/// behind `sudo`), else `$USER`, else the numeric user id.
pub fn who() -> String {
    ["SUDO_USER", "USER"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| crate::text::truncate(v.trim(), 64))
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// JSON for scripts, pretty and newline-terminated.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<(), AppError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| AppError::Other(e.into()))?;
    println!("{text}");
    Ok(())
}
