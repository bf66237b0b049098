//! Configuration: `settings.toml` plus every `*.toml` in `jobs_dir`, read into serde
//! structs that refuse unknown keys, then validated into the model the rest works from.
//!
//! One file per section reads and validates it, and defines its part of the model:
//! `general`, `logging`, `email`, `defaults`, `channels/` (`commands`, `pushover`,
//! `webhooks`), `serve`, `metrics`, `status_page`, `peers`, `maintenance`, `jobs/` (one
//! file per kind, and `targets`); `depends` checks `depends_on` across the job files.
//! `load` is the walk that calls them. Below them: `files` (the two file formats), `parse` and
//! `explain` (every bad key reported, in people's words), `read` (files read safely),
//! `context` (what every section's reading shares), `when` (schedule and rule keys),
//! `secret`, `problem`, `names` (maps keyed by job name, with a cheap hasher). `model` is
//! the `Config` they make, `job` a job of any kind.

mod channels;
mod context;
mod defaults;
mod depends;
mod email;
mod explain;
mod files;
mod general;
mod job;
mod jobs;
mod load;
mod logging;
mod maintenance;
mod metrics;
mod model;
mod names;
mod parse;
mod peers;
mod problem;
#[cfg(test)]
mod proptests;
mod read;
mod secret;
mod serve;
mod status_page;
mod when;

pub use channels::commands::CommandChannel;
pub use channels::pushover::{limits as pushover_limits, Pushover};
pub use channels::webhooks::{Webhook, WebhookFormat};
pub use channels::Channel;
pub use context::{nearest, CRON_PATH};
pub use email::{Email, Security};
pub use general::General;
pub use job::{
    CommandSpec, Confirm, DnsRecord, DnsSpec, FileSpec, HttpSpec, Job, JobKind, PassiveSpec,
    PeerSpec, PeerTarget, TcpSpec, TlsCertSpec, UnknownCounts,
};
pub use load::{
    load, load_checked, load_with, locate, read_settings_text, state_file_hint, LoadOptions,
};
pub use logging::{Level, Logging};
pub use maintenance::Maintenance;
pub use metrics::Metrics;
pub use model::Config;
pub use names::{ByName, NameHasher};
pub use problem::{ConfigError, Problem, SourceLoc};
#[cfg(test)]
pub(crate) use proptests::config as proptest_config;
pub use secret::Secret;
pub use serve::Serve;
pub use status_page::StatusPage;
pub use when::{NotifyEvery, Rules, DEFAULT_RULES};
