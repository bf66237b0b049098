//! `[general]`: the server's name, who is told, where state, jobs and history live, and
//! the limits of a tick.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::{resolve_path, FileCtx, OneOrMany, S};

/// `[general]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneral {
    pub servername: Option<String>,
    pub alertcontact: Option<S<OneOrMany>>,
    pub state_file: Option<String>,
    pub jobs_dir: Option<S<String>>,
    pub history_dir: Option<String>,
    pub history_days: Option<S<i64>>,
    pub history_db: Option<String>,
    pub history_archive_dir: Option<String>,
    pub history_keep_last: Option<S<i64>>,
    pub rollup_hours_days: Option<S<i64>>,
    pub rollup_days: Option<S<i64>>,
    pub max_concurrency: Option<S<i64>>,
    pub tick_deadline: Option<S<String>>,
    pub stale_after: Option<S<String>>,
    pub lock_timeout: Option<S<String>>,
    pub delivery_retry: Option<S<String>>,
    pub undeliverable_after: Option<S<String>>,
}

/// `[general]`, validated; paths resolved against the settings file's folder.
#[derive(Debug, Clone)]
pub struct General {
    pub servername: String,
    pub alertcontact: Vec<String>,
    pub state_file: PathBuf,
    pub jobs_dir: PathBuf,
    pub history_dir: PathBuf,
    pub history_days: u32,
    /// The history database (default: `history.db` beside the state file).
    pub history_db: PathBuf,
    /// Where pruned events are archived as `YYYY-MM-DD.jsonl.gz`; `None`: deleted.
    pub history_archive_dir: Option<PathBuf>,
    /// Each job's last N events are kept whatever their age (0: no such floor).
    pub history_keep_last: u32,
    /// Retention of hourly rollups, in days.
    pub rollup_hours_days: u32,
    /// Retention of daily rollups, in days.
    pub rollup_days: u32,
    pub max_concurrency: usize,
    pub tick_deadline: Duration,
    pub stale_after: Duration,
    /// How long a command waits for the state lock before giving up (exit 3).
    pub lock_timeout: Duration,
    /// First retry delay of a failed delivery; it doubles per attempt, up to 30 minutes.
    pub delivery_retry: Duration,
    /// An alert queued this long without being delivered makes peers hear of it:
    /// `MailProblem` for email, `JobProblem` for another channel.
    pub undeliverable_after: Duration,
}

/// `[general]`, with its defaults; `base` is the settings file's folder.
pub(super) fn resolve(cx: &mut FileCtx<'_>, base: &Path, g: &RawGeneral) -> General {
    General {
        servername: g
            .servername
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(hostname),
        alertcontact: g
            .alertcontact
            .as_ref()
            .map(|a| a.get_ref().clone().into_vec())
            .unwrap_or_default(),
        state_file: resolve_path(base, g.state_file.as_deref().unwrap_or("state.json")),
        jobs_dir: resolve_path(
            base,
            g.jobs_dir.as_ref().map_or("jobs", |d| d.get_ref().as_str()),
        ),
        history_dir: resolve_path(base, g.history_dir.as_deref().unwrap_or("history")),
        history_days: cx.ranged_or("history_days", &g.history_days, 1, 36_500, 30) as u32,
        history_db: match g.history_db.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => resolve_path(base, p),
            None => resolve_path(base, g.state_file.as_deref().unwrap_or("state.json"))
                .parent()
                .map(|d| d.join("history.db"))
                .unwrap_or_else(|| base.join("history.db")),
        },
        history_archive_dir: g
            .history_archive_dir
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| resolve_path(base, p)),
        history_keep_last: cx.ranged_or("history_keep_last", &g.history_keep_last, 0, 1_000_000, 0)
            as u32,
        rollup_hours_days: cx.ranged_or("rollup_hours_days", &g.rollup_hours_days, 1, 36_500, 400)
            as u32,
        rollup_days: cx.ranged_or("rollup_days", &g.rollup_days, 1, 36_500, 1830) as u32,
        max_concurrency: cx.ranged_or("max_concurrency", &g.max_concurrency, 1, 10_000, 64)
            as usize,
        tick_deadline: cx.duration_or("tick_deadline", &g.tick_deadline, Duration::from_secs(50)),
        stale_after: cx.duration_or("stale_after", &g.stale_after, Duration::from_secs(180)),
        lock_timeout: cx.duration_or("lock_timeout", &g.lock_timeout, Duration::from_secs(30)),
        delivery_retry: cx.duration_or(
            "delivery_retry",
            &g.delivery_retry,
            Duration::from_secs(60),
        ),
        undeliverable_after: cx.duration_or(
            "undeliverable_after",
            &g.undeliverable_after,
            Duration::from_secs(15 * 60),
        ),
    }
}

fn hostname() -> String {
    ::hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "checker".to_string())
}
