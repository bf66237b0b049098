//! `[[webhooks]]`: channels that POST each alert to a URL, in the shape a service reads
//! (Slack, Discord, ntfy, Prometheus Alertmanager) or as generic JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::context::{is_http_url, FileCtx, S};
use crate::config::secret::{secret, Secret};
use crate::template::Templates;

/// A request that takes longer fails (and is retried).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Alertmanager: a firing alert is posted again at least this often (its `resend`).
pub const DEFAULT_RESEND: Duration = Duration::from_secs(60);
/// The bounds of `resend`: more often than cron's minute has no effect, and a firing
/// alert not posted again for a day would be a lost one.
const RESEND_MIN: Duration = Duration::from_secs(1);
const RESEND_MAX: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Slack,
    Discord,
    Ntfy,
    Generic,
    /// Prometheus Alertmanager's v2 API.
    Alertmanager,
}

impl WebhookFormat {
    pub const NAMES: &'static [&'static str] =
        &["slack", "discord", "ntfy", "generic", "alertmanager"];

    /// Whether the format can carry a digest (several alerts in one request). Every
    /// chat and generic format can; a format whose receiver wants each alert on its own
    /// (Alertmanager's API takes alerts one by one, each with its labels) answers
    /// false, and `digest` is ignored for it (docs/channels.md says so).
    pub fn digests(self) -> bool {
        match self {
            WebhookFormat::Slack
            | WebhookFormat::Discord
            | WebhookFormat::Ntfy
            | WebhookFormat::Generic => true,
            WebhookFormat::Alertmanager => false,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "slack" => Some(WebhookFormat::Slack),
            "discord" => Some(WebhookFormat::Discord),
            "ntfy" => Some(WebhookFormat::Ntfy),
            "generic" => Some(WebhookFormat::Generic),
            "alertmanager" => Some(WebhookFormat::Alertmanager),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Slack => "slack",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Ntfy => "ntfy",
            WebhookFormat::Generic => "generic",
            WebhookFormat::Alertmanager => "alertmanager",
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
    /// Alertmanager only: a still-firing alert is posted again at least this often.
    pub resend: Duration,
    /// `digest` as written: `None` takes `[defaults] digest` (`Config::digest`).
    pub digest: Option<bool>,
}

/// One `[[webhooks]]` table, as written.
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
    pub resend: Option<S<String>>,
    pub digest: Option<bool>,
}

/// `[[webhooks]]`. `taken` are the channel names already in use (email, commands,
/// pushover); each webhook's name must differ from them and from the others'.
pub(in crate::config) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: &[S<RawWebhook>],
    taken: &[String],
) -> Vec<Webhook> {
    let mut out: Vec<Webhook> = Vec::new();
    for r in raw {
        let at = r.span().start;
        let w = r.get_ref();
        let Some(name) = w
            .name
            .as_ref()
            .map(|n| n.get_ref().trim().to_string())
            .filter(|n| !n.is_empty())
        else {
            cx.at(at, "[[webhooks]] needs a `name`: the channel name jobs list in `notify`, e.g. name = \"ops-slack\"");
            continue;
        };
        let table = format!("[[webhooks]] {name:?}:");
        let name_at = w.name.as_ref().map_or(at, |n| n.span().start);
        if taken.contains(&name) || out.iter().any(|o| o.name == name) {
            cx.at(
                name_at,
                format!("{table} the name is already taken: channel names must be unique"),
            );
        }
        let url = secret(
            cx,
            base,
            "url",
            w.url.as_ref().map(S::get_ref),
            w.url_env.as_ref(),
            w.url_file.as_ref(),
        );
        let url = match url {
            None if w.url.is_none() && w.url_env.is_none() && w.url_file.is_none() => {
                cx.at(
                    at,
                    format!("{table} needs `url` (or `url_env`, `url_file`)"),
                );
                Secret::default()
            }
            None => Secret::default(),
            // The URL is a secret: say what is wrong without showing it.
            Some(u) if !is_http_url(u.expose()) => {
                let where_ = w
                    .url
                    .as_ref()
                    .or(w.url_env.as_ref())
                    .or(w.url_file.as_ref())
                    .map_or(at, |v| v.span().start);
                cx.at(
                    where_,
                    format!("{table} `url` is not an http:// or https:// URL"),
                );
                u
            }
            Some(u) => u,
        };
        let format = match &w.format {
            None => WebhookFormat::Generic,
            Some(f) => cx
                .choice("format", f, WebhookFormat::parse, WebhookFormat::NAMES)
                .unwrap_or(WebhookFormat::Generic),
        };
        let token = secret(
            cx,
            base,
            "token",
            w.token.as_ref(),
            w.token_env.as_ref(),
            w.token_file.as_ref(),
        );
        if token.is_some() && format != WebhookFormat::Ntfy {
            let line_at = w
                .token_env
                .as_ref()
                .or(w.token_file.as_ref())
                .map_or(at, |v| v.span().start);
            cx.at(line_at, format!("{table} `token` applies only to format = \"ntfy\"; for other services put credentials in `url` or `headers`"));
        }
        if let Some(t) = &token {
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", t.expose())).is_err() {
                cx.at(
                    at,
                    format!("{table} `token` holds characters an HTTP header cannot carry"),
                );
            }
        }
        let priority = match &w.priority {
            None => None,
            Some(v) if format != WebhookFormat::Ntfy => {
                cx.at(
                    v.span().start,
                    format!("{table} `priority` applies only to format = \"ntfy\""),
                );
                None
            }
            Some(v) => cx.ranged("priority", v, 1, 5).map(|p| p as u8),
        };
        let resend = match &w.resend {
            None => DEFAULT_RESEND,
            Some(v) if format != WebhookFormat::Alertmanager => {
                cx.at(
                    v.span().start,
                    format!("{table} `resend` applies only to format = \"alertmanager\""),
                );
                DEFAULT_RESEND
            }
            Some(v) => match cx.duration("resend", v) {
                Some(d) if (RESEND_MIN..=RESEND_MAX).contains(&d) => d,
                Some(_) => {
                    cx.at(
                        v.span().start,
                        format!("{table} `resend` must be from 1s to 1d (Alertmanager forgets an alert not posted again within its resolve_timeout, 5m by default)"),
                    );
                    DEFAULT_RESEND
                }
                None => DEFAULT_RESEND,
            },
        };
        if format == WebhookFormat::Alertmanager {
            for t in [&w.title_template, &w.body_template].into_iter().flatten() {
                cx.at(
                    t.span().start,
                    format!("{table} templates do not apply to format = \"alertmanager\": it posts labels and annotations (see docs/channels.md)"),
                );
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = &w.headers {
            for (k, v) in h.get_ref() {
                let name_ok = reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok();
                let value_ok = reqwest::header::HeaderValue::from_str(v).is_ok();
                if !name_ok {
                    cx.at(
                        h.span().start,
                        format!("{table} `headers`: {k:?} is not a valid HTTP header name"),
                    );
                } else if !value_ok {
                    cx.at(h.span().start, format!("{table} `headers`: the value of {k:?} is not a valid HTTP header value"));
                } else {
                    headers.push((k.clone(), Secret::new(v.clone())));
                }
            }
        }
        out.push(Webhook {
            name,
            url,
            format,
            headers,
            token,
            priority,
            timeout: cx.timeout_or(&table, w.timeout.as_ref(), DEFAULT_TIMEOUT),
            templates: cx.templates(&table, w.title_template.as_ref(), w.body_template.as_ref()),
            resend,
            digest: w.digest,
        });
    }
    out
}
