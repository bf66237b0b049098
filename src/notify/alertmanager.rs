//! `[[webhooks]] format = "alertmanager"`: alerts posted to Prometheus Alertmanager's v2
//! API (`POST /api/v2/alerts`, a JSON array), where its grouping, silences, inhibition and
//! routing take over. `url` is Alertmanager's base URL (with its `--web.route-prefix`,
//! if any); a URL already ending in `/api/v2/alerts` is used as it is.
//!
//! Alertmanager identifies an alert by its labels, so they never change within a streak:
//! `alertname`, `job`, `kind` (the job's kind), `servername` and the job's `group` when it
//! has one. A failure is posted with `startsAt` at the streak's start and `endsAt` four
//! `resend` intervals ahead (as Prometheus does), and posted again at least every
//! `resend` while the job keeps failing (`engine::resend`): if checker stops posting,
//! Alertmanager resolves it by itself. A recovery posts the same labels with `endsAt` at
//! the recovery.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::post::{post, Payload};
use super::{Alert, AlertKind, DeliveryError};
use crate::config::{Secret, Webhook};

/// The API path alerts are posted to.
pub const API_PATH: &str = "/api/v2/alerts";
/// How many `resend` intervals a firing alert stays active in Alertmanager without
/// being posted again.
pub const VALID_FOR_RESENDS: i32 = 4;
/// Annotations are for people; Alertmanager keeps whatever it is given.
const ANNOTATION_MAX: usize = 4096;

/// The `alertname` label: what kind of trouble it is.
pub fn alertname(alert: &Alert) -> &'static str {
    match (alert.kind, alert.job_kind.as_str()) {
        (AlertKind::Test, _) => "CheckerTest",
        (_, "selfcheck") => "CheckerMailFailing",
        (_, "checker" | "config") => "CheckerProblem",
        _ => "CheckerJobFailing",
    }
}

/// Where alerts are posted: the base URL plus [`API_PATH`], or the URL as given when it
/// already ends with it. A query string stays at the end.
pub fn endpoint(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return url.to_string();
    };
    let path = u.path().trim_end_matches('/').to_string();
    if !path.ends_with(API_PATH) {
        u.set_path(&format!("{path}{API_PATH}"));
    }
    u.to_string()
}

/// One alert of the posted array. `group` is the job's; `now` the time of sending, from
/// which a firing alert's `endsAt` is counted.
pub fn element(w: &Webhook, alert: &Alert, group: Option<&str>, now: DateTime<Utc>) -> Value {
    let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut labels = Map::new();
    let mut label = |k: &str, v: &str| {
        labels.insert(k.to_string(), Value::String(v.to_string()));
    };
    label("alertname", alertname(alert));
    label("job", &alert.job);
    label("kind", &alert.job_kind);
    label("servername", &alert.servername);
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        label("group", g);
    }
    let mut annotations = Map::new();
    let mut note = |k: &str, v: &str| {
        if !v.is_empty() {
            annotations.insert(
                k.to_string(),
                Value::String(crate::text::truncate(v, ANNOTATION_MAX)),
            );
        }
    };
    note("summary", &alert.subject());
    note("message", &alert.message);
    if let Some(target) = &alert.target {
        note("target", target);
    }
    if let Some(d) = &alert.description {
        note("description", d);
    }
    let starts = alert.failing_since.unwrap_or(alert.at).min(alert.at);
    let ends = match alert.kind {
        AlertKind::Recovery => alert.at,
        AlertKind::Failure | AlertKind::Test => {
            let valid =
                crate::saturating::mul(crate::saturating::delta(w.resend), VALID_FOR_RESENDS);
            crate::saturating::add(now.max(alert.at), valid)
        }
    };
    json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": t(starts),
        "endsAt": t(ends),
    })
}

/// The body: a JSON array of the alerts (each with its job's group).
pub fn body(w: &Webhook, alerts: &[(&Alert, Option<&str>)], now: DateTime<Utc>) -> Value {
    Value::Array(
        alerts
            .iter()
            .map(|(a, group)| element(w, a, *group, now))
            .collect(),
    )
}

/// The request for `alerts`.
pub fn payload(w: &Webhook, alerts: &[(&Alert, Option<&str>)], now: DateTime<Utc>) -> Payload {
    Payload {
        content_type: "application/json",
        body: body(w, alerts, now).to_string(),
        headers: Vec::new(),
    }
}

