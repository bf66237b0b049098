//! `checker metrics [--textfile DIR]`: the Prometheus metrics `serve` answers at
//! `/metrics`, printed, or written atomically to `DIR/checker.prom` for node_exporter's
//! textfile collector (what `[metrics] textfile_dir` has every tick do).

use crate::state::{State, StateError};
use std::path::Path;

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::metrics;

pub fn run(config: &Config, textfile: Option<&Path>) -> Result<Exit, AppError> {
    let text = metrics::collect(config, Utc::now());
    match textfile {
        None => print!("{text}"),
        Some(dir) => {
            // A folder that is not there or a file that is not one: the command line's
            // problem (2); the system failing to write it: 1.
            let path = metrics::textfile::write(dir, &text).map_err(|e| match e {
                metrics::textfile::TextfileError::Io { .. } => AppError::Other(e.into()),
                _ => AppError::Usage(e.to_string()),
            })?;
            log::info!("metrics written to {}", path.display());
        }
    }
    Ok(Exit::Success)
}

/// What a tick does at its end when `[metrics] textfile_dir` is set: writes the file,
/// and says in the log why it could not (the tick itself is not failed for it: a stale
/// file is what node_exporter's `node_textfile_mtime_seconds` shows).
pub fn after_tick(config: &Config, state: Result<&State, &StateError>) {
    let Some(dir) = &config.metrics.textfile_dir else {
        return;
    };
    let text = metrics::collect_from(config, state, Utc::now());
    if let Err(e) = metrics::textfile::write(dir, &text) {
        log::warn!("[metrics] textfile_dir: {e}");
    }
}
