//! The status page and badges (SPEC §11): one self-contained HTML file built from the
//! state (current states, open incidents) and the history's rollups (daily bars, uptime,
//! response times, past incidents), and shields-style SVG badges.
//!
//! - `model`: what the page shows, decided purely from config, state, series and `now`.
//! - `html`: drawing it; `badge`: the badges.
//! - here: reading what it needs (no state lock: the state file is replaced whole by each
//!   save), the fingerprint that tells a tick whether anything shown changed, and writing
//!   the file atomically.
//!
//! Readers only: nothing here takes the state lock or writes the history, so a tick runs
//! it after its last transaction and `serve` per request.

pub mod badge;
pub mod html;
pub mod http;
pub mod model;

use std::fs::OpenOptions;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::history::History;
use crate::state::{State, StateError};

/// Why the page could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read the state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("cannot write the status page {path}: {reason} (check [status_page] path and that its folder exists and is writable)")]
    Write { path: PathBuf, reason: String },
}

/// What a tick did about the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing it shows changed since it was written.
    Unchanged,
    Written,
}

/// A fingerprint of everything the page shows except the history's figures, which only
/// change with a result (and so with the state) or on the hour: the title, each shown
/// job's group and last result, silences, whether the state is stale, the hour.
pub fn fingerprint(config: &Config, state: &State, now: DateTime<Utc>) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    config.status_page.title.hash(&mut h);
    now.timestamp().div_euclid(3600).hash(&mut h);
    let pending = crate::state::JobState::default();
    for job in model::public_jobs(config) {
        let js = state.jobs.get(&job.name).unwrap_or(&pending);
        (&job.name, &job.group, js.status.as_str()).hash(&mut h);
        (
            js.last_run,
            js.first_failure,
            &js.last_error,
            &js.last_message,
        )
            .hash(&mut h);
    }
    for q in model::quiet(config, state, now) {
        format!("{q:?}").hash(&mut h);
    }
    let stale = state
        .heartbeat
        .last_tick_finished
        .is_some_and(|t| now.signed_duration_since(t) > model::STALE_AFTER);
    stale.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The page as it stands at `now`. The history is read for the figures; when it cannot
/// be, the page still shows the current states (and says nothing it does not know).
pub fn render(config: &Config, state: &State, history: &History, now: DateTime<Utc>) -> String {
    let series = match history.series(model::DAYS, now) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("status page: the history cannot be read, so it shows no figures: {e}");
            Default::default()
        }
    };
    let inputs = model::Inputs {
        config,
        state,
        series: &series,
        quiet: model::quiet(config, state, now),
        now,
    };
    let mut page = model::build(&inputs);
    let wanted = model::wanted_notes(&page);
    if !wanted.is_empty() {
        match history.failure_notes(&wanted) {
            Ok(notes) => model::add_notes(&mut page, &notes),
            Err(e) => log::warn!("status page: reading past failures: {e}"),
        }
    }
    html::render(&page, &fingerprint(config, state, now))
}

/// At the end of a tick: writes `[status_page] path` when what it shows changed since it
/// was written (or it is missing). Nothing to do without a path.
pub fn after_tick(
    config: &Config,
    state: Result<&State, &StateError>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, PageError> {
    let Some(path) = &config.status_page.path else {
        return Ok(None);
    };
    let state = state.map_err(|e| PageError::State {
        path: config.general.state_file.clone(),
        reason: e.to_string(),
    })?;
    let fp = fingerprint(config, state, now);
    if written_fingerprint(path).as_deref() == Some(fp.as_str()) {
        return Ok(Some(Outcome::Unchanged));
    }
    let page = render(config, state, &History::reader(&config.general), now);
    write_atomically(path, page.as_bytes())?;
    Ok(Some(Outcome::Written))
}

/// The fingerprint in the head of the page at `path`, if one is there.
fn written_fingerprint(path: &Path) -> Option<String> {
    let mut head = vec![0u8; 2048];
    let mut f = crate::safe_file::open(path, OpenOptions::new().read(true)).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let head = String::from_utf8_lossy(&head[..n]);
    let marker = "<meta name=\"checker-fingerprint\" content=\"";
    let rest = &head[head.find(marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Writes `bytes` to `path` whole or not at all: a temp file beside it (mode 0644: the
/// page is for a web server to read), then a rename over the old file. Through a symlink,
/// the file it points to is replaced; something that is not a regular file is refused.
/// No fsync (it would cost a 1 MB page tens of milliseconds): a page a crash damages has
/// lost its fingerprint with it, so the next tick writes it again.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PageError> {
    let reason = match crate::safe_file::replace(path, bytes, 0o644, false) {
        Ok(_) => return Ok(()),
        Err(crate::safe_file::ReplaceError::NotRegular { kind, .. }) => {
            format!("it is {kind}, not a regular file")
        }
        Err(crate::safe_file::ReplaceError::Io { source, .. }) => source.to_string(),
    };
    Err(PageError::Write {
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests;
