//! The state file: per-job state, the heartbeat, mail health, the outbox of queued
//! notifications and the silences. `store` owns locking, loading and atomic saving;
//! `quiet` the types of quiet on purpose (silences, acknowledgements).

mod ahead;
mod fast;
mod jobs;
mod quiet;
mod store;
pub mod timestamp;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::check::PerfDatum;
use crate::notify::Alert;

pub use ahead::ReadAhead;
pub use jobs::{Glance, JobMap};
pub use quiet::{Ack, Covers, Held, Silence};
pub use store::{Guard, StateError, Store};

/// The state format this build writes. A file with a larger version was written by a
/// newer checker and is refused rather than overwritten.
pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    #[serde(default)]
    pub jobs: JobMap,
    #[serde(default)]
    pub heartbeat: Heartbeat,
    #[serde(default)]
    pub mail: MailHealth,
    #[serde(default)]
    pub outbox: Vec<OutboxEntry>,
    /// The problems of job files that could not be loaded, as the last tick found them:
    /// each was alerted once, its fix is told, and peers hear `JobProblem` meanwhile.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_problems: Vec<ConfigProblem>,
    /// Silences set by `checker silence`, active or starting later; dropped once over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silences: Vec<Silence>,
    /// Set by the store when the file on disk was unreadable and was moved aside; the
    /// tick reports it. Never written.
    #[serde(skip)]
    pub recovered_from: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            jobs: JobMap::new(),
            heartbeat: Heartbeat::default(),
            mail: MailHealth::default(),
            outbox: Vec::new(),
            config_problems: Vec::new(),
            silences: Vec::new(),
            recovered_from: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// No result yet.
    #[default]
    Pending,
    Ok,
    Failing,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Ok => "ok",
            JobStatus::Failing => "failing",
        }
    }
}

/// How many recent outcomes a job keeps for the at-a-glance column of `status`.
pub const RECENT_LEN: usize = 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    pub status: JobStatus,
    pub consecutive_failures: u32,
    /// Start of the current failure streak.
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<DateTime<Utc>>,
    /// Last failure notification in this streak (SPEC §5's `last_notify`).
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub last_notify: Option<DateTime<Utc>>,
    /// A failure notification went out in this streak: a success then sends a recovery.
    pub notified: bool,
    /// When the last run started (scheduling of `every` jobs).
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub last_started: Option<DateTime<Utc>>,
    /// When the last result was recorded.
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_duration_ms: Option<u64>,
    pub total_attempts: u64,
    pub successes: u64,
    pub failures: u64,
    pub total_count: u64,
    /// Recent outcomes, oldest first: '+' success, '-' failure.
    pub recent: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfDatum>,
    /// A `tls_cert` job: when the certificate it last read expires (kept while later
    /// runs cannot read one), for `checker_tls_cert_not_after_timestamp_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<DateTime<Utc>>,
    /// Channels that want a firing alert repeated while the job keeps failing
    /// (Alertmanager): when one was last queued for this streak, by channel name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub resent: BTreeMap<String, DateTime<Utc>>,
    /// When a run first saw this job: a passive job that never reported is "missing"
    /// only once its deadline has passed since then.
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<DateTime<Utc>>,
    /// When the last result pushed by `report` or `wrap` arrived (a passive job's deadline
    /// counts from it; its own "missing" failures do not move it).
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub last_pushed: Option<DateTime<Utc>>,
    /// When a run first found this job gone from the configuration; its state is dropped
    /// [`FORGET_AFTER_DAYS`] later (its history stays). Cleared if it comes back.
    #[serde(with = "timestamp::opt", skip_serializing_if = "Option::is_none")]
    pub left_config: Option<DateTime<Utc>>,
    /// The job file the job was last loaded from: while that file cannot be loaded, the
    /// job is shown as `config error` and its state is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<std::path::PathBuf>,
    /// `checker ack`: no more reminders for this failure streak. Cleared when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
    /// The last failure alert held back in this streak, and why. Cleared when the streak
    /// ends or an alert goes out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// A job with `confirm_with`: which places saw it failing at its last failing check
    /// (cleared when it passes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
}

