//! Stand-ins for the services alerts go to (Pushover, Slack, Discord, ntfy, a generic JSON
//! endpoint): real HTTP/1.1 servers on loopback that record every request and check it
//! the way the service's published API does, answering as the service would: its success
//! answer for a valid request, its error status and body for an invalid one.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

pub use super::http::Request;
use super::http::{Response, Server};

/// Which service a receiver plays, with what it accepts.
#[derive(Debug, Clone)]
pub enum Service {
    /// https://pushover.net/api: accepts this application token and user key only.
    Pushover { token: String, user: String },
    /// https://api.slack.com/messaging/webhooks
    Slack,
    /// https://discord.com/developers/docs/resources/webhook#execute-webhook
    Discord,
    /// https://docs.ntfy.sh/publish/: a topic, protected by a token when one is given.
    Ntfy { token: Option<String> },
    /// Any endpoint taking JSON: requires the documented generic fields.
    Generic,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Request>,
    /// Requests that broke the service's API (as opposed to a wrong credential).
    violations: Vec<String>,
    /// Answer this status (and body) instead of judging, while set.
    forced: Option<(u16, String)>,
}

pub struct Receiver {
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub fn start(service: Service) -> Self {
        Receiver::start_on(service, 0)
    }

    /// Starts on `port` (0: any free port): a receiver that was down comes back where
    /// the alerts are sent.
    pub fn start_on(service: Service, port: u16) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        let server = Server::start_on(port, move |req| {
            let mut inner = shared.lock().expect("lock");
            inner.requests.push(req.clone());
            if let Some((status, body)) = inner.forced.clone() {
                return Response::new(status, "application/json", body);
            }
            let (answer, violation) = judge(&service, req);
            if let Some(v) = violation {
                inner.violations.push(v);
            }
            answer
        });
        Receiver {
            port: server.port,
            inner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().expect("lock").requests.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().expect("lock").requests.len()
    }

    pub fn last(&self) -> Request {
        self.requests().pop().expect("the receiver got a request")
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().expect("lock").violations.clone()
    }

    /// Answer every request with `status` and `body` until `unforce`.
    pub fn force(&self, status: u16, body: &str) {
        self.inner.lock().expect("lock").forced = Some((status, body.to_string()));
    }

    pub fn unforce(&self) {
        self.inner.lock().expect("lock").forced = None;
    }
}

fn ok_json(status: u16, v: Value) -> Response {
    Response::json(status, v)
}

/// The answer to `req`, and a description of how it broke the API, if it did.
fn judge(service: &Service, req: &Request) -> (Response, Option<String>) {
    match service {
        Service::Pushover { token, user } => pushover(req, token, user),
        Service::Slack => slack(req),
        Service::Discord => discord(req),
        Service::Ntfy { token } => ntfy(req, token.as_deref()),
        Service::Generic => generic(req),
    }
}

const PUSHOVER_FIELDS: &[&str] = &[
    "token",
    "user",
    "message",
    "attachment_base64",
    "attachment_type",
    "device",
    "html",
    "monospace",
    "priority",
    "sound",
    "timestamp",
    "title",
    "ttl",
    "url",
    "url_title",
    "retry",
    "expire",
    "callback",
    "tags",
];
const PUSHOVER_SOUNDS: &[&str] = &[
    "pushover",
    "bike",
    "bugle",
    "cashregister",
    "classical",
    "cosmic",
    "falling",
    "gamelan",
    "incoming",
    "intermission",
    "magic",
    "mechanical",
    "pianobar",
    "siren",
    "spacealarm",
    "tugboat",
    "alien",
    "climb",
    "persistent",
    "echo",
    "updown",
    "vibrate",
    "none",
];

