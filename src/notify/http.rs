//! What the HTTP channels (Pushover, webhooks) share: the client, sending one request
//! with its outcome sorted into transient and permanent, and keeping secrets out of every
//! message, since delivery errors end up in logs, history and the state file.

use std::error::Error as StdError;
use std::time::Duration;

use super::DeliveryError;
use crate::config::Secret;

/// What a service answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Most of an answer body kept for error messages.
const BODY_KEEP: usize = 64 * 1024;

/// `scheme://host[:port]` of a URL, the only part of a webhook URL that is ever shown:
/// the path and query of Slack, Discord and many other webhooks are the credential.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => format!("{}://?", u.scheme()),
        },
        Err(_) => "(an unparsable URL)".to_string(),
    }
}

/// One line per HTTP channel for `validate`: where it posts, shown as scheme and host only.
pub fn describe_channels(config: &crate::config::Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &config.pushover {
        out.push(format!(
            "pushover: via {}, priority {}",
            origin(&p.api_url),
            p.priority
        ));
    }
    for w in &config.webhooks {
        out.push(format!(
            "{}: {} webhook via {}",
            w.name,
            w.format.as_str(),
            origin(w.url.expose())
        ));
    }
    out
}

/// Replaces every secret in `text` with `***`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "***");
    }
    out
}

/// Secrets of a URL worth redacting: the whole URL, and its path and query on their own
/// (a service may echo either).
pub fn url_secrets(url: &Secret) -> Vec<String> {
    let mut out = vec![url.expose().to_string()];
    if let Ok(u) = reqwest::Url::parse(url.expose()) {
        if u.path().len() > 1 {
            out.push(u.path().to_string());
        }
        if let Some(q) = u.query() {
            out.push(q.to_string());
        }
        if let Some(p) = u.password() {
            out.push(p.to_string());
        }
    }
    out
}

pub fn client(timeout: Duration) -> Result<reqwest::Client, DeliveryError> {
    reqwest::Client::builder()
        // A redirected POST turns into a GET on 301/302 and would be lost silently.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("checker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            DeliveryError::Transient(format!("cannot set up the HTTP client: {}", describe(e)))
        })
}

/// Sends `req` and reads the answer. Network trouble is transient; the status is left to
/// the caller, whose service decides what a 4xx means.
pub async fn send(req: reqwest::RequestBuilder, what: &str) -> Result<Answer, DeliveryError> {
    let resp = req
        .send()
        .await
        .map_err(|e| DeliveryError::Transient(format!("{what}: {}", describe(e))))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    let mut resp = resp;
    // Capped: a misbehaving endpoint cannot make a delivery hold megabytes.
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let room = BODY_KEEP.saturating_sub(body.len());
                body.extend_from_slice(&c[..c.len().min(room)]);
                if room <= c.len() {
                    break;
                }
            }
            Ok(None) => break,
            // The status is what counts; a body cut short only shortens the message.
            Err(_) => break,
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A reqwest error in words, without the URL reqwest would otherwise print.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_request() || e.is_body() {
        "request failed".to_string()
    } else {
        e.to_string()
    };
    // The innermost cause says most ("connection refused", "dns error...").
    let mut cause: Option<&dyn StdError> = e.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(c) if !c.is_empty() => format!("{what}: {c}"),
        _ => what,
    }
}

/// The classification webhooks use (and Pushover, but for its JSON errors): 2xx delivered,
/// 408, 429 and 5xx transient, any other 4xx (and 3xx) permanent.
pub fn classify(status: u16, detail: String) -> Result<(), DeliveryError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(DeliveryError::Transient(detail)),
        _ => Err(DeliveryError::Permanent(detail)),
    }
}

/// One line of an answer body for messages: whitespace collapsed, cut short.
pub fn snippet(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::truncate_chars(&flat, 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_and_port_of_a_url_are_shown() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            origin("http://user:pw@127.0.0.1:8080/k?token=abc"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("not a url"), "(an unparsable URL)");
    }

    #[test]
    fn secrets_are_redacted_wherever_they_appear() {
        let url = Secret::new("https://discord.com/api/webhooks/123/abcdef?wait=true".into());
        let secrets = url_secrets(&url);
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let text = "bad url https://discord.com/api/webhooks/123/abcdef?wait=true and /api/webhooks/123/abcdef";
        let out = redact(text, &refs);
        assert!(!out.contains("abcdef"), "{out}");
    }

    #[test]
    fn statuses_sort_into_transient_and_permanent() {
        assert!(classify(204, String::new()).is_ok());
        for s in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify(s, String::new()), Err(DeliveryError::Transient(_))),
                "{s}"
            );
        }
        for s in [301, 400, 401, 403, 404, 410] {
            assert!(
                matches!(classify(s, String::new()), Err(DeliveryError::Permanent(_))),
                "{s}"
            );
        }
    }
}
