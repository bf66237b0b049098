//! `checker -c TICK`: one cron tick. It exits 0 when the tick itself completed, whatever
//! the checks found: failures are the notifications' business.

use crate::config::Config;
use crate::engine::tick::run_ahead;
use crate::engine::{RunOptions, Selection};
use crate::error::AppError;
use crate::exit::Exit;
use crate::schedule::Tick;
use crate::state::{ReadAhead, Store};

/// `ahead`: the state file read while the configuration loaded (see `state::ReadAhead`).
pub fn run(
    config: &Config,
    tick: Tick,
    nomail: bool,
    ahead: Option<ReadAhead>,
) -> Result<Exit, AppError> {
    // Into the log file only: on stderr cron would mail it every minute.
    for w in &config.warnings {
        log::warn!(target: crate::logging::FILE_ONLY, "configuration: {w}");
    }
    let report = run_ahead(config, Selection::Tick(tick), RunOptions { nomail }, ahead);
    write_outputs(config);
    let report = report?;
    let failed = report.results.iter().filter(|r| !r.ok).count();
    log::info!(
        "{} tick done: {} checked, {} failed, {} delivery attempt(s), {} not started",
        tick.as_str(),
        report.results.len(),
        failed,
        report.notifications.len(),
        report.not_started.len()
    );
    Ok(Exit::Success)
}

/// After a run's last transaction (a tick's or `run-once`'s), without the lock, whatever
/// the run came to: the metrics textfile and the status page, from one reading of the
/// state. Neither fails the run: the checks and alerts matter more.
pub fn write_outputs(config: &Config) {
    if config.metrics.textfile_dir.is_none() && config.status_page.path.is_none() {
        return;
    }
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read();
    super::metrics::after_tick(config, state.as_ref());
    match crate::statuspage::after_tick(config, state.as_ref(), chrono::Utc::now()) {
        Ok(Some(outcome)) => log::debug!("status page: {outcome:?}"),
        Ok(None) => {}
        Err(e) => log::warn!("{e}"),
    }
}
