//! `checker prune [--older-than DURATION]`: drop history older than the window.

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::history::History;
use crate::state::Store;

pub fn run(config: &Config, older_than: Option<&str>) -> Result<u8, AppError> {
    let window = match older_than {
        Some(text) => crate::duration::parse(text)
            .map_err(|e| AppError::Usage(format!("--older-than: {e}")))?,
        None => std::time::Duration::from_secs(u64::from(config.general.history_days) * 86_400),
    };
    let cutoff = Utc::now() - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
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
