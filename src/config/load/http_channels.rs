//! Validation of `[pushover]` and `[[webhooks]]`: secrets resolved, limits of the services
//! enforced, names kept unique, templates checked; every problem with its line.

use std::path::Path;
use std::time::Duration;

use super::{secret, section_line, FileCtx};
use crate::config::channels::{
    Pushover, RawPushover, RawSeconds, RawWebhook, Webhook, WebhookFormat,
};
use crate::config::raw::S;
use crate::config::Secret;
use crate::notify::pushover::{DEFAULT_API_URL, EXPIRE_MAX, RETRY_MIN, URL_MAX};
use crate::notify::template::{Template, Templates};

/// Checks a template and keeps it; a bad one is reported at its key's line.
fn template(
    cx: &mut FileCtx<'_>,
    table: &str,
    key: &'static str,
    v: Option<&S<String>>,
) -> Option<Template> {
    let v = v?;
    let t = Template::new(key, v.get_ref().clone()).at(table, cx.lines.line(v.span().start));
    if let Err(e) = t.check() {
        cx.at(v.span().start, format!("{table} `{key}`: {e}"));
    }
    Some(t)
}

pub(super) fn templates(
    cx: &mut FileCtx<'_>,
    table: &str,
    title: Option<&S<String>>,
    body: Option<&S<String>>,
) -> Templates {
    Templates {
        title: template(cx, table, "title_template", title),
        body: template(cx, table, "body_template", body),
    }
}

/// Whether `url` is an absolute http(s) URL with a host.
fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

fn timeout(cx: &mut FileCtx<'_>, table: &str, v: Option<&S<String>>) -> Duration {
    let Some(v) = v else {
        return Duration::from_secs(10);
    };
    match cx.duration("timeout", v) {
        Some(d) if d.is_zero() => {
            cx.at(
                v.span().start,
                format!("{table} `timeout` must be more than 0s"),
            );
            Duration::from_secs(10)
        }
        Some(d) => d,
        None => Duration::from_secs(10),
    }
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
pub(super) fn resolve_pushover(
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
        timeout: timeout(cx, "[pushover]", p.timeout.as_ref()),
        templates: templates(
            cx,
            "[pushover]",
            p.title_template.as_ref(),
            p.body_template.as_ref(),
        ),
    })
}

/// `[[webhooks]]`. `taken` are the channel names already in use (email, commands,
/// pushover); each webhook's name must differ from them and from the others'.
pub(super) fn resolve_webhooks(
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
            timeout: timeout(cx, &table, w.timeout.as_ref()),
            templates: templates(
                cx,
                &table,
                w.title_template.as_ref(),
                w.body_template.as_ref(),
            ),
        });
    }
    out
}

/// Both channel kinds. A `[[commands]]` channel named "pushover" next to `[pushover]` is
/// a clash too.
pub(super) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: &crate::config::raw::RawSettings,
    commands: &[crate::config::CommandChannel],
) -> (Option<Pushover>, Vec<Webhook>) {
    let pushover = resolve_pushover(cx, base, raw.pushover.as_ref());
    let mut taken: Vec<String> = vec!["email".to_string()];
    taken.extend(commands.iter().map(|c| c.name.clone()));
    if pushover.is_some() {
        if commands.iter().any(|c| c.name == "pushover") {
            let line = section_line(cx.src, "[pushover]");
            cx.at_line(line, "[pushover] and a [[commands]] channel named \"pushover\" clash: rename the command");
        }
        taken.push("pushover".to_string());
    }
    let webhooks = resolve_webhooks(cx, base, &raw.webhooks, &taken);
    (pushover, webhooks)
}
