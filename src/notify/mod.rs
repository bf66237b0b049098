//! Notification channels: one file per channel behind one `deliver` entry point (a
//! webhook of format "alertmanager" goes through `alertmanager`), the alert every channel
//! receives, and the default wording of subjects and bodies (SPEC §5).

pub mod alertmanager;
pub mod command;
pub mod digest;
pub mod email;
pub mod http;
pub mod post;
pub mod pushover;
pub mod target;
pub mod template;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Channel, Config, WebhookFormat};
use crate::duration::humanize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Failure,
    Recovery,
    /// `checker test-notify`.
    Test,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Failure => "failure",
            AlertKind::Recovery => "recovery",
            AlertKind::Test => "test",
        }
    }
}

/// Everything a channel needs to tell a person what happened. It is decided under the
/// state lock, queued in the outbox and delivered later, so every time in it is absolute
/// and relative times are computed against `at`, the moment it was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub servername: String,
    pub job: String,
    /// The job's kind ("http", "tcp"...), or "peer", "selfcheck"...
    pub job_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The latest error (failure) or the message of the success (recovery).
    pub message: String,
    pub consecutive_failures: u32,
    /// Start of the failure streak.
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// When the next reminder would come, in words ("at the next failing check",
    /// "not before 2026-11-23 12:01 UTC", "none: one alert per failure streak").
    pub next_reminder: String,
    /// When the alert was decided.
    pub at: DateTime<Utc>,
    /// Email recipients (the job's `contact`, else `alertcontact`).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// What the job looks at ("GET http://127.0.0.1:8081/", "db:5432", a command line):
    /// `None` for alerts about checker itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What a passing check finds there ("200", "OK, exit 0").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

impl Alert {
    /// Subject line without the `[servername]` prefix the email channel adds:
    /// `FAILED: shop — GET http://127.0.0.1:8081/ → connection refused (expected 200)`,
    /// `RECOVERED: shop — GET http://127.0.0.1:8081/ (was failing for 12m)`.
    pub fn title(&self) -> String {
        let what = match &self.target {
            Some(t) => format!(" — {}", crate::text::truncate(t, target::TITLE_MAX)),
            None => String::new(),
        };
        match self.kind {
            AlertKind::Failure => {
                let error = first_line(&self.message, 120);
                match &self.target {
                    // The error after the target, and what was expected unless the error
                    // already says it ("HTTP 503 (expected 200)").
                    Some(_) => {
                        let expected = match &self.expected {
                            Some(e) if !error.contains("expected") => {
                                format!(" (expected {})", crate::text::truncate(e, 80))
                            }
                            _ => String::new(),
                        };
                        format!("FAILED: {}{what} → {error}{expected}", self.job)
                    }
                    None => format!("FAILED: {} ({error})", self.job),
                }
            }
            AlertKind::Recovery => {
                let span = match self.failing_since {
                    Some(since) if self.target.is_some() => {
                        format!(" (was failing for {})", humanize(self.at - since))
                    }
                    _ => String::new(),
                };
                format!("RECOVERED: {}{what}{span}", self.job)
            }
            AlertKind::Test => "test notification".to_string(),
        }
    }

    /// `[servername] title`: the original's subject convention.
    pub fn subject(&self) -> String {
        format!("[{}] {}", self.servername, self.title())
    }

