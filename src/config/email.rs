//! `[email]`: the channel "email", through an SMTP server, with the self-check that
//! proves mail arrives (IMAP).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::context::{resolve_path, section_line, FileCtx, S};
use super::secret::{secret, Secret};
use super::when::schedule_from;
use crate::schedule::{Schedule, Tick};
use crate::template::Templates;

/// The channel name of `[email]`.
pub const EMAIL: &str = "email";

/// `[email]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub enabled: Option<bool>,
    pub from: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<S<String>>,
    pub password_file: Option<S<String>>,
    pub title_template: Option<S<String>>,
    pub body_template: Option<S<String>>,
    pub imap_user: Option<String>,
    pub imap_password: Option<String>,
    pub imap_password_env: Option<S<String>>,
    pub imap_password_file: Option<S<String>>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<S<i64>>,
    pub smtp_security: Option<S<String>>,
    pub imap_host: Option<String>,
    pub imap_port: Option<S<i64>>,
    pub imap_security: Option<S<String>>,
    pub imap_mailbox: Option<String>,
    pub self_check: Option<S<String>>,
    pub self_check_wait: Option<S<String>>,
    pub ca_file: Option<String>,
    pub accept_invalid_certs: Option<bool>,
    pub bust_threading: Option<bool>,
    pub digest: Option<bool>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    StartTls,
    /// TLS from the first byte (SMTPS 465, IMAPS 993).
    Tls,
    /// No encryption at all.
    None,
}

impl Security {
    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "none" => Some(Security::None),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Security::StartTls => "starttls",
            Security::Tls => "tls",
            Security::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Email {
    /// False: alerts are recorded as sent but nothing goes out (like `--nomail`).
    pub enabled: bool,
    pub from: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Subject (`title_template`) and body templates of alert emails.
    pub templates: Templates,
    /// IMAP login for the self-check when it differs from SMTP's (default: user/password).
    pub imap_user: Option<String>,
    pub imap_password: Option<Secret>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub imap_host: Option<String>,
    pub imap_port: u16,
    pub imap_security: Security,
    pub imap_mailbox: String,
    /// `None`: the self-check is off ("never").
    pub self_check: Option<Schedule>,
    pub self_check_wait: Duration,
    pub ca_file: Option<PathBuf>,
    pub accept_invalid_certs: bool,
    pub bust_threading: bool,
    /// `digest` as written: `None` takes `[defaults] digest` (`Config::digest`).
    pub digest: Option<bool>,
    /// Connect-and-send limit for one delivery.
    pub timeout: Duration,
}

/// `[email]`; off when the section is absent.
pub(super) fn resolve(cx: &mut FileCtx<'_>, base: &Path, raw: Option<&RawEmail>) -> Email {
    let Some(e) = raw else {
        return Email {
            enabled: false,
            from: String::new(),
            user: None,
            password: None,
            templates: Default::default(),
            imap_user: None,
            imap_password: None,
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: Security::StartTls,
            imap_host: None,
            imap_port: 993,
            imap_security: Security::Tls,
            imap_mailbox: "INBOX".into(),
            self_check: None,
            self_check_wait: Duration::from_secs(60),
            ca_file: None,
            accept_invalid_certs: false,
            bust_threading: false,
            digest: None,
            timeout: Duration::from_secs(30),
        };
    };
    const SECURITY: &[&str] = &["starttls", "tls", "none"];
    let enabled = e.enabled.unwrap_or(true);
    let smtp_security = e
        .smtp_security
        .as_ref()
        .and_then(|v| cx.choice("smtp_security", v, Security::parse, SECURITY))
        .unwrap_or(Security::StartTls);
    let imap_security = e
        .imap_security
        .as_ref()
        .and_then(|v| cx.choice("imap_security", v, Security::parse, SECURITY))
        .unwrap_or(Security::Tls);
    let port = |cx: &mut FileCtx<'_>, key: &str, v: &Option<S<i64>>, default: u16| {
        v.as_ref()
            .and_then(|v| cx.ranged(key, v, 1, 65_535))
            .map(|p| p as u16)
            .unwrap_or(default)
    };
    let smtp_port = port(
        cx,
        "smtp_port",
        &e.smtp_port,
        match smtp_security {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        },
    );
    let imap_port = port(
        cx,
        "imap_port",
        &e.imap_port,
        if imap_security == Security::Tls {
            993
        } else {
            143
        },
    );
    let self_check = match &e.self_check {
        None => Some(Schedule::Tick(Tick::Hour)),
        Some(v) if v.get_ref() == "never" => None,
        Some(v) => schedule_from(cx, "self_check", v.get_ref(), v.span().start, true),
    };
    // A disabled email section may name a variable that is not set on this machine.
    let (password, imap_password) = if enabled {
        (
            secret(
                cx,
                base,
                "password",
                e.password.as_ref(),
                e.password_env.as_ref(),
                e.password_file.as_ref(),
            ),
            secret(
                cx,
                base,
                "imap_password",
                e.imap_password.as_ref(),
                e.imap_password_env.as_ref(),
                e.imap_password_file.as_ref(),
            ),
        )
    } else {
        (None, None)
    };
    let user = e.user.clone().filter(|u| !u.is_empty());
    let from = e.from.clone().or_else(|| user.clone()).unwrap_or_default();
    let smtp_host = e.smtp_host.clone().unwrap_or_default();
    if enabled {
        if smtp_host.is_empty() {
            cx.at_line(
                section_line(cx.src, "[email]"),
                "[email] is enabled but has no `smtp_host`: set it, or `enabled = false` to record alerts without sending",
            );
        }
        if from.is_empty() {
            cx.at_line(
                section_line(cx.src, "[email]"),
                "[email] needs `from` (or `user`): the address alerts are sent from",
            );
        }
    }
    Email {
        enabled,
        from,
        user,
        password,
        templates: cx.templates(
            "[email]",
            e.title_template.as_ref(),
            e.body_template.as_ref(),
        ),
        imap_user: e.imap_user.clone().filter(|u| !u.is_empty()),
        imap_password,
        smtp_host,
        smtp_port,
        smtp_security,
        imap_host: e.imap_host.clone().filter(|h| !h.is_empty()),
        imap_port,
        imap_security,
        imap_mailbox: e.imap_mailbox.clone().unwrap_or_else(|| "INBOX".into()),
        self_check,
        self_check_wait: cx.duration_or(
            "self_check_wait",
            &e.self_check_wait,
            Duration::from_secs(60),
        ),
        ca_file: e.ca_file.as_deref().map(|f| resolve_path(base, f)),
        accept_invalid_certs: e.accept_invalid_certs.unwrap_or(false),
        bust_threading: e.bust_threading.unwrap_or(false),
        digest: e.digest,
        timeout: cx.duration_or("timeout", &e.timeout, Duration::from_secs(30)),
    }
}
