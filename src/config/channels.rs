//! The HTTP notification channels in the settings, `[pushover]` and `[[webhooks]]`: as
//! written (serde structs that refuse unknown keys) and as validated (secrets resolved,
//! templates checked). The checking itself is in `load/http_channels.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::model::Secret;
use super::raw::S;
use crate::notify::template::Templates;

/// `[pushover]`, validated.
#[derive(Debug, Clone)]
pub struct Pushover {
    /// The application's API token.
    pub token: Secret,
    /// The user (or group) key alerts go to.
    pub user: Secret,
    /// −2..2; failures and tests go out at it, recoveries at most at 0.
    pub priority: i8,
    pub sound: Option<String>,
    pub device: Option<String>,
    /// A supplementary URL shown with the message, and its title.
    pub url: Option<String>,
    pub url_title: Option<String>,
    /// Priority 2 only: seconds between repeats (≥ 30) and until they stop (≤ 10800).
    pub retry: Option<u32>,
    pub expire: Option<u32>,
    pub api_url: String,
    pub timeout: Duration,
    pub templates: Templates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Slack,
    Discord,
    Ntfy,
    Generic,
}

impl WebhookFormat {
    pub const NAMES: &'static [&'static str] = &["slack", "discord", "ntfy", "generic"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "slack" => Some(WebhookFormat::Slack),
            "discord" => Some(WebhookFormat::Discord),
            "ntfy" => Some(WebhookFormat::Ntfy),
            "generic" => Some(WebhookFormat::Generic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Ntfy => "ntfy",
            WebhookFormat::Generic => "generic",
        }
    }
}

/// One `[[webhooks]]` table, validated.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The channel name jobs use in `notify`.
    pub name: String,
    /// Secret: webhook URLs usually carry their key in the path or query.
    pub url: Secret,
    pub format: WebhookFormat,
    /// Extra request headers; their values may be credentials.
    pub headers: Vec<(String, Secret)>,
    /// ntfy only: an access token, sent as `Authorization: Bearer`.
    pub token: Option<Secret>,
    /// ntfy only: 1..5 for failures (default 4); recoveries at most 3.
    pub priority: Option<u8>,
    pub timeout: Duration,
    pub templates: Templates,
}

/// Seconds as a number (`60`) or a duration (`"1m"`).
pub type RawSeconds = S<toml::Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPushover {
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub user: Option<String>,
    pub user_env: Option<S<String>>,
    pub user_file: Option<S<String>>,
    pub priority: Option<S<i64>>,
    pub sound: Option<S<String>>,
    pub device: Option<S<String>>,
    pub url: Option<S<String>>,
    pub url_title: Option<S<String>>,
    pub retry: Option<RawSeconds>,
    pub expire: Option<RawSeconds>,
    pub api_url: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub title_template: Option<S<String>>,
    pub body_template: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: Option<S<String>>,
    pub url: Option<S<String>>,
    pub url_env: Option<S<String>>,
    pub url_file: Option<S<String>>,
    pub format: Option<S<String>>,
    pub headers: Option<S<BTreeMap<String, String>>>,
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub priority: Option<S<i64>>,
    pub timeout: Option<S<String>>,
    pub title_template: Option<S<String>>,
    pub body_template: Option<S<String>>,
}
