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
pub use load::{
    load, load_checked, load_with, locate, nearest, read_settings_text, ConfigError, LoadOptions,
    Problem, CRON_PATH, DEFAULT_RULES,
};
pub use model::*;
