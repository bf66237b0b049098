//! What an alert or a digest offers the channels' templates (`crate::template`): their
//! variables, the rendering of a title or body with a fall-back to the default wording,
//! and the samples `validate` renders each template with.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use minijinja::Value;

use super::digest::{self, Digest};
use super::{Alert, AlertKind};
use crate::duration::humanize;
pub use crate::template::{Template, TemplateError, Templates, MAX_OUTPUT, VARIABLES};

/// What a channel says: one alert, or a digest of several. Templates see its variables;
/// without one, its default title and body are sent.
pub trait Message {
    /// The template variables (see `VARIABLES` and docs/channels.md).
    fn variables(&self) -> Value;
    /// `[servername] FAILED: ...`, `[servername] 3 failing, 1 recovered`.
    fn default_title(&self) -> String;
    fn default_body(&self) -> String;
    /// Each alert it carries: for a format that posts alerts one by one (Alertmanager's
    /// API), which `WebhookFormat::digests` keeps from receiving digests of several.
    fn alerts(&self) -> Vec<&Alert>;
}

impl Message for Alert {
    fn variables(&self) -> Value {
        context(self)
    }
    fn default_title(&self) -> String {
        self.subject()
    }
    fn default_body(&self) -> String {
        self.body()
    }
    fn alerts(&self) -> Vec<&Alert> {
        vec![self]
    }
}

impl Message for Digest {
    fn variables(&self) -> Value {
        digest_context(self)
    }
    fn default_title(&self) -> String {
        self.subject()
    }
    fn default_body(&self) -> String {
        self.body()
    }
    fn alerts(&self) -> Vec<&Alert> {
        self.alerts.iter().collect()
    }
}

/// A template rendered for an alert or a digest.
pub trait AlertTemplate {
    /// Renders `m`, within the template's bounds.
    fn render<M: Message>(&self, m: &M) -> Result<String, TemplateError>;
    /// What a template's renders would meet: each sample alert (a failure, one without
    /// its optional fields, a recovery, a test) rendered within the bounds. `validate`
    /// runs it; loading does not, so no command pays for rendering at start.
    fn check_samples(&self) -> Result<(), TemplateError>;
    /// The same for sample digests: `validate` runs it for the templates of channels
    /// with `digest = true`.
    fn check_digest_samples(&self) -> Result<(), TemplateError>;
}

impl AlertTemplate for Template {
    fn render<M: Message>(&self, m: &M) -> Result<String, TemplateError> {
        self.render_with(m.variables())
    }

    fn check_samples(&self) -> Result<(), TemplateError> {
        samples().iter().try_for_each(|a| self.render(a).map(drop))
    }

    fn check_digest_samples(&self) -> Result<(), TemplateError> {
        digest_samples()
            .iter()
            .try_for_each(|d| self.render(d).map(drop))
    }
}

/// A channel's title and body for an alert or a digest: its templates rendered, else the
/// default wording.
pub trait AlertTexts {
    /// The title: the `title_template` rendered, else the default subject
    /// (`[servername] FAILED: job — target → error (expected ...)`).
    fn title<M: Message>(&self, m: &M, channel: &str) -> String;
    /// The body: the `body_template` rendered, else the default body text.
    fn body<M: Message>(&self, m: &M, channel: &str) -> String;
    /// The `body_template` rendered; `None` without one, or when it cannot be rendered
    /// (logged), so the channel sends what it sends without a template.
    fn rendered_body<M: Message>(&self, m: &M, channel: &str) -> Option<String>;
}

impl AlertTexts for Templates {
    fn title<M: Message>(&self, m: &M, channel: &str) -> String {
        self.title
            .as_ref()
            .and_then(|t| rendered(t, m, channel))
            .unwrap_or_else(|| m.default_title())
    }

    fn body<M: Message>(&self, m: &M, channel: &str) -> String {
        self.body
            .as_ref()
            .and_then(|t| rendered(t, m, channel))
            .unwrap_or_else(|| m.default_body())
    }

    fn rendered_body<M: Message>(&self, m: &M, channel: &str) -> Option<String> {
        self.body.as_ref().and_then(|t| rendered(t, m, channel))
    }
}

