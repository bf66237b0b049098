//! The one POST of every `[[webhooks]]` format: the payload a format builds (`webhook`,
//! `alertmanager`), sent with the webhook's headers, every configured secret kept out of
//! what is logged or returned. Below both formats' builders, so neither imports the other
//! to send.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::http::{self, redact};
use super::DeliveryError;
use crate::config::Webhook;

/// The request a webhook sends: body, content type and extra headers (before the
/// configured `headers`).
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Everything of `w` that must not show in a message.
fn secrets(w: &Webhook) -> Vec<String> {
    let mut s = http::url_secrets(&w.url);
    if let Some(t) = &w.token {
        s.push(t.expose().to_string());
    }
    s.extend(w.headers.iter().map(|(_, v)| v.expose().to_string()));
    s
}

/// The request headers: the payload's, then the configured ones, which replace any of the
/// same name (a `Content-Type` of one's own, say). Every value is marked sensitive.
/// Fails with the name of a header whose value cannot be sent.
pub(super) fn header_map(w: &Webhook, p: &Payload) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    let ours = std::iter::once(("Content-Type", p.content_type.to_string()))
        .chain(p.headers.iter().map(|(k, v)| (*k, v.clone())));
    let configured = w
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose().to_string()));
    for (k, v) in ours.chain(configured) {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| k.to_string())?;
        let mut value = HeaderValue::from_str(&v).map_err(|_| k.to_string())?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// POSTs payload `p` (a `what_kind` alert, for the log) to `url` (the webhook's, or one
/// made from it) with the webhook's headers; every configured secret is kept out of the
/// error.
pub async fn post(
    w: &Webhook,
    url: &crate::config::Secret,
    p: Payload,
    what_kind: &str,
) -> Result<(), DeliveryError> {
    let secrets = secrets(w);
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let scrub = |e: DeliveryError| match e {
        DeliveryError::Transient(m) => DeliveryError::Transient(redact(&m, &secret_refs)),
        DeliveryError::Permanent(m) => DeliveryError::Permanent(redact(&m, &secret_refs)),
    };
    let origin = http::origin(url.expose());
    let what = format!("webhook {} ({origin})", w.name);
    log::debug!(
        "{what}: POST {} {what_kind} alert, {} bytes",
        w.format.as_str(),
        p.body.len()
    );
    let client = http::client(w.timeout).map_err(scrub)?;
    let headers = header_map(w, &p).map_err(|k| {
        DeliveryError::Permanent(format!("{what}: header {k} has a value HTTP cannot carry"))
    })?;
    let req = client.post(url.expose()).headers(headers).body(p.body);
    let answer = http::send(req, &what).await.map_err(scrub)?;
    let detail = match http::snippet(&answer.body) {
        s if s.is_empty() => format!("{what}: HTTP {}", answer.status),
        s => format!("{what}: HTTP {}: {s}", answer.status),
    };
    http::classify(answer.status, detail).map_err(scrub)
}
