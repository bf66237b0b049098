//! The `pushover` channel: one form-encoded POST to the Pushover Message API
//! (<https://pushover.net/api>), with its limits and its emergency-priority rules.
//! A 4xx (bad token or user) is permanent, 429 (quota) and 5xx are retried by the outbox.

use super::digest::Digest;
use super::http::{self, redact};
use super::template::AlertTexts;
use super::{Alert, AlertKind, DeliveryError};
use crate::config::Pushover;

/// Pushover's published limits, which the settings are checked against too.
pub use crate::config::pushover_limits::*;

/// The priority an alert goes out at: failures and tests at the configured one;
/// recoveries never above normal (0), so an all-clear never demands acknowledgement.
pub fn priority_for(p: &Pushover, kind: AlertKind) -> i8 {
    match kind {
        AlertKind::Recovery => p.priority.min(0),
        AlertKind::Failure | AlertKind::Test => p.priority,
    }
}

/// The form fields of the request, in the API's names.
pub fn form(p: &Pushover, alert: &Alert) -> Vec<(&'static str, String)> {
    let title = p.templates.title(alert, "pushover");
    let mut message = p.templates.body(alert, "pushover");
    if message.trim().is_empty() {
        // The API refuses an empty message.
        message = alert.subject();
    }
    fields(p, title, message, alert.kind, alert.at)
}

/// The form fields of a digest: without a body template, the lines that fit in the
/// message limit and how many more there are; at the failures' priority when it holds
/// any, else at a recovery's.
pub fn digest_form(p: &Pushover, d: &Digest) -> Vec<(&'static str, String)> {
    let title = p.templates.title(d, "pushover");
    let mut message = match p.templates.rendered_body(d, "pushover") {
        Some(m) => m,
        None => d.body_within(MESSAGE_MAX),
    };
    if message.trim().is_empty() {
        message = d.subject();
    }
    fields(p, title, message, d.kind(), d.at)
}

