//! Checks: one file per job kind behind one entry point, and the runner that executes
//! many checks concurrently under bounded parallelism, per-check timeouts, retries for
//! transient errors, and the tick deadline.

pub mod command;
pub mod dns;
pub mod file;
pub mod http;
pub mod peer;
pub mod perfdata;
pub mod runner;
pub mod tcp;
pub mod tls_cert;

use serde::{Deserialize, Serialize};

pub use perfdata::PerfDatum;

/// What one attempt at a check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    /// One line a person can read: what was found, or what failed.
    pub message: String,
    /// The failure may pass by itself (timeout, refused or reset connection, 5xx):
    /// worth a retry within the run. Always false for successes.
    pub transient: bool,
    /// Monitoring-plugin performance data, when the check produced any.
    pub perfdata: Vec<PerfDatum>,
    /// A `tls_cert` check that read the certificate: its notAfter.
    pub cert_not_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl Outcome {
    pub fn ok(message: impl Into<String>) -> Self {
        Outcome {
            ok: true,
            message: message.into(),
            transient: false,
            perfdata: Vec::new(),
            cert_not_after: None,
        }
    }
    /// A failure that a retry will not mend (a 404, a missing `contains`, a CRITICAL).
    pub fn fail(message: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            message: message.into(),
            transient: false,
            perfdata: Vec::new(),
            cert_not_after: None,
        }
    }
    /// A failure that may pass by itself.
    pub fn transient(message: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            message: message.into(),
            transient: true,
            perfdata: Vec::new(),
            cert_not_after: None,
        }
    }
}

/// The result of running one job in a run: the last attempt's outcome plus timing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckResult {
    pub job: String,
    pub ok: bool,
    pub message: String,
    pub duration_ms: u64,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfDatum>,
    /// Summed count a pushed result carries ("files", "rows"); none for active checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The failed attempts before the last one, oldest first, when the check was retried
    /// (the last attempt is the result itself). Each becomes a history event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<Attempt>,
    /// A `tls_cert` check that read the certificate: its notAfter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// One attempt of a retried check that failed and was retried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    pub message: String,
    pub duration_ms: u64,
    /// When the attempt ended.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Cap on what a check keeps of a response body or a command's output (the one cap of
/// `process`). Anything past it is read and thrown away (bodies: not even read), so a
/// target that sends endless data cannot exhaust memory.
pub const OUTPUT_CAP: usize = crate::process::OUTPUT_CAP;
/// Cap on an HTTP body searched for `contains`.
pub const BODY_CAP: usize = 1024 * 1024;
