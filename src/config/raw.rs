//! The file formats as written: serde structs that refuse unknown keys. Values stay raw
//! (durations as text, spans kept) so validation can report every problem with its line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

/// A string or a list of strings (`alertcontact`, `contact`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

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
    pub pushover: Option<super::channels::RawPushover>,
    #[serde(default)]
    pub webhooks: Vec<S<super::channels::RawWebhook>>,
}

/// One `[[peers]]` table: becomes a job named `peer <name>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    pub name: Option<S<String>>,
    pub url: Option<S<String>>,
    pub command: Option<S<Vec<String>>>,
    pub admin: Option<S<OneOrMany>>,
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub frequency: Option<S<String>>,
    pub every: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub failures_before_notify: Option<S<i64>>,
    pub failing_for: Option<S<String>>,
    pub notify_every: Option<S<String>>,
    pub notify: Option<S<Vec<String>>>,
    pub notify_recovery: Option<bool>,
    pub accept_invalid_certs: Option<bool>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// `[serve]`: the status server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    pub listen: Option<S<String>>,
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub max_connections: Option<S<i64>>,
    pub header_timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneral {
    pub servername: Option<String>,
    pub alertcontact: Option<S<OneOrMany>>,
    pub state_file: Option<String>,
    pub jobs_dir: Option<S<String>>,
    pub history_dir: Option<String>,
    pub history_days: Option<S<i64>>,
    pub history_db: Option<String>,
    pub history_archive_dir: Option<String>,
    pub history_keep_last: Option<S<i64>>,
    pub rollup_hours_days: Option<S<i64>>,
    pub rollup_days: Option<S<i64>>,
    pub max_concurrency: Option<S<i64>>,
    pub tick_deadline: Option<S<String>>,
    pub stale_after: Option<S<String>>,
    pub lock_timeout: Option<S<String>>,
    pub delivery_retry: Option<S<String>>,
    pub undeliverable_after: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    pub file: Option<String>,
    pub max_bytes: Option<S<i64>>,
    pub backups: Option<S<i64>>,
    pub file_level: Option<S<String>>,
    pub stderr_level: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub enabled: Option<bool>,
    pub from: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<S<String>>,
    pub password_file: Option<S<String>>,
    pub title_template: Option<S<String>>,
    pub body_template: Option<S<String>>,
    pub imap_user: Option<String>,
    pub imap_password: Option<String>,
    pub imap_password_env: Option<S<String>>,
    pub imap_password_file: Option<S<String>>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<S<i64>>,
    pub smtp_security: Option<S<String>>,
    pub imap_host: Option<String>,
    pub imap_port: Option<S<i64>>,
    pub imap_security: Option<S<String>>,
    pub imap_mailbox: Option<String>,
    pub self_check: Option<S<String>>,
    pub self_check_wait: Option<S<String>>,
    pub ca_file: Option<String>,
    pub accept_invalid_certs: Option<bool>,
    pub bust_threading: Option<bool>,
    pub timeout: Option<S<String>>,
}

/// `[defaults]`: the job keys that make sense for every job.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub frequency: Option<S<String>>,
    pub every: Option<S<String>>,
    pub notify_every: Option<S<String>>,
    pub failures_before_notify: Option<S<i64>>,
    pub failing_for: Option<S<String>>,
    pub notify: Option<S<Vec<String>>>,
    pub contact: Option<S<OneOrMany>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub retry_backoff: Option<S<String>>,
    pub notify_recovery: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandChannel {
    pub name: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub timeout: Option<S<String>>,
}

/// One `[[job]]` table. Every key of every kind is here; which keys apply to which kind
/// is checked in validation, so a key of the wrong kind is an error with its line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub frequency: Option<String>,
    pub every: Option<String>,
    pub notify_every: Option<String>,
    pub failures_before_notify: Option<i64>,
    pub failing_for: Option<String>,
    pub notify: Option<Vec<String>>,
    pub contact: Option<OneOrMany>,
    pub notify_recovery: Option<bool>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub retry_backoff: Option<String>,
    /// One job per target, `{target}` replaced in every string (SPEC §3).
    pub targets: Option<Vec<String>>,
    // http
    pub url: Option<String>,
    pub method: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    pub expect_status: Option<StatusList>,
    pub contains: Option<String>,
    pub max_response_time: Option<String>,
    pub follow_redirects: Option<bool>,
    pub accept_invalid_certs: Option<bool>,
    pub not_contains: Option<String>,
    /// JSON pointer -> expected value.
    pub json: Option<toml::Table>,
    // tcp (and tls_cert)
    pub host: Option<String>,
    pub port: Option<i64>,
    // tls_cert
    pub sni: Option<String>,
    pub warn_days: Option<i64>,
    pub verify: Option<bool>,
    pub ca_file: Option<String>,
    // command
    pub command: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub cwd: Option<String>,
    pub warning_is_failure: Option<bool>,
    // file
    pub path: Option<String>,
    pub max_age: Option<String>,
    pub min_size: Option<i64>,
    // dns
    pub query: Option<String>,
    pub record: Option<String>,
    pub expect: Option<TextList>,
    pub server: Option<String>,
    // passive
    pub expect_every: Option<String>,
    pub grace: Option<String>,
}

/// A text or a list of texts (a dns job's `expect`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TextList {
    One(String),
    Many(Vec<String>),
}

impl TextList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            TextList::One(s) => vec![s],
            TextList::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusList {
    One(i64),
    Many(Vec<i64>),
}

/// Keys every job kind accepts.
pub const COMMON_JOB_KEYS: &[&str] = &[
    "name",
    "kind",
    "description",
    "enabled",
    "frequency",
    "every",
    "notify_every",
    "failures_before_notify",
    "failing_for",
    "notify",
    "contact",
    "notify_recovery",
    "timeout",
    "retries",
    "retry_backoff",
    "targets",
];

/// The job kinds and the keys each adds to the common ones.
pub const KIND_KEYS: &[(&str, &[&str])] = &[
    (
        "http",
        &[
            "url",
            "method",
            "headers",
            "body",
            "expect_status",
            "contains",
            "max_response_time",
            "follow_redirects",
            "accept_invalid_certs",
            "not_contains",
            "json",
            "ca_file",
        ],
    ),
    ("tcp", &["host", "port"]),
    ("command", &["command", "env", "cwd", "warning_is_failure"]),
    (
        "tls_cert",
        &["host", "port", "sni", "warn_days", "verify", "ca_file"],
    ),
    ("file", &["path", "max_age", "min_size"]),
    ("dns", &["query", "record", "expect", "server"]),
    ("passive", &["expect_every", "grace"]),
];

pub fn kind_keys(kind: &str) -> Option<&'static [&'static str]> {
    KIND_KEYS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, keys)| *keys)
}
