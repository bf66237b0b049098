//! `[[webhooks]]` channels: one POST per alert (or digest) in the format of the service
//! at the other end: Slack incoming webhooks (`text`), Discord webhooks (`content`, 2,000
//! characters), ntfy topics (plain text with Title/Priority/Tags headers), a generic JSON
//! object, or Prometheus Alertmanager's v2 API (built in `alertmanager`, sent through
//! [`post`](super::post)).
//! The URL often is the credential, so only its scheme and host are ever shown.

use serde_json::json;

use super::digest::Digest;
pub use super::post::{post, Payload};
use super::template::{self, AlertTexts, Message};
use super::{Alert, AlertKind, DeliveryError};
use crate::config::{Webhook, WebhookFormat};
use crate::text::{truncate, truncate_chars};

/// Discord's limit on a message's `content`, in characters.
pub const DISCORD_MAX: usize = 2000;
/// Slack truncates `text` past 40,000 characters; stay well inside.
pub const SLACK_MAX: usize = 39_000;
/// ntfy turns a body past 4,096 bytes into an attachment.
pub const NTFY_BODY_MAX: usize = 4096;
/// ntfy's default priority for failures ("high") and for recoveries ("default").
pub const NTFY_FAILURE_PRIORITY: u8 = 4;
pub const NTFY_RECOVERY_PRIORITY: u8 = 3;

/// Slack's three control characters, escaped as its API asks.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chat text of Slack and Discord: by default the subject in bold and the body in a
/// code block (its columns stay aligned); with templates, the title and body as rendered.
/// `default_body` gives the default body within a number of characters.
fn chat_text<M: Message>(
    w: &Webhook,
    m: &M,
    default_body: &dyn Fn(usize) -> String,
    bold: &str,
    escape: fn(&str) -> String,
    max: usize,
) -> String {
    let t = &w.templates;
    let title = match &t.title {
        Some(_) => t.title(m, &w.name),
        None => format!("{bold}{}{bold}", escape(&m.default_title())),
    };
    match &t.body {
        Some(_) => truncate_chars(format!("{}\n{}", title, t.body(m, &w.name)).trim_end(), max),
        None => {
            let open = format!("{title}\n```\n");
            let close = "\n```";
            let room = max.saturating_sub(open.chars().count() + close.chars().count());
            if room < 20 {
                return truncate_chars(&title, max);
            }
            let body = escape(default_body(room).trim_end());
            format!("{open}{}{close}", truncate_chars(&body, room))
        }
    }
}

/// The ntfy priority of an alert: failures (and tests) at the configured one, else 4;
/// recoveries never above 3, the default.
pub fn ntfy_priority(w: &Webhook, kind: AlertKind) -> u8 {
    let p = w.priority.unwrap_or(NTFY_FAILURE_PRIORITY);
    match kind {
        AlertKind::Recovery => p.min(NTFY_RECOVERY_PRIORITY),
        AlertKind::Failure | AlertKind::Test => p,
    }
}

fn ntfy_tag(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Failure => "rotating_light",
        AlertKind::Recovery => "white_check_mark",
        AlertKind::Test => "test_tube",
    }
}

/// A header value from free text: one line, no control characters, and non-ASCII text
/// as an RFC 2047 encoded word, which ntfy decodes.
pub fn header_text(s: &str) -> String {
    let line: String = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    let line = truncate_chars(&line, 250);
    if line.is_ascii() {
        line
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, line)
        )
    }
}

/// The generic JSON object (documented in docs/channels.md).
pub fn generic_json(w: &Webhook, alert: &Alert) -> serde_json::Value {
    let t = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    };
    json!({
        "servername": alert.servername,
        "job": alert.job,
        "kind": alert.kind.as_str(),
        "job_kind": alert.job_kind,
        "status": template::status(alert.kind),
        "message": alert.message,
        "description": alert.description,
        "target": alert.target,
        "expected": alert.expected,
        "consecutive_failures": alert.consecutive_failures,
        "failing_since": t(alert.failing_since),
        "last_success": t(alert.last_success),
        "next_reminder": alert.next_reminder,
        "at": t(Some(alert.at)),
        "subject": w.templates.title(alert, &w.name),
        "body": alert.body(),
    })
}

/// The generic JSON object of a digest (documented in docs/channels.md): the counts, its
/// own subject and body, and each alert as the object a single alert would be.
pub fn generic_digest_json(w: &Webhook, d: &Digest) -> serde_json::Value {
    json!({
        "servername": d.servername,
        "kind": "digest",
        "status": template::status(d.kind()),
        "failing": d.failing(),
        "recovered": d.recovered(),
        "at": d.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "subject": w.templates.title(d, &w.name),
        "body": d.body(),
        "alerts": d.alerts.iter().map(|a| generic_json(w, a)).collect::<Vec<_>>(),
    })
}

