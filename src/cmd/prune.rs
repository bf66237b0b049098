//! `checker prune [--older-than DURATION]`: drop history older than the window.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::AppError;
use crate::history::History;
use crate::state::Store;

/// `older_than` is bounded by the command line (at most 100 years).
pub fn run(config: &Config, older_than: Option<Duration>) -> Result<u8, AppError> {
    let window = older_than.unwrap_or_else(|| {
        Duration::from_secs(u64::from(config.general.history_days).saturating_mul(86_400))
    });
    // Saturating: a window reaching past the earliest date keeps everything.
    let cutoff = chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| Utc::now().checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let history = History::new(&config.general.history_dir);
    // Under the state lock: ticks append history under it, so a rewrite of today's file
    // cannot drop a line appended meanwhile.
    let store = Store::new(&config.general.state_file, config.general.lock_timeout);
    let guard = store.lock()?;
    let (files, events) = history.prune(cutoff).map_err(|e| {
        AppError::Other(anyhow::anyhow!(
            "pruning history in {}: {e}",
            history.dir().display()
        ))
    })?;
    drop(guard);
    println!(
        "pruned history older than {} ({}): {files} day file(s) deleted, {events} event(s) dropped from the boundary day",
        crate::duration::format(window),
        cutoff.format("%Y-%m-%d %H:%M:%S UTC")
    );
    Ok(0)
}