fn pushover(req: &Request, token: &str, user: &str) -> (Response, Option<String>) {
    let invalid = |field: &str, why: &str| {
        (
            ok_json(
                400,
                json!({ field: "invalid", "errors": [format!("{field} {why}")], "status": 0, "request": "r-1" }),
            ),
            Some(format!("pushover: {field} {why}")),
        )
    };
    if req.method != "POST" || req.path != "/1/messages.json" {
        return (
            ok_json(404, json!({"status": 0, "errors": ["not found"]})),
            Some(format!("{} {}", req.method, req.path)),
        );
    }
    if !req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return invalid("body", "must be application/x-www-form-urlencoded");
    }
    let form = req.form();
    for (k, _) in &form {
        if !PUSHOVER_FIELDS.contains(&k.as_str()) {
            return invalid(k, "is not a parameter of the Message API");
        }
    }
    let f = |k: &str| req.field(k);
    // A wrong credential is the user's mistake, not a broken request.
    if f("token").as_deref() != Some(token) {
        return (
            ok_json(
                400,
                json!({"token": "invalid", "errors": ["application token is invalid"], "status": 0, "request": "r-2"}),
            ),
            None,
        );
    }
    if f("user").as_deref() != Some(user) {
        return (
            ok_json(
                400,
                json!({"user": "invalid", "errors": ["user identifier is not a valid user, group, or subscribed user key"], "status": 0, "request": "r-3"}),
            ),
            None,
        );
    }
    match f("message") {
        None => return invalid("message", "cannot be blank"),
        Some(m) if m.trim().is_empty() => return invalid("message", "cannot be blank"),
        Some(m) if m.chars().count() > 1024 => {
            return invalid("message", "is too long (1024 characters maximum)")
        }
        _ => {}
    }
    if f("title").is_some_and(|t| t.chars().count() > 250) {
        return invalid("title", "is too long (250 characters maximum)");
    }
    if f("url").is_some_and(|t| t.chars().count() > 512) {
        return invalid("url", "is too long (512 characters maximum)");
    }
    if f("url_title").is_some_and(|t| t.chars().count() > 100) {
        return invalid("url_title", "is too long (100 characters maximum)");
    }
    if f("sound").is_some_and(|s| !PUSHOVER_SOUNDS.contains(&s.as_str())) {
        return invalid("sound", "is not a valid sound");
    }
    if f("timestamp").is_some_and(|t| t.parse::<i64>().is_err()) {
        return invalid("timestamp", "must be a Unix timestamp");
    }
    let priority = match f("priority").map(|p| p.parse::<i64>()) {
        None => 0,
        Some(Ok(p)) if (-2..=2).contains(&p) => p,
        Some(_) => return invalid("priority", "must be -2, -1, 0, 1 or 2"),
    };
    if priority == 2 {
        match f("retry").map(|r| r.parse::<i64>()) {
            Some(Ok(r)) if r >= 30 => {}
            Some(_) => return invalid("retry", "must be at least 30 seconds"),
            None => return invalid("retry", "must be supplied with priority 2"),
        }
        match f("expire").map(|r| r.parse::<i64>()) {
            Some(Ok(e)) if (1..=10_800).contains(&e) => {}
            Some(_) => return invalid("expire", "must be at most 10800 seconds"),
            None => return invalid("expire", "must be supplied with priority 2"),
        }
    } else if f("retry").is_some() || f("expire").is_some() {
        return invalid("retry", "only applies to priority 2");
    }
    (
        ok_json(
            200,
            json!({"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}),
        ),
        None,
    )
}

fn is_json(req: &Request) -> bool {
    req.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
}

fn slack(req: &Request) -> (Response, Option<String>) {
    let bad = |status: u16, word: &str| {
        (
            Response::new(status, "text/html", word),
            Some(format!("slack: {word}")),
        )
    };
    if req.method != "POST" {
        return bad(405, "invalid_method");
    }
    if !is_json(req) {
        return bad(400, "invalid_payload");
    }
    let v = req.json();
    if !v.is_object() {
        return bad(400, "invalid_payload");
    }
    match v.get("text") {
        Some(Value::String(t)) if !t.trim().is_empty() => {}
        _ => return bad(400, "no_text"),
    }
    (Response::new(200, "text/html", "ok"), None)
}

fn discord(req: &Request) -> (Response, Option<String>) {
    if req.method != "POST" || !is_json(req) {
        return (
            ok_json(
                400,
                json!({"message": "Cannot send an empty message", "code": 50006}),
            ),
            Some("discord: not a JSON POST".into()),
        );
    }
    let v = req.json();
    let content = v.get("content").and_then(Value::as_str).unwrap_or("");
    if content.trim().is_empty() {
        return (
            ok_json(
                400,
                json!({"message": "Cannot send an empty message", "code": 50006}),
            ),
            Some("discord: empty content".into()),
        );
    }
    if content.chars().count() > 2000 {
        return (
            ok_json(
                400,
                json!({"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}),
            ),
            Some(format!(
                "discord: content has {} characters",
                content.chars().count()
            )),
        );
    }
    (Response::new(204, "text/plain", String::new()), None)
}

fn ntfy(req: &Request, token: Option<&str>) -> (Response, Option<String>) {
    let topic = req.path.trim_start_matches('/');
    let topic_ok = !topic.is_empty()
        && topic.len() <= 64
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let bad = |why: String| {
        (
            ok_json(
                400,
                json!({"code": 40000, "http": 400, "error": why.clone()}),
            ),
            Some(format!("ntfy: {why}")),
        )
    };
    if !(req.method == "POST" || req.method == "PUT") || !topic_ok {
        return bad(format!(
            "{} {} is not a publish request",
            req.method, req.path
        ));
    }
    if let Some(t) = token {
        match req.header("authorization") {
            None => {
                return (
                    ok_json(
                        403,
                        json!({"code": 40301, "http": 403, "error": "forbidden"}),
                    ),
                    None,
                )
            }
            Some(a) if a != format!("Bearer {t}") => {
                return (
                    ok_json(
                        401,
                        json!({"code": 40101, "http": 401, "error": "unauthorized"}),
                    ),
                    None,
                )
            }
            _ => {}
        }
    }
    match req.header("priority") {
        None => {}
        Some(p)
            if [
                "1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent",
            ]
            .contains(&p) => {}
        Some(p) => return bad(format!("invalid priority {p:?}")),
    }
    if req.body.len() > 4096 {
        return bad("message too large (it would become an attachment)".into());
    }
    if req.header("title").is_some_and(|t| !t.is_ascii()) {
        return bad("raw non-ASCII in the Title header".into());
    }
    (
        ok_json(
            200,
            json!({"id": "hwQ2YpKdmg", "time": 1_700_000_000, "event": "message", "topic": topic, "message": req.text()}),
        ),
        None,
    )
}

/// The fields the generic format documents.
pub const GENERIC_FIELDS: &[&str] = &[
    "servername",
    "job",
    "kind",
    "job_kind",
    "status",
    "message",
    "consecutive_failures",
    "failing_since",
    "last_success",
    "next_reminder",
    "at",
    "subject",
    "body",
];

fn generic(req: &Request) -> (Response, Option<String>) {
    if req.method != "POST" || !is_json(req) {
        return (
            ok_json(415, json!({"error": "JSON POST expected"})),
            Some("generic: not a JSON POST".into()),
        );
    }
    let v = req.json();
    // A digest: its own fields, and each alert in it as a single alert would be.
    let missing = if v["kind"] == "digest" {
        let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
        DIGEST_FIELDS
            .iter()
            .find(|f| v.get(**f).is_none())
            .map(|f| f.to_string())
            .or_else(|| (alerts.is_empty()).then(|| "alerts".to_string()))
            .or_else(|| {
                alerts.iter().enumerate().find_map(|(i, a)| {
                    GENERIC_FIELDS
                        .iter()
                        .find(|f| a.get(**f).is_none())
                        .map(|f| format!("alerts[{i}].{f}"))
                })
            })
    } else {
        GENERIC_FIELDS
            .iter()
            .find(|f| v.get(**f).is_none())
            .map(|f| f.to_string())
    };
    if let Some(missing) = missing {
        return (
            ok_json(422, json!({"error": format!("missing {missing}")})),
            Some(format!("generic: missing {missing}")),
        );
    }
    (ok_json(200, json!({"accepted": true})), None)
}

/// The fields of a digest (`kind` "digest") in the generic JSON, documented in
/// docs/channels.md; `alerts` holds a non-empty list of single alerts' objects.
pub const DIGEST_FIELDS: &[&str] = &[
    "servername",
    "kind",
    "status",
    "failing",
    "recovered",
    "at",
    "subject",
    "body",
    "alerts",
];