/// What `w` sends for `alert`.
pub fn payload(w: &Webhook, alert: &Alert) -> Payload {
    build(w, alert, alert.kind, &|_| alert.body(), || {
        generic_json(w, alert)
    })
}

/// What `w` sends for a digest: a digest of one alert as that alert, except to a generic
/// endpoint, which always gets a digest's shape (a program reads one shape).
pub fn digest_payload(w: &Webhook, d: &Digest) -> Payload {
    match d.single() {
        Some(alert) if w.format != WebhookFormat::Generic => payload(w, alert),
        _ => build(w, d, d.kind(), &|max| d.body_within(max), || {
            generic_digest_json(w, d)
        }),
    }
}

/// The request for one alert or a digest, by format. A format that posts alerts one by
/// one (Alertmanager) reads `m.alerts()`: with `WebhookFormat::digests` false it is only
/// ever given single alerts.
fn build<M: Message>(
    w: &Webhook,
    m: &M,
    kind: AlertKind,
    default_body: &dyn Fn(usize) -> String,
    generic: impl FnOnce() -> serde_json::Value,
) -> Payload {
    const JSON: &str = "application/json";
    match w.format {
        WebhookFormat::Slack => Payload {
            content_type: JSON,
            body: json!({ "text": chat_text(w, m, default_body, "*", slack_escape, SLACK_MAX) })
                .to_string(),
            headers: Vec::new(),
        },
        WebhookFormat::Discord => Payload {
            content_type: JSON,
            body: json!({
                "content": chat_text(w, m, default_body, "**", str::to_string, DISCORD_MAX),
                // An error message that says "@everyone" must not ping everyone.
                "allowed_mentions": { "parse": [] },
            })
            .to_string(),
            headers: Vec::new(),
        },
        WebhookFormat::Ntfy => {
            let mut headers = vec![
                ("Title", header_text(&w.templates.title(m, &w.name))),
                ("Priority", ntfy_priority(w, kind).to_string()),
                ("Tags", ntfy_tag(kind).to_string()),
            ];
            if let Some(token) = &w.token {
                headers.push(("Authorization", format!("Bearer {}", token.expose())));
            }
            let body = w
                .templates
                .rendered_body(m, &w.name)
                .unwrap_or_else(|| default_body(NTFY_BODY_MAX));
            Payload {
                content_type: "text/plain; charset=utf-8",
                body: truncate(body.trim_end(), NTFY_BODY_MAX),
                headers,
            }
        }
        // A body template that cannot be rendered falls back to the documented JSON.
        WebhookFormat::Generic => match w.templates.rendered_body(m, &w.name) {
            Some(body) => {
                let is_json = serde_json::from_str::<serde_json::Value>(&body).is_ok();
                Payload {
                    content_type: if is_json {
                        JSON
                    } else {
                        "text/plain; charset=utf-8"
                    },
                    body,
                    headers: Vec::new(),
                }
            }
            None => Payload {
                content_type: JSON,
                body: generic().to_string(),
                headers: Vec::new(),
            },
        },
        // Delivered by `alertmanager::send`, which adds the jobs' groups and the time of
        // sending; this is the same body without them.
        WebhookFormat::Alertmanager => {
            let alerts: Vec<(&Alert, Option<&str>)> =
                m.alerts().into_iter().map(|a| (a, None)).collect();
            let at = alerts.first().map_or_else(chrono::Utc::now, |(a, _)| a.at);
            super::alertmanager::payload(w, &alerts, at)
        }
    }
}

pub async fn send(w: &Webhook, alert: &Alert) -> Result<(), DeliveryError> {
    post(w, &w.url, payload(w, alert), alert.kind.as_str()).await
}

