//! `checker report JOB (--ok|--fail) [--count N] [--message TEXT] [--duration D]`: record a
//! result pushed by another program. Silent when all went well, so cron mails nothing;
//! exit 0 once the result is recorded, whatever it says.

use crate::config::{Config, Job};
use crate::engine::record::result;
use crate::engine::{push, RunOptions};
use crate::error::AppError;
use crate::exit::Exit;
use crate::text::truncate;

/// The longest message kept from `--message`.
pub const MESSAGE_CAP: usize = 8 * 1024;

/// The configured job named `name`, or a usage error naming the nearest one.
pub fn find_job<'a>(config: &'a Config, name: &str) -> Result<&'a Job, AppError> {
    super::known_job(config, name)?;
    config
        .job(name)
        .ok_or_else(|| AppError::Usage(format!("unknown job {name:?} (see `checker list`)")))
}

pub fn run(
    config: &Config,
    name: &str,
    ok: bool,
    count: Option<u64>,
    message: Option<&str>,
    duration: Option<std::time::Duration>,
    nomail: bool,
) -> Result<Exit, AppError> {
    let job = find_job(config, name)?;
    let message = match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => truncate(m, MESSAGE_CAP),
        None if ok => "reported OK".to_string(),
        None => "reported FAILED (no message given)".to_string(),
    };
    let duration_ms = duration.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let result = result(job, ok, message, duration_ms, count);
    let notifications = push::record(config, job, &result, RunOptions { nomail })?;
    for n in notifications.iter().filter(|n| !n.delivered) {
        log::warn!(
            "{} notification for {} via {} not delivered yet (queued for retry): {}",
            n.kind.as_str(),
            n.job,
            n.channel,
            n.error.as_deref().unwrap_or("unknown error")
        );
    }
    Ok(Exit::Success)
}
