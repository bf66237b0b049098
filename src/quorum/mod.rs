//! Confirmation from other places (SPEC §12): a job with `confirm_with` alerts only when
//! enough places see it failing — this instance by its own check, each listed peer by
//! its `/jobs.json` entry for the job.
//!
//! - `wire`: `/jobs.json`, what this instance answers and how a peer's (hostile) answer
//!   is read.
//! - `ask`: asking the peers a run needs, once each, beside the run's checks (I/O).
//! - `decide`: which places see a failure, and what that does to the alert the rules
//!   decided (pure: tests drive the clock).

pub mod ask;
pub mod decide;
pub mod wire;

use std::collections::HashMap;
use std::time::Duration;

/// What one peer answered in this run.
#[derive(Debug, Clone)]
pub struct Asked {
    /// From the start of the run's checks to the answer (or to giving up on it): an
    /// answer after a job's own timeout is late for that job.
    pub after: Duration,
    /// Its job states, or in a few words why there are none.
    pub answer: Result<wire::PeerJobs, String>,
}

/// The peers' answers of one run, by `[[peers]]` name. Empty for results that come
/// without asking (`report`, `wrap`, a passive job's deadline).
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub peers: HashMap<String, Asked>,
}

impl Answers {
    pub fn none() -> Self {
        Self::default()
    }
}
