//! `[pushover]`: the channel "pushover", through Pushover's Message API, with the limits
//! the service publishes.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::context::{is_http_url, section_line, FileCtx, S};
use crate::config::secret::{secret, Secret};
use crate::template::Templates;

/// The channel name of `[pushover]`.
pub const PUSHOVER: &str = "pushover";

/// Pushover's published limits and its API, which `[pushover]` is checked against and
/// the channel (`notify::pushover`) sends within.
pub mod limits {
    /// Pushover's published limits, in characters.
    pub const MESSAGE_MAX: usize = 1024;
    pub const TITLE_MAX: usize = 250;
    pub const URL_MAX: usize = 512;
    pub const URL_TITLE_MAX: usize = 100;
    /// Emergency priority: retry at least every 30 s, stop after at most 3 hours.
    pub const RETRY_MIN: u32 = 30;
    pub const EXPIRE_MAX: u32 = 10_800;
    pub const DEFAULT_API_URL: &str = "https://api.pushover.net/1/messages.json";
}

use limits::{DEFAULT_API_URL, EXPIRE_MAX, RETRY_MIN, URL_MAX};

/// A request to Pushover that takes longer fails (and is retried).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// `digest` as written: `None` takes `[defaults] digest` (`Config::digest`).
    pub digest: Option<bool>,
}

/// Seconds as a number (`60`) or a duration (`"1m"`).
pub type RawSeconds = S<toml::Value>;

/// `[pushover]`, as written.
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
    pub digest: Option<bool>,
}

fn seconds(cx: &mut FileCtx<'_>, key: &str, v: &RawSeconds) -> Option<u32> {
    let n = match v.get_ref() {
        toml::Value::Integer(n) => Some(*n),
        toml::Value::String(s) => crate::duration::parse(s).ok().map(|d| d.as_secs() as i64),
        _ => None,
    };
    match n {
        Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
        _ => {
            cx.at(
                v.span().start,
                format!("[pushover] `{key}` takes seconds, e.g. {key} = 60 or {key} = \"5m\""),
            );
            None
        }
    }
}

/// `[pushover]`: `None` when the section is absent.
pub(in crate::config) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: Option<&RawPushover>,
) -> Option<Pushover> {
    let p = raw?;
    let line = section_line(cx.src, "[pushover]");
    // `given`: the key was given some way, so a `None` has been reported already.
    let need = |cx: &mut FileCtx<'_>, key: &str, given: bool, s: Option<Secret>| -> Secret {
        match s {
            Some(s) if !s.is_empty() && !s.expose().chars().any(char::is_whitespace) => s,
            Some(s) if !s.is_empty() => {
                cx.at_line(line, format!("[pushover] `{key}` contains white space: Pushover keys are letters and digits"));
                s
            }
            Some(s) => {
                cx.at_line(line, format!("[pushover] `{key}` is empty"));
                s
            }
            None if given => Secret::default(),
            None => {
                cx.at_line(
                    line,
                    format!("[pushover] needs `{key}` (or `{key}_env`, `{key}_file`)"),
                );
                Secret::default()
            }
        }
    };
    let token = secret(
        cx,
        base,
        "token",
        p.token.as_ref(),
        p.token_env.as_ref(),
        p.token_file.as_ref(),
    );
    let given = p.token.is_some() || p.token_env.is_some() || p.token_file.is_some();
    let token = need(cx, "token", given, token);
    let user = secret(
        cx,
        base,
        "user",
        p.user.as_ref(),
        p.user_env.as_ref(),
        p.user_file.as_ref(),
    );
    let given = p.user.is_some() || p.user_env.is_some() || p.user_file.is_some();
    let user = need(cx, "user", given, user);
    let priority = cx.ranged_or("priority", &p.priority, -2, 2, 0) as i8;
    let retry = p.retry.as_ref().and_then(|v| seconds(cx, "retry", v));
    let expire = p.expire.as_ref().and_then(|v| seconds(cx, "expire", v));
    if priority == 2 {
        match (&p.retry, retry) {
            (None, _) => cx.at_line(
                line,
                format!("[pushover] priority 2 (emergency) needs `retry`: seconds between repeats, at least {RETRY_MIN}"),
            ),
            (Some(v), Some(r)) if r < RETRY_MIN => {
                cx.at(v.span().start, format!("[pushover] `retry` = {r}s is below Pushover's minimum of {RETRY_MIN}s"))
            }
            _ => {}
        }
        match (&p.expire, expire) {
            (None, _) => cx.at_line(
                line,
                format!("[pushover] priority 2 (emergency) needs `expire`: seconds until repeats stop, at most {EXPIRE_MAX}"),
            ),
            (Some(v), Some(e)) if e == 0 || e > EXPIRE_MAX => cx.at(
                v.span().start,
                format!("[pushover] `expire` = {e}s is out of range: Pushover accepts 1 to {EXPIRE_MAX} seconds (3 hours)"),
            ),
            _ => {}
        }
    } else if let Some(v) = p.retry.as_ref().or(p.expire.as_ref()) {
        cx.at(v.span().start, "[pushover] `retry` and `expire` apply only to priority 2 (emergency): remove them or set priority = 2");
    }
    let api_url = match &p.api_url {
        Some(v) if !is_http_url(v.get_ref()) => {
            cx.at(
                v.span().start,
                "[pushover] `api_url` must be an http:// or https:// URL",
            );
            DEFAULT_API_URL.to_string()
        }
        Some(v) => v.get_ref().clone(),
        None => DEFAULT_API_URL.to_string(),
    };
    let text = |cx: &mut FileCtx<'_>, key: &str, v: &Option<S<String>>| -> Option<String> {
        let v = v.as_ref()?;
        if v.get_ref().trim().is_empty() {
            cx.at(
                v.span().start,
                format!("[pushover] `{key}` is empty: remove it or give a value"),
            );
            return None;
        }
        Some(v.get_ref().clone())
    };
    let url = text(cx, "url", &p.url);
    if let (Some(u), Some(v)) = (&url, &p.url) {
        if u.chars().count() > URL_MAX {
            cx.at(
                v.span().start,
                format!("[pushover] `url` is longer than Pushover's {URL_MAX} characters"),
            );
        }
    }
    Some(Pushover {
        token,
        user,
        priority,
        sound: text(cx, "sound", &p.sound),
        device: text(cx, "device", &p.device),
        url,
        url_title: text(cx, "url_title", &p.url_title),
        retry,
        expire,
        api_url,
        timeout: cx.timeout_or("[pushover]", p.timeout.as_ref(), DEFAULT_TIMEOUT),
        templates: cx.templates(
            "[pushover]",
            p.title_template.as_ref(),
            p.body_template.as_ref(),
        ),
        digest: p.digest,
    })
}
