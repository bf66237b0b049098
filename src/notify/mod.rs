//! Notification channels: one file per channel behind one `deliver` entry point, the
//! alert every channel receives, and the default wording of subjects and bodies (SPEC §5).

pub mod command;
pub mod email;
pub mod http;
pub mod pushover;
pub mod template;
pub mod webhook;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
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
}

impl Alert {
    /// Subject line without the `[servername]` prefix the email channel adds.
    pub fn title(&self) -> String {
        match self.kind {
            AlertKind::Failure => {
                format!("FAILED: {} ({})", self.job, first_line(&self.message, 120))
            }
            AlertKind::Recovery => format!("RECOVERED: {}", self.job),
            AlertKind::Test => "test notification".to_string(),
        }
    }

    /// `[servername] title`: the original's subject convention.
    pub fn subject(&self) -> String {
        format!("[{}] {}", self.servername, self.title())
    }

    /// The plain-text body every channel uses unless it has its own template.
    pub fn body(&self) -> String {
        let when = |t: Option<DateTime<Utc>>| match t {
            None => "never".to_string(),
            Some(t) => format!(
                "{} ago ({})",
                humanize(self.at - t),
                t.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        };
        let mut out = String::new();
        match self.kind {
            AlertKind::Test => {
                out.push_str(&format!(
                    "This is a test notification from checker on {}, sent {}.\nIf you can read it, this channel works.\n",
                    self.servername,
                    self.at.format("%Y-%m-%d %H:%M:%S UTC")
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
        let mut row = |k: &str, v: &str| out.push_str(&format!("{:<22}{}\n", format!("{k}:"), v));
        row("Job", &format!("{} ({})", self.job, self.job_kind));
        if let Some(d) = &self.description {
            row("Description", d);
        }
        match self.kind {
            AlertKind::Failure => {
                row("Latest error", &self.message);
                row(
                    "Consecutive failures",
                    &self.consecutive_failures.to_string(),
                );
                row("Failing since", &when(self.failing_since));
                row("Last success", &when(self.last_success));
                row("Next reminder", &self.next_reminder);
            }
            _ => {
                row("Now", &self.message);
                row("Failed checks", &self.consecutive_failures.to_string());
                row("Had been failing since", &when(self.failing_since));
                row("Last success", &when(self.last_success));
            }
        }
        row(
            "Decided at",
            &self.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        out
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    crate::check::truncate(line, max)
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
    if channel == "email" {
        return email::send(&config.email, alert, opts).await;
    }
    if let Some(c) = config.commands.iter().find(|c| c.name == channel) {
        return command::send(c, alert).await.map(|()| Delivered::Sent);
    }
    if let (Some(p), "pushover") = (&config.pushover, channel) {
        return pushover::send(p, alert).await.map(|()| Delivered::Sent);
    }
    if let Some(w) = config.webhooks.iter().find(|w| w.name == channel) {
        return webhook::send(w, alert).await.map(|()| Delivered::Sent);
    }
    Err(DeliveryError::Permanent(format!(
        "channel {channel:?} is no longer configured; known channels: {}",
        config.channel_names().join(", ")
    )))
}