/// Posts `alerts` (one, as a rule) to Alertmanager in one request; 2xx is delivered, 4xx
/// (a malformed alert) permanent, 5xx and the network transient (retried from the outbox).
pub async fn send(w: &Webhook, alerts: &[(&Alert, Option<&str>)]) -> Result<(), DeliveryError> {
    let url = Secret::new(endpoint(w.url.expose()));
    let what = match alerts {
        [(a, _)] => a.kind.as_str(),
        _ => "several",
    };
    post(w, &url, payload(w, alerts, Utc::now()), what).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WebhookFormat;
    use crate::template::Templates;
    use chrono::TimeZone;

    fn hook() -> Webhook {
        Webhook {
            name: "am".into(),
            url: Secret::new("http://127.0.0.1:9093".into()),
            format: WebhookFormat::Alertmanager,
            headers: Vec::new(),
            token: None,
            priority: None,
            timeout: std::time::Duration::from_secs(10),
            templates: Templates::default(),
            resend: std::time::Duration::from_secs(60),
            digest: None,
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn alert(kind: AlertKind) -> Alert {
        Alert {
            kind,
            servername: "web1".into(),
            job: "shop \"eu\"".into(),
            job_kind: "http".into(),
            description: Some("the shop".into()),
            message: "HTTP 503".into(),
            consecutive_failures: 3,
            failing_since: Some(at() - chrono::Duration::minutes(5)),
            last_success: None,
            next_reminder: String::new(),
            at: at(),
            recipients: Vec::new(),
            target: Some("GET https://shop.example/".into()),
            expected: Some("200".into()),
        }
    }

    #[test]
    fn the_endpoint_is_the_base_url_plus_the_api_path_unless_it_is_already_there() {
        assert_eq!(endpoint("http://am:9093"), "http://am:9093/api/v2/alerts");
        assert_eq!(endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            endpoint("https://h/alertmanager/"),
            "https://h/alertmanager/api/v2/alerts"
        );
        assert_eq!(
            endpoint("http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
        assert_eq!(endpoint("http://am/?k=v"), "http://am/api/v2/alerts?k=v");
    }

    #[test]
    fn a_failure_fires_from_the_streak_start_for_four_resends_with_the_same_labels_as_its_recovery()
    {
        let w = hook();
        let sent = at() + chrono::Duration::seconds(30);
        let failure = alert(AlertKind::Failure);
        let firing = body(&w, &[(&failure, Some("shop"))], sent);
        let a = &firing[0];
        assert_eq!(a["startsAt"], "2026-03-01T11:55:00Z");
        assert_eq!(a["endsAt"], "2026-03-01T12:04:30Z");
        assert_eq!(a["labels"]["alertname"], "CheckerJobFailing");
        assert_eq!(a["labels"]["job"], "shop \"eu\"");
        assert_eq!(a["labels"]["kind"], "http");
        assert_eq!(a["labels"]["servername"], "web1");
        assert_eq!(a["labels"]["group"], "shop");
        assert_eq!(a["annotations"]["message"], "HTTP 503");
        assert_eq!(a["annotations"]["target"], "GET https://shop.example/");
        assert_eq!(a["annotations"]["description"], "the shop");
        let mut rec = alert(AlertKind::Recovery);
        rec.message = "HTTP 200".into();
        let resolved = body(
            &w,
            &[(&rec, Some("shop"))],
            sent + chrono::Duration::hours(1),
        );
        assert_eq!(resolved[0]["labels"], firing[0]["labels"]);
        assert_eq!(resolved[0]["endsAt"], "2026-03-01T12:00:00Z");
        // No group: no label (an empty one would be another alert in Alertmanager).
        let bare = body(&w, &[(&failure, None)], sent);
        assert!(bare[0]["labels"].get("group").is_none());
        // Several (a digest, which this format does not ask for): one element each.
        assert_eq!(
            body(&w, &[(&failure, None), (&rec, None)], sent)
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn alerts_about_checker_itself_have_their_own_names() {
        let mut a = alert(AlertKind::Failure);
        a.job_kind = "selfcheck".into();
        assert_eq!(alertname(&a), "CheckerMailFailing");
        a.job_kind = "config".into();
        assert_eq!(alertname(&a), "CheckerProblem");
        a.kind = AlertKind::Test;
        assert_eq!(alertname(&a), "CheckerTest");
    }
}