/// A confirmation decision (SPEC §12): which places see a job failing, at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub at: DateTime<Utc>,
    /// At least `needed` places counted as seeing the failure.
    pub confirmed: bool,
    pub needed: u32,
    /// This instance first, then the peers in `confirm_with` order.
    pub places: Vec<Place>,
}

/// One place's view of a job's failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// This instance's servername, or the peer's `[[peers]]` name.
    pub name: String,
    pub sees: Sees,
    /// Counts as seeing the failure: it does, or it is unknown and the job says
    /// `confirm_unknown = "failing"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted: bool,
    /// Why its view is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sees {
    Failing,
    Ok,
    /// No usable answer: none, late, stale, malformed, or without the job.
    Unknown,
}

impl Confirmation {
    /// The places counted as seeing the failure.
    pub fn confirmed_by(&self) -> Vec<&str> {
        self.places
            .iter()
            .filter(|p| p.counted)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The others.
    pub fn not_confirmed_by(&self) -> Vec<&str> {
        self.places
            .iter()
            .filter(|p| !p.counted)
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// One problem of a job file that could not be loaded. Its identity is file, line and
/// message: the same text at another line is another problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    pub file: std::path::PathBuf,
    /// 1-based; 0 when not tied to a line.
    pub line: usize,
    pub message: String,
    /// When a tick first found it.
    #[serde(with = "timestamp")]
    pub since: DateTime<Utc>,
}

impl ConfigProblem {
    pub fn same(&self, p: &crate::config::Problem) -> bool {
        self.file == p.file && self.line == p.line && self.message == p.message
    }

    /// `jobs/web.toml:4: unknown key ...`, as `validate` prints it.
    pub fn describe(&self) -> String {
        crate::config::Problem {
            file: self.file.clone(),
            line: self.line,
            message: self.message.clone(),
        }
        .to_string()
    }
}

/// Days a job's state is kept after the job left the configuration: long enough to
/// survive a rename undone or a job file moved away for a while, short enough that the
/// state file (rewritten on every tick) does not keep every job it ever saw.
pub const FORGET_AFTER_DAYS: i64 = 7;

/// Each tick's start and end, for `peer-status` (SPEC §6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Heartbeat {
    pub last_tick: Option<String>,
    #[serde(with = "timestamp::opt")]
    pub last_tick_started: Option<DateTime<Utc>>,
    #[serde(with = "timestamp::opt")]
    pub last_tick_finished: Option<DateTime<Utc>>,
    /// Why the last tick ended in error; `None` when it ended well.
    pub last_tick_error: Option<String>,
}

/// Whether this instance can send mail: set by the self-check and by every email delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailHealth {
    /// `None`: never checked.
    pub ok: Option<bool>,
    #[serde(with = "timestamp::opt")]
    pub checked_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    #[serde(with = "timestamp::opt")]
    pub last_self_check: Option<DateTime<Utc>>,
}

/// A notification decided under the lock and not yet delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: String,
    pub channel: String,
    pub alert: Alert,
    #[serde(with = "timestamp")]
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub attempts: u32,
    /// Not to be tried before this.
    #[serde(with = "timestamp")]
    pub next_attempt: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// When the last delivery attempt failed (`last_error`'s time).
    #[serde(
        default,
        with = "timestamp::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_attempt: Option<DateTime<Utc>>,
    /// A process is delivering this entry until then; others leave it alone. Expires so
    /// that a process killed mid-delivery cannot hold it forever (at most a repeat).
    #[serde(default, with = "timestamp::opt")]
    pub lease_until: Option<DateTime<Utc>>,
    /// After a failed email delivery this alert was also queued on the other channels
    /// (mail is broken: SPEC §6), so later failures do not queue it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback_done: bool,
    /// A firing alert posted again to a channel that wants it repeated (Alertmanager's
    /// `resend`): its delivery is not a history event of its own, only a failure is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resend: bool,
}

impl JobState {
    pub fn push_recent(&mut self, ok: bool) {
        self.recent.push(if ok { '+' } else { '-' });
        let extra = self.recent.chars().count().saturating_sub(RECENT_LEN);
        if extra > 0 {
            self.recent = self.recent.chars().skip(extra).collect();
        }
    }
}
