//! Configuration: `settings.toml` plus every `*.toml` in `jobs_dir`, read into serde
//! structs that refuse unknown keys, then validated into the model the rest works from.

mod model;

pub use model::*;
