//! Configuration: `settings.toml` plus every `*.toml` in `jobs_dir`, read into serde
//! structs that refuse unknown keys, then validated into the model the rest works from.

mod channels;
mod load;
mod model;
mod raw;
mod targets;

pub use channels::{Pushover, Webhook, WebhookFormat};
#[cfg(test)]
pub(crate) use load::proptest_config;
pub use load::{load, locate, nearest, ConfigError, Problem};
pub use model::*;
