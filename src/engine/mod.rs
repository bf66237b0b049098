//! The run cycle: what a cron tick, `run-once`, `report` and `wrap` do to the state, the
//! history and the outbox. Commands call it; it calls the checks, the rules, the state,
//! the history and the channels. Its files, each importing only those below it:
//!
//! - `tick`: a run (cron tick, `run-once`): what is due, the checks, merging, delivery.
//! - `push`: a result pushed by `report` or `wrap`, merged and delivered the same way.
//! - `passive`: the deadlines of jobs fed only by pushed results.
//! - `delivery`: delivering claimed alerts without the lock, settling them under it.
//! - `txn`: `Txn`, the one state transaction: lock, load, note recoveries, change, save,
//!   append the history, unlock.
//! - `record`: one result into the state (merge, rules, alerts queued, events), and the
//!   alerts about checker itself.
//! - `quiet`: the gate every failure alert passes: silences, maintenance windows,
//!   acknowledgements, failing parents (pure).
//! - `silences`: the silences kept in the state: added, ended, dropped once over.
//! - `route`: which channels an alert goes to, and where while mail is broken (pure).
//! - `outbox`: the queue of decided alerts: claimed with a lease, settled, superseded.
//! - `resend`: firing alerts queued again for the channels that expect it (Alertmanager).
//!
//! Here: the types every path shares.

pub mod delivery;
pub mod outbox;
pub mod passive;
pub mod push;
pub mod quiet;
pub mod record;
pub mod resend;
pub mod route;
pub mod silences;
pub mod tick;
pub mod txn;

#[cfg(test)]
mod confirm_tests;

use crate::check::CheckResult;
use crate::notify::AlertKind;
use crate::runtime::RuntimeError;
use crate::schedule::Tick;
use crate::state::StateError;

/// What to run.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A cron tick: the jobs due on it.
    Tick(Tick),
    /// `run-once`: these jobs now, whatever their schedule (all enabled jobs when empty).
    Jobs(Vec<String>),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub nomail: bool,
}

/// One delivery attempt made in this run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotificationReport {
    pub job: String,
    pub channel: String,
    pub kind: AlertKind,
    pub delivered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunReport {
    pub results: Vec<CheckResult>,
    pub notifications: Vec<NotificationReport>,
    /// Jobs the deadline stopped before they started.
    #[serde(skip)]
    pub not_started: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// A configuration loaded from a temp dir, for unit tests that drive the clock.
#[cfg(test)]
pub(crate) fn test_config(jobs: &str) -> (tempfile::TempDir, crate::config::Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(
        dir.path().join("settings.toml"),
        "[general]\nservername = \"testbox\"\nalertcontact = \"ops@example.com\"\n\n\
         [email]\nenabled = false\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
         [defaults]\nnotify = [\"email\"]\n",
    )
    .expect("settings");
    std::fs::write(dir.path().join("jobs/jobs.toml"), jobs).expect("jobs");
    let config =
        crate::config::load(&dir.path().join("settings.toml")).expect("test configuration loads");
    (dir, config)
}