/// Sends a digest as one request (`digest_payload`).
pub async fn send_digest(w: &Webhook, d: &Digest) -> Result<(), DeliveryError> {
    post(w, &w.url, digest_payload(w, d), "digest").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::notify::digest::Digest;
    use crate::notify::post::header_map;
    use crate::notify::template::{Template, Templates};
    use chrono::TimeZone;

    fn hook(format: WebhookFormat) -> Webhook {
        Webhook {
            name: "hook".into(),
            url: Secret::new("https://hooks.example.com/services/T0/B0/secretpath".into()),
            format,
            headers: Vec::new(),
            token: None,
            priority: None,
            timeout: std::time::Duration::from_secs(10),
            templates: Templates::default(),
            resend: std::time::Duration::from_secs(60),
            digest: None,
        }
    }

    fn alert(kind: AlertKind, message: &str) -> Alert {
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        Alert {
            kind,
            servername: "web1".into(),
            job: "shop".into(),
            job_kind: "http".into(),
            description: None,
            message: message.into(),
            consecutive_failures: 2,
            failing_since: Some(at - chrono::Duration::minutes(2)),
            last_success: None,
            next_reminder: "at the next failing check".into(),
            at,
            recipients: Vec::new(),
            target: None,
            expected: None,
        }
    }

    fn body_json(p: &Payload) -> serde_json::Value {
        serde_json::from_str(&p.body).unwrap()
    }

    #[test]
    fn slack_gets_text_with_its_control_characters_escaped() {
        let p = payload(
            &hook(WebhookFormat::Slack),
            &alert(AlertKind::Failure, "expected <b> & got 503"),
        );
        let text = body_json(&p)["text"].as_str().unwrap().to_string();
        assert!(
            text.starts_with("*[web1] FAILED: shop (expected &lt;b&gt; &amp; got 503)*\n```\n"),
            "{text}"
        );
        assert!(text.contains("Consecutive failures: 2"), "{text}");
    }

    #[test]
    fn discord_content_never_passes_2000_characters_and_mentions_nobody() {
        let long = "e".repeat(5000);
        let p = payload(
            &hook(WebhookFormat::Discord),
            &alert(AlertKind::Failure, &long),
        );
        let v = body_json(&p);
        let content = v["content"].as_str().unwrap();
        assert!(
            content.chars().count() <= DISCORD_MAX,
            "{}",
            content.chars().count()
        );
        assert!(content.contains('…'));
        assert!(content.ends_with("\n```"), "the code block stays closed");
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
        let mut w = hook(WebhookFormat::Discord);
        w.templates.body = Some(Template::new("body_template", "{{ message }}"));
        let v = body_json(&payload(&w, &alert(AlertKind::Failure, &long)));
        assert_eq!(v["content"].as_str().unwrap().chars().count(), DISCORD_MAX);
    }

    #[test]
    fn ntfy_sends_plain_text_with_title_priority_tags_and_token() {
        let mut w = hook(WebhookFormat::Ntfy);
        w.token = Some(Secret::new("tk_abc".into()));
        let p = payload(&w, &alert(AlertKind::Failure, "down"));
        let h = |k: &str| {
            p.headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("Title").as_deref(), Some("[web1] FAILED: shop (down)"));
        assert_eq!(h("Priority").as_deref(), Some("4"));
        assert_eq!(h("Tags").as_deref(), Some("rotating_light"));
        assert_eq!(h("Authorization").as_deref(), Some("Bearer tk_abc"));
        assert!(p.body.starts_with("Job shop on web1 is failing."));
        let p = payload(&w, &alert(AlertKind::Recovery, "up"));
        assert_eq!(p.headers[1].1, "3");
        assert_eq!(p.headers[2].1, "white_check_mark");
        w.priority = Some(5);
        assert_eq!(ntfy_priority(&w, AlertKind::Failure), 5);
        assert_eq!(ntfy_priority(&w, AlertKind::Recovery), 3);
        w.priority = Some(2);
        assert_eq!(ntfy_priority(&w, AlertKind::Recovery), 2);
    }

    #[test]
    fn non_ascii_titles_are_rfc_2047_encoded_and_bodies_capped_in_bytes() {
        assert_eq!(
            header_text("Grüße\nline two"),
            "=?UTF-8?B?R3LDvMOfZSBsaW5lIHR3bw==?="
        );
        assert_eq!(header_text("é"), "=?UTF-8?B?w6k=?=");
        assert_eq!(header_text("éa"), "=?UTF-8?B?w6lh?=");
        let cut = truncate(&"ü".repeat(5000), NTFY_BODY_MAX);
        assert!(cut.len() <= NTFY_BODY_MAX && cut.ends_with('…'));
    }

    #[test]
    fn generic_json_has_the_documented_fields_with_rfc3339_times() {
        let v = body_json(&payload(
            &hook(WebhookFormat::Generic),
            &alert(AlertKind::Failure, "down"),
        ));
        assert_eq!(v["servername"], "web1");
        assert_eq!(v["kind"], "failure");
        assert_eq!(v["status"], "failing");
        assert_eq!(v["consecutive_failures"], 2);
        assert_eq!(v["failing_since"], "2026-03-01T11:58:00Z");
        assert_eq!(v["last_success"], serde_json::Value::Null);
        assert_eq!(v["at"], "2026-03-01T12:00:00Z");
        assert_eq!(v["subject"], "[web1] FAILED: shop (down)");
    }

    #[test]
    fn configured_headers_replace_the_payloads_own_and_bad_values_are_named() {
        let mut w = hook(WebhookFormat::Generic);
        w.headers = vec![
            (
                "Content-Type".into(),
                Secret::new("application/vnd.x+json".into()),
            ),
            ("X-Key".into(), Secret::new("k".into())),
        ];
        let p = payload(&w, &alert(AlertKind::Failure, "down"));
        let m = header_map(&w, &p).unwrap();
        assert_eq!(m.get_all("content-type").iter().count(), 1);
        assert_eq!(m["content-type"], "application/vnd.x+json");
        assert!(m["x-key"].is_sensitive());
        w.headers = vec![("X-Bad".into(), Secret::new("a\nb".into()))];
        assert_eq!(header_map(&w, &p).unwrap_err(), "X-Bad");
    }

    #[test]
    fn a_generic_body_template_replaces_the_json() {
        let mut w = hook(WebhookFormat::Generic);
        w.templates.body = Some(Template::new(
            "body_template",
            r#"{"alert": {{ subject|tojson }}, "n": {{ consecutive_failures }}}"#,
        ));
        let p = payload(&w, &alert(AlertKind::Failure, "down \"quoted\""));
        assert_eq!(p.content_type, "application/json");
        assert_eq!(
            body_json(&p)["alert"],
            "[web1] FAILED: shop (down \"quoted\")"
        );
        w.templates.body = Some(Template::new("body_template", "{{ job }} is {{ status }}"));
        let p = payload(&w, &alert(AlertKind::Failure, "down"));
        assert_eq!(
            (p.content_type, p.body.as_str()),
            ("text/plain; charset=utf-8", "shop is failing")
        );
    }

    #[test]
    fn a_digest_is_one_request_and_a_digest_of_one_is_the_alert_except_to_a_program() {
        let two = Digest::new(vec![
            Alert {
                job: "db".into(),
                ..alert(AlertKind::Recovery, "up")
            },
            alert(AlertKind::Failure, "down <now>"),
        ])
        .unwrap();
        let text = body_json(&digest_payload(&hook(WebhookFormat::Slack), &two))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.starts_with("*[web1] 1 failing, 1 recovered*\n```\n"),
            "{text}"
        );
        let (shop, db) = (text.find("- shop: down &lt;now&gt;"), text.find("- db: up"));
        assert!(shop.is_some() && shop < db, "failures first: {text}");
        let n = digest_payload(&hook(WebhookFormat::Ntfy), &two);
        assert_eq!(n.headers[0].1, "[web1] 1 failing, 1 recovered");
        assert_eq!(
            (n.headers[1].1.as_str(), n.headers[2].1.as_str()),
            ("4", "rotating_light")
        );
        let g = body_json(&digest_payload(&hook(WebhookFormat::Generic), &two));
        assert_eq!(
            (
                g["kind"].as_str(),
                g["failing"].as_u64(),
                g["recovered"].as_u64()
            ),
            (Some("digest"), Some(1), Some(1))
        );
        assert_eq!(g["subject"], "[web1] 1 failing, 1 recovered");
        assert_eq!(g["alerts"][0]["job"], "shop");
        assert_eq!(g["alerts"][1]["kind"], "recovery");
        assert_eq!(g["alerts"][1]["subject"], "[web1] RECOVERED: db");

        let one = Digest::new(vec![alert(AlertKind::Failure, "down")]).unwrap();
        let slack = hook(WebhookFormat::Slack);
        assert_eq!(
            digest_payload(&slack, &one),
            payload(&slack, &alert(AlertKind::Failure, "down"))
        );
        let g = body_json(&digest_payload(&hook(WebhookFormat::Generic), &one));
        assert_eq!(
            (g["kind"].as_str(), g["failing"].as_u64()),
            (Some("digest"), Some(1))
        );
    }

    #[test]
    fn a_digest_template_sees_the_list_and_the_counts() {
        let mut w = hook(WebhookFormat::Generic);
        w.templates.body = Some(Template::new(
            "body_template",
            "{{ failing }}/{{ recovered }}:{% for a in alerts %} {{ a.job }}={{ a.status }}{% endfor %}",
        ));
        let d = Digest::new(vec![
            Alert {
                job: "db".into(),
                ..alert(AlertKind::Recovery, "up")
            },
            alert(AlertKind::Failure, "down"),
        ])
        .unwrap();
        assert_eq!(digest_payload(&w, &d).body, "1/1: shop=failing db=ok");
        // The same template reads a single alert as a list of one.
        assert_eq!(
            payload(&w, &alert(AlertKind::Failure, "down")).body,
            "1/0: shop=failing"
        );
    }
}
