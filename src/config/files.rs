//! The two kinds of file, as written: the settings (one table per section) and a job file
//! (`[[job]]` tables), each a serde struct that refuses unknown keys, and the [`Schema`]
//! parsing walks to report every bad key.

use serde::Deserialize;
use toml::Spanned;

use super::channels::commands::RawCommandChannel;
use super::channels::pushover::RawPushover;
use super::channels::webhooks::RawWebhook;
use super::context::S;
use super::defaults::RawDefaults;
use super::email::RawEmail;
use super::general::RawGeneral;
use super::jobs::raw::RawJob;
use super::logging::RawLogging;
use super::maintenance::RawMaintenance;
use super::metrics::RawMetrics;
use super::parse::{check_as, fields_of, Schema};
use super::peers::RawPeer;
use super::serve::RawServe;
use super::status_page::RawStatusPage;

/// The settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    #[serde(default)]
    pub general: RawGeneral,
    #[serde(default)]
    pub logging: RawLogging,
    pub email: Option<RawEmail>,
    #[serde(default)]
    pub defaults: RawDefaults,
    #[serde(default)]
    pub commands: Vec<S<RawCommandChannel>>,
    #[serde(default)]
    pub peers: Vec<S<RawPeer>>,
    pub serve: Option<RawServe>,
    pub pushover: Option<RawPushover>,
    #[serde(default)]
    pub webhooks: Vec<S<RawWebhook>>,
    pub metrics: Option<RawMetrics>,
    #[serde(default)]
    pub maintenance: Vec<S<RawMaintenance>>,
    pub status_page: Option<RawStatusPage>,
}

/// A file of `jobs_dir`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobFile {
    #[serde(default)]
    pub job: Vec<Spanned<RawJob>>,
}

macro_rules! schema {
    ($name:expr, $ty:ty, [$(($key:expr, $child:expr)),* $(,)?]) => {
        Schema {
            name: $name,
            keys: fields_of::<$ty>,
            check: check_as::<$ty>,
            children: &[$(($key, $child)),*],
        }
    };
}

/// The `jobs_dir` files: `[[job]]` tables.
pub static JOB_FILE: Schema = schema!("the top level", RawJobFile, [("job", &JOB)]);
static JOB: Schema = schema!("[[job]]", RawJob, []);

/// The settings file.
pub static SETTINGS: Schema = schema!(
    "the top level",
    RawSettings,
    [
        ("general", &GENERAL),
        ("logging", &LOGGING),
        ("email", &EMAIL),
        ("defaults", &DEFAULTS),
        ("commands", &COMMANDS),
        ("peers", &PEERS),
        ("serve", &SERVE),
        ("pushover", &PUSHOVER),
        ("webhooks", &WEBHOOKS),
        ("metrics", &METRICS),
        ("maintenance", &MAINTENANCE),
        ("status_page", &STATUS_PAGE),
    ]
);
static GENERAL: Schema = schema!("[general]", RawGeneral, []);
static LOGGING: Schema = schema!("[logging]", RawLogging, []);
static EMAIL: Schema = schema!("[email]", RawEmail, []);
static DEFAULTS: Schema = schema!("[defaults]", RawDefaults, []);
static COMMANDS: Schema = schema!("[[commands]]", RawCommandChannel, []);
static PEERS: Schema = schema!("[[peers]]", RawPeer, []);
static SERVE: Schema = schema!("[serve]", RawServe, []);
static PUSHOVER: Schema = schema!("[pushover]", RawPushover, []);
static WEBHOOKS: Schema = schema!("[[webhooks]]", RawWebhook, []);
static METRICS: Schema = schema!("[metrics]", RawMetrics, []);
static MAINTENANCE: Schema = schema!("[[maintenance]]", RawMaintenance, []);
static STATUS_PAGE: Schema = schema!("[status_page]", RawStatusPage, []);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_structs_themselves() {
        let job = fields_of::<RawJob>();
        assert!(
            job.contains(&"expect_every") && job.contains(&"url"),
            "{job:?}"
        );
        assert!(fields_of::<RawSettings>().contains(&"webhooks"));
        assert!(fields_of::<RawPushover>().contains(&"api_url"));
        assert!(fields_of::<RawJobFile>() == ["job"]);
    }

    #[test]
    fn every_table_of_the_settings_has_a_schema() {
        let children: Vec<&str> = SETTINGS.children.iter().map(|(k, _)| *k).collect();
        let mut fields: Vec<&str> = fields_of::<RawSettings>().to_vec();
        fields.sort_unstable();
        let mut children_sorted = children.clone();
        children_sorted.sort_unstable();
        assert_eq!(
            children_sorted, fields,
            "a new settings section needs its schema here"
        );
    }
}
