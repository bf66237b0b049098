//! What the state keeps of quiet on purpose (SPEC §10): silences set by `checker silence`,
//! a job's acknowledgement (`checker ack`), and what a job's held-back alerts were last
//! held back by.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A silence: the failure alerts of the jobs it covers are held back from `from` until
/// `until`. Dropped once past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// `s-` and eight hex digits, unique among the silences kept.
    pub id: String,
    pub covers: Covers,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who set it: `$SUDO_USER`, else `$USER`, else the user id.
    pub who: String,
    pub created: DateTime<Utc>,
}

/// The jobs a silence covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Covers {
    /// `--all`: every job, those added later too.
    All,
    /// `JOB...`: these jobs.
    Jobs(Vec<String>),
    /// `--match GLOB`: every job the glob matches, those added later too.
    Match(String),
}

impl Silence {
    pub fn covers(&self, job: &str) -> bool {
        match &self.covers {
            Covers::All => true,
            Covers::Jobs(jobs) => jobs.iter().any(|j| j == job),
            Covers::Match(glob) => {
                crate::pattern::NamePattern::new(glob).is_ok_and(|p| p.matches(job))
            }
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }

    pub fn is_over(&self, now: DateTime<Utc>) -> bool {
        self.until <= now
    }

    /// "all jobs", "web, db", "jobs matching web-*".
    pub fn describe_covers(&self) -> String {
        match &self.covers {
            Covers::All => "all jobs".into(),
            Covers::Jobs(jobs) => jobs.join(", "),
            Covers::Match(glob) => format!("jobs matching {glob}"),
        }
    }
}

/// `checker ack JOB`: no more reminders for the failure streak that began at `streak`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub at: DateTime<Utc>,
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The start of the acknowledged streak (the job's `first_failure` then): a later
    /// streak is not acknowledged.
    pub streak: Option<DateTime<Utc>>,
}

/// The last failure alert of a job that was held back: why, and when, so that the history
/// gets one event per alert that would have gone out, not one per check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The reason, as the history event names it (`silence s-1a2b3c4d`).
    pub reason: String,
    /// When an alert was first held back for this reason in this streak.
    pub since: DateTime<Utc>,
    /// When the last history event about it was written.
    pub last: DateTime<Utc>,
}
