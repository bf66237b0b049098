//! `checker prune [--older-than DURATION] [--archive DIR]`: drop history older than the
//! window (each job's last `history_keep_last` events stay), archiving it first when an
//! archive folder is given or configured; old rollups go by their own retention.

use std::path::Path;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::{History, PrunePolicy};

/// `older_than` is bounded by the command line (at most 100 years).
pub fn run(
    config: &Config,
    older_than: Option<Duration>,
    archive: Option<&Path>,
) -> Result<Exit, AppError> {
    let now = Utc::now();
    let mut policy = PrunePolicy::from_config(&config.general, now);
    if let Some(window) = older_than {
        // Saturating: a window reaching past the earliest date keeps everything.
        policy.cutoff = chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| now.checked_sub_signed(w))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
    }
    if let Some(dir) = archive {
        policy.archive_dir = Some(dir.to_path_buf());
    }
    // Only the database is taken (no state lock): each chunk is one transaction.
    let r = History::from_config(&config.general).prune(&policy)?;
    println!(
        "pruned history older than {}: {} event(s) deleted{}{}; {} hourly and {} daily rollup(s) past their retention",
        policy.cutoff.format("%Y-%m-%d %H:%M:%S UTC"),
        r.events,
        match &policy.archive_dir {
            Some(d) => format!(" ({} archived in {})", r.archived, d.display()),
            None => String::new(),
        },
        if r.kept > 0 {
            format!(", {} older one(s) kept by history_keep_last", r.kept)
        } else {
            String::new()
        },
        r.hourly_rollups,
        r.daily_rollups
    );
    Ok(Exit::Success)
}