    /// The plain-text body every channel uses unless it has its own template.
    pub fn body(&self) -> String {
        let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let when = |t: Option<DateTime<Utc>>| match t {
            None => "never".to_string(),
            Some(t) => format!("{} ago ({})", humanize(self.at - t), stamp(t)),
        };
        let mut out = String::new();
        match self.kind {
            AlertKind::Test => {
                out.push_str(&format!(
                    "This is a test notification from checker on {}, sent {}.\nIf you can read it, this channel works.\n",
                    self.servername,
                    stamp(self.at)
                ));
                return out;
            }
            AlertKind::Failure => {
                out.push_str(&format!(
                    "Job {} on {} is failing.\n\n",
                    self.job, self.servername
                ));
            }
            AlertKind::Recovery => {
                out.push_str(&format!(
                    "Job {} on {} has recovered.\n\n",
                    self.job, self.servername
                ));
            }
        }
        let mut rows: Vec<(&str, String)> =
            vec![("Job", format!("{} ({})", self.job, self.job_kind))];
        if let Some(d) = &self.description {
            rows.push(("Description", d.clone()));
        }
        if let Some(t) = &self.target {
            rows.push(("Target", t.clone()));
        }
        match self.kind {
            AlertKind::Failure => {
                if let Some(e) = &self.expected {
                    rows.push(("Expected", e.clone()));
                }
                rows.push(("Latest error", self.message.clone()));
                rows.push((
                    "Consecutive failures",
                    self.consecutive_failures.to_string(),
                ));
                rows.push(("Failing since", when(self.failing_since)));
                rows.push(("Last success", when(self.last_success)));
                rows.push(("Next reminder", self.next_reminder.clone()));
            }
            _ => {
                rows.push(("Now", self.message.clone()));
                rows.push(("Failed checks", self.consecutive_failures.to_string()));
                rows.push(("Had been failing since", when(self.failing_since)));
                rows.push(("Last success", when(self.last_success)));
            }
        }
        rows.push(("Decided at", stamp(self.at)));
        // Every value starts in one column, a space after the longest label.
        let width = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0) + 1;
        for (k, v) in rows {
            out.push_str(&format!("{:<width$}{v}\n", format!("{k}:")));
        }
        out
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    crate::text::truncate(line, max)
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// May pass (network, 5xx, SMTP 4xx): kept in the outbox and retried later.
    Transient(String),
    /// Will not pass by retrying (bad token, 4xx, rejected recipient): dropped with an
    /// error event.
    Permanent(String),
}

impl DeliveryError {
    pub fn message(&self) -> &str {
        match self {
            DeliveryError::Transient(m) | DeliveryError::Permanent(m) => m,
        }
    }
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// How a delivery that did not fail went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// Email is off (`enabled = false` or `--nomail`): logged and recorded, not sent.
    Recorded,
    /// Sent to some recipients; the server refused the others (each with its reply).
    SentExcept(Vec<Refusal>),
}

/// A recipient the mail server would not take, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub recipient: String,
    pub reply: String,
}

/// Options that come from the command line rather than the settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    pub nomail: bool,
}

/// Delivers `alert` through the channel named `channel`.
pub async fn deliver(
    config: &Config,
    channel: &str,
    alert: &Alert,
    opts: SendOptions,
) -> Result<Delivered, DeliveryError> {
    // Whatever a message says (a server's echo, a pushed message), no configured secret
    // leaves through any channel.
    let masked = crate::redact::value(alert.clone());
    let alert = &masked;
    match config.channel(channel) {
        Some(Channel::Email(e)) => email::send(e, alert, opts).await,
        Some(Channel::Command(c)) => command::send(c, alert).await.map(|()| Delivered::Sent),
        Some(Channel::Pushover(p)) => pushover::send(p, alert).await.map(|()| Delivered::Sent),
        Some(Channel::Webhook(w)) if w.format == WebhookFormat::Alertmanager => {
            // The job's group, as configured now (alerts about checker itself have none).
            let group = config.job(&alert.job).and_then(|j| j.group.as_deref());
            alertmanager::send(w, &[(alert, group)])
                .await
                .map(|()| Delivered::Sent)
        }
        Some(Channel::Webhook(w)) => webhook::send(w, alert).await.map(|()| Delivered::Sent),
        None => Err(unconfigured(config, channel)),
    }
}

