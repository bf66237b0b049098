//! The history: every event (results, retried attempts, notifications, recoveries,
//! reports, errors, alerts held back, silences and acknowledgements) and per-job rollups
//! per hour and per day, in an embedded SQLite database (`[general] history_db`, WAL
//! mode, busy timeout) shared by every process.
//!
//! Lock order: the state lock, then the database. Writers (runs, `report`, `wrap`,
//! `test-notify`) record events while they hold the state lock, in one `BEGIN IMMEDIATE`
//! transaction per batch with the rollups of its results; `prune` and the day tick's
//! retention take only the database. Readers (`status`, `history`, `uptime`, `serve`) take
//! no state lock: WAL gives them a consistent snapshot while writers go on. A busy
//! database is waited for (busy timeout, then retries), never reported as "locked".
//!
//! - `store`: opening (regular file only, schema version, a corrupt file moved aside) and
//!   recording; `codec`: runs of routine results packed into one row; `rollup`: the
//!   hourly and daily figures; `rollup_write`: summing and writing them; `query`: reading events, windows and uptime; `series`: per-day and per-hour figures
//!   for the status page; `import`: the
//!   one-time import of earlier JSON Lines files; `archive`: retention and archiving.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

mod archive;
mod codec;
mod figures;
mod import;
mod query;
mod record;
mod rollup;
mod rollup_write;
mod schema;
mod series;
mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use archive::{PrunePolicy, PruneReport};
pub use figures::JobFigures;
pub use query::Follow;
pub use rollup::Acc;
pub use schema::SCHEMA_VERSION;
pub use series::{DayFigures, FailureNote, HourFigures, JobSeries, Series};
pub use store::{Access, History, HistoryError};

use crate::check::PerfDatum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A check's result.
    Result,
    /// A failure notification delivered (ok) or attempted (not ok).
    Notify,
    /// A recovery notification delivered or attempted.
    Recover,
    /// A result pushed by `report` or `wrap`.
    Report,
    /// Something went wrong in checker itself (state, delivery given up, deadline).
    Error,
    /// A queued failure alert dropped unsent because the job recovered before it could be
    /// delivered (the recovery goes out instead).
    Superseded,
    /// A failure alert held back on purpose (SPEC §10): the message names why (a
    /// silence, a maintenance window, an acknowledgement, a failing parent).
    Suppressed,
    /// A silence set, changed or over.
    Silence,
    /// A failure streak acknowledged (`checker ack`).
    Ack,
    /// A confirmation decision (SPEC §12): `ok` when the failure alert goes out, not ok
    /// when it is held back or the alerted failure is no longer confirmed; the message
    /// names the places.
    Confirmation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub ts: DateTime<Utc>,
    pub job: Option<String>,
    pub event: EventKind,
    pub ok: Option<bool>,
    pub message: Option<String>,
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Which attempt of a retried check this result is (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `false` on an attempt that was retried: not the run's verdict, so not counted as
    /// a result. Absent (or `true`) on every result that is one.
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfDatum>,
}

impl Event {
    /// Whether this event is a retried attempt rather than a result that counts.
    pub fn is_retried_attempt(&self) -> bool {
        self.is_final == Some(false)
    }

    pub fn new(ts: DateTime<Utc>, event: EventKind, job: Option<&str>) -> Self {
        Event {
            ts,
            job: job.map(str::to_string),
            event,
            ok: None,
            message: None,
            channel: None,
            duration_ms: None,
            attempts: None,
            attempt: None,
            is_final: None,
            count: None,
            perfdata: Vec::new(),
        }
    }

    pub fn error(ts: DateTime<Utc>, job: Option<&str>, message: impl Into<String>) -> Self {
        let mut e = Event::new(ts, EventKind::Error, job);
        e.ok = Some(false);
        e.message = Some(message.into());
        e
    }
}

/// The rarely set fields of an event, kept as JSON beside the common ones.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Extra {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    is_final: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    perfdata: Vec<PerfDatum>,
}

impl Extra {
    pub(crate) fn of(e: &Event) -> Extra {
        Extra {
            attempts: e.attempts,
            attempt: e.attempt,
            is_final: e.is_final,
            count: e.count,
            perfdata: e.perfdata.clone(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.attempts.is_none()
            && self.attempt.is_none()
            && self.is_final.is_none()
            && self.count.is_none()
            && self.perfdata.is_empty()
    }

    pub(crate) fn apply(self, e: &mut Event) {
        e.attempts = self.attempts;
        e.attempt = self.attempt;
        e.is_final = self.is_final;
        e.count = self.count;
        e.perfdata = self.perfdata;
    }
}

/// Filters for reading.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub job: Option<String>,
    pub failures_only: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

impl History {
    /// `path`: the database; `legacy_dir`: JSON Lines day files of earlier versions, imported
    /// once; `busy`: how long to wait for another writer.
    pub fn new(path: &Path, legacy_dir: &Path, busy: Duration, access: Access) -> Self {
        History {
            first_open: import::run,
            path: path.to_path_buf(),
            legacy_dir: legacy_dir.to_path_buf(),
            busy,
            access,
            conn: Mutex::new(None),
            recovered: Mutex::new(None),
        }
    }

    /// The history of this configuration, for a writer (a run, `report`, `prune`).
    pub fn from_config(g: &crate::config::General) -> Self {
        History::new(
            &g.history_db,
            &g.history_dir,
            g.lock_timeout,
            Access::Writer,
        )
    }

    /// The history of this configuration, for a reader (`status`, `history`, `uptime`).
    pub fn reader(g: &crate::config::General) -> Self {
        History::new(
            &g.history_db,
            &g.history_dir,
            g.lock_timeout,
            Access::Reader,
        )
    }
}