/// `t` rendered for `m`, or `None` after logging why it could not be: the message still
/// goes out in the channel's default words, for a template must never cost an alert.
fn rendered<M: Message>(t: &Template, m: &M, channel: &str) -> Option<String> {
    match t.render(m) {
        Ok(text) => Some(text),
        Err(e) => {
            log::error!(
                "{channel}: `{}` could not be rendered: {e}; the default text was sent instead",
                t.key
            );
            None
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The job's state the alert reports: "failing", "ok" (a recovery) or "test".
pub fn status(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Failure => "failing",
        AlertKind::Recovery => "ok",
        AlertKind::Test => "test",
    }
}

/// The template variables of `alert` (see `VARIABLES` and docs/channels.md): its own,
/// and as a digest of one would have them (`alerts`, `failing`, `recovered`), so a
/// template written for digests reads single alerts too.
pub fn context(alert: &Alert) -> Value {
    let mut m = alert_variables(alert);
    let is = |k: AlertKind| usize::from(alert.kind == k);
    m.insert("failing".into(), Value::from(is(AlertKind::Failure)));
    m.insert("recovered".into(), Value::from(is(AlertKind::Recovery)));
    m.insert(
        "alerts".into(),
        Value::from(vec![Value::from(alert_variables(alert))]),
    );
    Value::from(m)
}

/// The template variables of a digest: `kind` "digest", the counts, the list of its
/// alerts (each with a single alert's variables), and its own title, subject and body.
pub fn digest_context(d: &Digest) -> Value {
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set("kind", Value::from("digest"));
    set("status", Value::from(status(d.kind())));
    set("servername", Value::from(d.servername.as_str()));
    set("failing", Value::from(d.failing()));
    set("recovered", Value::from(d.recovered()));
    set(
        "alerts",
        Value::from(
            d.alerts
                .iter()
                .map(|a| Value::from(alert_variables(a)))
                .collect::<Vec<_>>(),
        ),
    );
    set("at", Value::from(rfc3339(d.at)));
    set("recipients", Value::from(d.recipients.clone()));
    set("title", Value::from(d.title()));
    set("subject", Value::from(d.subject()));
    set("body", Value::from(d.body()));
    Value::from(m)
}

/// A single alert's own variables.
fn alert_variables(alert: &Alert) -> BTreeMap<String, Value> {
    let opt_time =
        |t: Option<DateTime<Utc>>| t.map(rfc3339).map(Value::from).unwrap_or(Value::from(()));
    let ago = |t: Option<DateTime<Utc>>| {
        t.map(|t| Value::from(humanize(alert.at - t)))
            .unwrap_or(Value::from(()))
    };
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    let mut set = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set("kind", Value::from(alert.kind.as_str()));
    set("status", Value::from(status(alert.kind)));
    set("servername", Value::from(alert.servername.as_str()));
    set("job", Value::from(alert.job.as_str()));
    set("job_kind", Value::from(alert.job_kind.as_str()));
    set(
        "description",
        alert
            .description
            .as_deref()
            .map(Value::from)
            .unwrap_or(Value::from(())),
    );
    let opt = |v: &Option<String>| v.as_deref().map(Value::from).unwrap_or(Value::from(()));
    set("target", opt(&alert.target));
    set("expected", opt(&alert.expected));
    set("message", Value::from(alert.message.as_str()));
    set(
        "consecutive_failures",
        Value::from(alert.consecutive_failures),
    );
    set("failing_since", opt_time(alert.failing_since));
    set("failing_since_ago", ago(alert.failing_since));
    set("last_success", opt_time(alert.last_success));
    set("last_success_ago", ago(alert.last_success));
    set("next_reminder", Value::from(alert.next_reminder.as_str()));
    set("at", Value::from(rfc3339(alert.at)));
    set("recipients", Value::from(alert.recipients.clone()));
    set("title", Value::from(alert.title()));
    set("subject", Value::from(alert.subject()));
    set("body", Value::from(alert.body()));
    set("line", Value::from(digest::line(alert)));
    m
}

/// Alerts of every kind, with optional fields both set and unset, for `check`.
fn samples() -> Vec<Alert> {
    let at = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let failure = Alert {
        kind: AlertKind::Failure,
        servername: "web1".into(),
        job: "shop front page".into(),
        job_kind: "http".into(),
        description: Some("the shop".into()),
        message: "HTTP 503 Service Unavailable".into(),
        consecutive_failures: 3,
        failing_since: Some(at - chrono::Duration::minutes(3)),
        last_success: Some(at - chrono::Duration::minutes(4)),
        next_reminder: "at the next failing check".into(),
        at,
        recipients: vec!["ops@example.com".into()],
        target: Some("GET https://shop.example.com/".into()),
        expected: Some("200".into()),
    };
    let bare = Alert {
        description: None,
        last_success: None,
        recipients: Vec::new(),
        target: None,
        expected: None,
        ..failure.clone()
    };
    let recovery = Alert {
        kind: AlertKind::Recovery,
        message: "HTTP 200".into(),
        next_reminder: String::new(),
        ..failure.clone()
    };
    let test = Alert {
        kind: AlertKind::Test,
        job: "test".into(),
        job_kind: "test".into(),
        message: "test notification".into(),
        consecutive_failures: 0,
        failing_since: None,
        last_success: None,
        ..bare.clone()
    };
    vec![failure, bare, recovery, test]
}

/// Digests for `check_digest_samples`: the `test-notify` sample (failures and a
/// recovery, every field set) and one of bare alerts.
fn digest_samples() -> Vec<Digest> {
    let all = samples();
    let at = all[0].at;
    let mut out = vec![digest::sample("web1", &["ops@example.com".into()], at)];
    out.extend(Digest::new(all.into_iter().skip(1).take(2).collect()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        samples().remove(0)
    }

    #[test]
    fn defaults_are_the_alerts_own_subject_and_body() {
        let t = Templates::default();
        let a = alert();
        assert_eq!(
            t.title(&a, "x"),
            "[web1] FAILED: shop front page — GET https://shop.example.com/ → HTTP 503 Service Unavailable (expected 200)"
        );
        assert_eq!(t.body(&a, "x"), a.body());
        assert!(t.body(&a, "x").contains("Consecutive failures: 3"));
    }

    #[test]
    fn templates_see_every_documented_variable() {
        let src: String = VARIABLES
            .iter()
            .map(|v| format!("{v}={{{{ {v} }}}};"))
            .collect();
        let out = Template::new("body_template", src)
            .render(&alert())
            .unwrap();
        assert!(out.contains("kind=failure;"), "{out}");
        assert!(out.contains("status=failing;"), "{out}");
        assert!(out.contains("job=shop front page;"), "{out}");
        assert!(out.contains("consecutive_failures=3;"), "{out}");
        assert!(out.contains("failing_since=2025-12-31T23:57:00Z;"), "{out}");
        assert!(out.contains("failing_since_ago=3m;"), "{out}");
        assert!(out.contains("at=2026-01-01T00:00:00Z;"), "{out}");
        assert!(out.contains("subject=[web1] FAILED"), "{out}");
        assert!(out.contains("title=FAILED: shop front page"), "{out}");
        assert!(
            out.contains("target=GET https://shop.example.com/;"),
            "{out}"
        );
        assert!(out.contains("expected=200;"), "{out}");
    }

    #[test]
    fn optional_values_are_none_and_can_be_tested() {
        let a = Alert {
            last_success: None,
            ..alert()
        };
        let t = Template::new(
            "body_template",
            "{% if last_success %}seen{% else %}never{% endif %} {{ last_success_ago or 'never' }}",
        );
        assert_eq!(t.render(&a).unwrap(), "never never");
    }

    #[test]
    fn a_template_that_fails_at_render_time_falls_back_to_the_default_text() {
        let t = Templates {
            title: Some(Template::new("title_template", "{{ job.nope.deeper }}")),
            body: None,
        };
        let a = alert();
        assert_eq!(t.title(&a, "x"), a.subject());
        assert!(
            t.title.as_ref().unwrap().check_samples().is_err(),
            "and validate catches it"
        );
    }

    #[test]
    fn a_render_stops_at_its_budget_of_work_data_and_output() {
        let a = alert();
        let over = |src: &str| {
            let started = std::time::Instant::now();
            let e = Template::new("body_template", src).render(&a).unwrap_err();
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{src}"
            );
            e.message
        };
        let nested =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        assert!(over(nested).contains("render budget"));
        // A gigabyte of indentation is refused before it is made.
        assert!(over("{{ message|indent(1000000000) }}").contains("render budget"));
        let repeated = over("{{ 'x' * 1000000000 }}");
        assert!(
            repeated.contains("too large") || repeated.contains("render budget"),
            "{repeated}"
        );
        assert!(
            over("{% for i in range(3000) %}{{ body }}{% endfor %}").contains("longer than 64 KiB")
        );
        // Within the bounds, a long message renders whole.
        let long = Template::new(
            "body_template",
            "{% for i in range(100) %}{{ body }}{% endfor %}",
        )
        .render(&a)
        .unwrap();
        assert_eq!(long.len(), 100 * a.body().len());
        // And the alert goes out in default words.
        let t = Templates {
            title: None,
            body: Some(Template::new("body_template", nested)),
        };
        assert_eq!(t.body(&a, "x"), a.body());
        assert_eq!(t.rendered_body(&a, "x"), None);
    }

    #[test]
    fn loading_checks_names_and_syntax_without_rendering() {
        // `check` is what every command pays for at start: it must not run the loops.
        let t = Template::new(
            "body_template",
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ job }}{% endfor %}{% endfor %}",
        );
        let started = std::time::Instant::now();
        assert_eq!(t.check(), Ok(()));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            t.check_samples().is_err(),
            "validate's sample renders find it"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Template text built from the pieces templates are made of, so that most cases
        /// parse and many render.
        fn source() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("{{ ".to_string()),
                Just(" }}".to_string()),
                Just("{% ".to_string()),
                Just(" %}".to_string()),
                Just("{# x #}".to_string()),
                prop::sample::select(VARIABLES).prop_map(str::to_string),
                prop::sample::select(
                    &[
                        "|upper",
                        "|lower",
                        "|tojson",
                        "|length",
                        "|indent(",
                        "|replace('a', 'b')",
                        "|join(', ')",
                        "|default('none')",
                        "|truncate(",
                        "[:",
                        "[0]",
                        " * ",
                        " + ",
                        " ~ ",
                        "(",
                        ")",
                        ",",
                        "'text'",
                        "loop.index",
                    ][..]
                )
                .prop_map(str::to_string),
                prop::sample::select(
                    &[
                        "for x in range(",
                        "for c in message",
                        "endfor",
                        "if ",
                        "else",
                        "endif",
                        "set v = ",
                        "macro m()",
                        "endmacro",
                        "m()",
                    ][..]
                )
                .prop_map(str::to_string),
                (0u64..2_000_000_000).prop_map(|n| n.to_string()),
                "[a-z \n]{0,8}",
                any::<String>(),
            ];
            prop_oneof![
                8 => prop::collection::vec(piece, 0..24).prop_map(|v| v.concat()),
                1 => any::<String>(),
            ]
        }

        fn time() -> impl Strategy<Value = DateTime<Utc>> {
            (-8_000_000_000_000i64..8_000_000_000_000)
                .prop_map(|s| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default())
        }

        fn alert() -> impl Strategy<Value = Alert> {
            (
                prop::sample::select(
                    &[AlertKind::Failure, AlertKind::Recovery, AlertKind::Test][..],
                ),
                any::<String>(),
                any::<String>(),
                prop::option::of(any::<String>()),
                any::<u32>(),
                prop::option::of(time()),
                prop::option::of(time()),
                time(),
                prop::collection::vec(any::<String>(), 0..3),
            )
                .prop_map(
                    |(kind, job, message, description, failures, since, last_ok, at, to)| Alert {
                        kind,
                        servername: "web1".into(),
                        job,
                        job_kind: "http".into(),
                        description,
                        message,
                        consecutive_failures: failures,
                        failing_since: since,
                        last_success: last_ok,
                        next_reminder: "at the next failing check".into(),
                        at,
                        recipients: to,
                        target: None,
                        expected: None,
                    },
                )
        }

        proptest! {
            #![proptest_config(crate::config::proptest_config(128))]

            #[test]
            fn no_template_and_no_alert_make_checking_or_rendering_panic(
                src in source(),
                a in alert(),
            ) {
                let t = Template::new("body_template", src);
                let _ = t.check();
                if let Ok(out) = t.render(&a) {
                    prop_assert!(out.len() <= MAX_OUTPUT);
                }
                let both = Templates { title: Some(t.clone()), body: Some(t) };
                prop_assert!(both.title(&a, "x").len() <= MAX_OUTPUT.max(a.subject().len()));
                prop_assert!(both.body(&a, "x").len() <= MAX_OUTPUT.max(a.body().len()));
            }
        }
    }
}