/// Delivers `digest` through the channel named `channel` as one message. Channels read
/// by people (email, Pushover, Slack, Discord, ntfy) send a digest of one alert as that
/// alert, with all its detail; generic webhooks and commands, read by programs, always
/// get a digest's shape.
pub async fn deliver_digest(
    config: &Config,
    channel: &str,
    digest: &digest::Digest,
    opts: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let masked = crate::redact::value(digest.clone());
    let d = &masked;
    match config.channel(channel) {
        Some(Channel::Email(e)) => match d.single() {
            Some(alert) => email::send(e, alert, opts).await,
            None => email::send_digest(e, d, opts).await,
        },
        Some(Channel::Command(c)) => command::send_digest(c, d).await.map(|()| Delivered::Sent),
        Some(Channel::Pushover(p)) => match d.single() {
            Some(alert) => pushover::send(p, alert).await,
            None => pushover::send_digest(p, d).await,
        }
        .map(|()| Delivered::Sent),
        // Not asked for (`WebhookFormat::digests`); should one come, each alert is an
        // element of the array the API takes.
        Some(Channel::Webhook(w)) if w.format == WebhookFormat::Alertmanager => {
            let alerts: Vec<(&Alert, Option<&str>)> = d
                .alerts
                .iter()
                .map(|a| (a, config.job(&a.job).and_then(|j| j.group.as_deref())))
                .collect();
            alertmanager::send(w, &alerts)
                .await
                .map(|()| Delivered::Sent)
        }
        Some(Channel::Webhook(w)) => webhook::send_digest(w, d).await.map(|()| Delivered::Sent),
        None => Err(unconfigured(config, channel)),
    }
}

fn unconfigured(config: &Config, channel: &str) -> DeliveryError {
    DeliveryError::Permanent(format!(
        "channel {channel:?} is no longer configured; known channels: {}",
        config.channel_names().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn shop(kind: AlertKind, message: &str) -> Alert {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 11, 40, 0).unwrap();
        Alert {
            kind,
            servername: "web1".into(),
            job: "shop home".into(),
            job_kind: "http".into(),
            description: None,
            message: message.into(),
            consecutive_failures: 3,
            failing_since: Some(at - chrono::Duration::minutes(12)),
            last_success: Some(at - chrono::Duration::minutes(13)),
            next_reminder: "none".into(),
            at,
            recipients: Vec::new(),
            target: Some("GET http://127.0.0.1:8081/".into()),
            expected: Some("200".into()),
        }
    }

    #[test]
    fn a_failure_title_names_the_target_the_error_and_what_was_expected() {
        assert_eq!(
            shop(AlertKind::Failure, "connection refused").subject(),
            "[web1] FAILED: shop home — GET http://127.0.0.1:8081/ → connection refused (expected 200)"
        );
        // An error that already says what was expected does not say it twice.
        assert_eq!(
            shop(AlertKind::Failure, "HTTP 503 (expected 200)").title(),
            "FAILED: shop home — GET http://127.0.0.1:8081/ → HTTP 503 (expected 200)"
        );
        // Alerts about checker itself have no target.
        let bare = Alert {
            target: None,
            expected: None,
            ..shop(AlertKind::Failure, "state file unreadable")
        };
        assert_eq!(bare.title(), "FAILED: shop home (state file unreadable)");
        let body = shop(AlertKind::Failure, "connection refused").body();
        assert!(
            body.contains("\nTarget:               GET http://127.0.0.1:8081/\nExpected:             200\nLatest error:         connection refused\n"),
            "{body}"
        );
    }

    #[test]
    fn a_recovery_says_where_and_for_how_long_with_every_value_in_one_column() {
        let r = shop(AlertKind::Recovery, "HTTP 200 in 3 ms");
        assert_eq!(
            r.title(),
            "RECOVERED: shop home — GET http://127.0.0.1:8081/ (was failing for 12m)"
        );
        let body = r.body();
        assert!(
            body.contains("\nHad been failing since: 12m ago (2026-03-01 11:28:00 UTC)\n"),
            "{body}"
        );
        let columns: Vec<usize> = body
            .lines()
            .filter(|l| l.contains(": "))
            .filter_map(|l| {
                let colon = l.find(':')?;
                Some(colon + 1 + l[colon + 1..].len() - l[colon + 1..].trim_start().len())
            })
            .collect();
        assert!(columns.len() >= 6, "{body}");
        assert!(columns.iter().all(|c| *c == columns[0]), "{body}");
    }
}