fn fields(
    p: &Pushover,
    title: String,
    message: String,
    kind: AlertKind,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<(&'static str, String)> {
    let priority = priority_for(p, kind);
    let mut f = vec![
        ("token", p.token.expose().to_string()),
        ("user", p.user.expose().to_string()),
        (
            "message",
            crate::text::truncate_chars(message.trim_end(), MESSAGE_MAX),
        ),
        (
            "title",
            crate::text::truncate_chars(title.trim(), TITLE_MAX),
        ),
        ("priority", priority.to_string()),
        ("timestamp", at.timestamp().to_string()),
    ];
    if let Some(s) = &p.sound {
        f.push(("sound", s.clone()));
    }
    if let Some(d) = &p.device {
        f.push(("device", d.clone()));
    }
    if let Some(u) = &p.url {
        f.push(("url", crate::text::truncate_chars(u, URL_MAX)));
    }
    if let Some(t) = &p.url_title {
        f.push(("url_title", crate::text::truncate_chars(t, URL_TITLE_MAX)));
    }
    if priority == 2 {
        // Validation insists on both for priority 2.
        f.push(("retry", p.retry.unwrap_or(60).max(RETRY_MIN).to_string()));
        f.push((
            "expire",
            p.expire.unwrap_or(3600).min(EXPIRE_MAX).to_string(),
        ));
    }
    f
}

pub async fn send(p: &Pushover, alert: &Alert) -> Result<(), DeliveryError> {
    post(p, form(p, alert), alert.kind).await
}

/// Sends a digest as one Pushover message.
pub async fn send_digest(p: &Pushover, d: &Digest) -> Result<(), DeliveryError> {
    post(p, digest_form(p, d), d.kind()).await
}

async fn post(
    p: &Pushover,
    fields: Vec<(&'static str, String)>,
    kind: AlertKind,
) -> Result<(), DeliveryError> {
    let secrets = [p.token.expose(), p.user.expose()];
    log::debug!(
        "pushover: POST {} (priority {}, {} alert)",
        http::origin(&p.api_url),
        priority_for(p, kind),
        kind.as_str()
    );
    let client = http::client(p.timeout)?;
    let answer = http::send(client.post(&p.api_url).form(&fields), "pushover")
        .await
        .map_err(|e| match e {
            DeliveryError::Transient(m) => DeliveryError::Transient(redact(&m, &secrets)),
            DeliveryError::Permanent(m) => DeliveryError::Permanent(redact(&m, &secrets)),
        })?;
    judge(answer.status, &answer.body).map_err(|e| match e {
        DeliveryError::Transient(m) => DeliveryError::Transient(redact(&m, &secrets)),
        DeliveryError::Permanent(m) => DeliveryError::Permanent(redact(&m, &secrets)),
    })
}

/// Reads Pushover's answer: `{"status":1,...}` is delivered; otherwise the `errors` it
/// lists say why.
pub fn judge(status: u16, body: &str) -> Result<(), DeliveryError> {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let api_status = json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(serde_json::Value::as_i64);
    let errors: Vec<String> = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    e.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let why = if errors.is_empty() {
        http::snippet(body)
    } else {
        errors.join("; ")
    };
    let why = if why.is_empty() {
        "no details given".to_string()
    } else {
        why
    };
    match status {
        200..=299 if api_status == Some(1) => Ok(()),
        200..=299 => Err(DeliveryError::Permanent(format!(
            "pushover: HTTP {status} but not accepted: {why}"
        ))),
        429 => Err(DeliveryError::Transient(format!(
            "pushover: HTTP 429, message limit reached: {why}"
        ))),
        400..=499 => Err(DeliveryError::Permanent(format!(
            "pushover: HTTP {status}, rejected: {why} (check `token` and `user` in [pushover])"
        ))),
        500..=599 => Err(DeliveryError::Transient(format!(
            "pushover: HTTP {status}: {why}"
        ))),
        _ => Err(DeliveryError::Permanent(format!(
            "pushover: unexpected HTTP {status}: {why}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::notify::digest::Digest;
    use crate::notify::template::{Template, Templates};
    use chrono::TimeZone;

    fn pushover(priority: i8) -> Pushover {
        Pushover {
            token: Secret::new("azGDORePK8gMaC0QOYAMyEEuzJnyUi".into()),
            user: Secret::new("uQiRzpo4DXghDmr9QzzfQu27cmVRsG".into()),
            priority,
            sound: Some("siren".into()),
            device: None,
            url: Some("https://status.example.com/".into()),
            url_title: Some("status page".into()),
            retry: Some(60),
            expire: Some(3600),
            api_url: DEFAULT_API_URL.into(),
            timeout: std::time::Duration::from_secs(10),
            templates: Templates::default(),
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
            failing_since: Some(at),
            last_success: None,
            next_reminder: "at the next failing check".into(),
            at,
            recipients: Vec::new(),
            target: None,
            expected: None,
        }
    }

    fn field<'a>(f: &'a [(&str, String)], k: &str) -> Option<&'a str> {
        f.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_form_has_the_api_fields_and_emergency_ones_only_for_priority_2() {
        let f = form(&pushover(1), &alert(AlertKind::Failure, "HTTP 503"));
        assert_eq!(field(&f, "priority"), Some("1"));
        assert_eq!(field(&f, "title"), Some("[web1] FAILED: shop (HTTP 503)"));
        assert_eq!(field(&f, "sound"), Some("siren"));
        assert_eq!(field(&f, "timestamp"), Some("1772366400"));
        assert!(field(&f, "retry").is_none());
        let f = form(&pushover(2), &alert(AlertKind::Failure, "HTTP 503"));
        assert_eq!(field(&f, "retry"), Some("60"));
        assert_eq!(field(&f, "expire"), Some("3600"));
    }

    #[test]
    fn recoveries_never_go_out_above_normal_priority() {
        let f = form(&pushover(2), &alert(AlertKind::Recovery, "HTTP 200"));
        assert_eq!(field(&f, "priority"), Some("0"));
        assert!(field(&f, "retry").is_none());
        let f = form(&pushover(-1), &alert(AlertKind::Recovery, "HTTP 200"));
        assert_eq!(field(&f, "priority"), Some("-1"));
    }

    #[test]
    fn message_and_title_are_cut_to_the_api_limits() {
        let long = "x".repeat(5000);
        let f = form(&pushover(0), &alert(AlertKind::Failure, &long));
        assert_eq!(field(&f, "message").unwrap().chars().count(), MESSAGE_MAX);
        assert!(field(&f, "message").unwrap().ends_with('…'));
        let mut p = pushover(0);
        p.templates = Templates {
            title: Some(Template::new("title_template", "{{ message }}")),
            body: None,
        };
        let f = form(&p, &alert(AlertKind::Failure, &long));
        assert_eq!(field(&f, "title").unwrap().chars().count(), TITLE_MAX);
    }

    #[test]
    fn answers_are_judged_as_the_api_documents() {
        assert!(judge(200, r#"{"status":1,"request":"5042853c"}"#).is_ok());
        let e = judge(
            400,
            r#"{"token":"invalid","errors":["application token is invalid"],"status":0}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, DeliveryError::Permanent(ref m) if m.contains("application token is invalid")),
            "{e:?}"
        );
        assert!(matches!(judge(429, "{}"), Err(DeliveryError::Transient(_))));
        assert!(matches!(
            judge(500, "oops"),
            Err(DeliveryError::Transient(_))
        ));
        assert!(matches!(
            judge(200, r#"{"status":0,"errors":["x"]}"#),
            Err(DeliveryError::Permanent(_))
        ));
    }

    #[test]
    fn a_digest_goes_at_the_failures_priority_and_counts_what_did_not_fit() {
        let failures: Vec<Alert> = (0..40)
            .map(|i| Alert {
                job: format!("job {i}"),
                ..alert(AlertKind::Failure, "HTTP 503 Service Unavailable")
            })
            .collect();
        let d = Digest::new(failures.clone()).unwrap();
        let f = digest_form(&pushover(2), &d);
        assert_eq!(field(&f, "title"), Some("[web1] 40 failing"));
        assert_eq!(field(&f, "priority"), Some("2"));
        let message = field(&f, "message").unwrap();
        assert!(message.chars().count() <= MESSAGE_MAX, "{message}");
        assert!(message.contains("- job 0: HTTP 503"), "{message}");
        assert!(message.contains(" more not shown"), "{message}");
        let recovered = Digest::new(
            failures
                .into_iter()
                .map(|a| Alert {
                    kind: AlertKind::Recovery,
                    ..a
                })
                .collect(),
        )
        .unwrap();
        let f = digest_form(&pushover(2), &recovered);
        assert_eq!(field(&f, "priority"), Some("0"));
        assert!(field(&f, "retry").is_none());
    }
}
