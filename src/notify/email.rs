//! The email channel: one alert, one message over SMTP (STARTTLS, implicit TLS or plain,
//! with AUTH), and the wording of every way a delivery can fail, sorted into transient
//! (kept in the outbox) and permanent (dropped) as SPEC §5 and §7 require. A recipient the
//! server refuses does not cost the others their copy: they get it, and the refusal is
//! reported with the server's reply.

use std::error::Error as StdError;
use std::io;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::digest::Digest;
use super::template::AlertTexts;
use super::{Alert, Delivered, DeliveryError, Refusal, SendOptions};
use crate::config::{Channel, Email, Security};

/// Sends `alert` to its recipients, or only logs it when email is off.
pub async fn send(
    email: &Email,
    alert: &Alert,
    opts: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let subject = email.templates.title(alert, Channel::EMAIL);
    let body = || email.templates.body(alert, Channel::EMAIL);
    let what = format!("email alert for job {:?}", alert.job);
    deliver(email, &alert.recipients, subject, body, &what, opts).await
}

/// Sends a digest of several alerts as one message to their recipients (a digest is made
/// per set of recipients), or only logs it when email is off.
pub async fn send_digest(
    email: &Email,
    digest: &Digest,
    opts: SendOptions,
) -> Result<Delivered, DeliveryError> {
    let subject = email.templates.title(digest, Channel::EMAIL);
    let body = || email.templates.body(digest, Channel::EMAIL);
    let what = format!("email digest of {} alert(s)", digest.alerts.len());
    deliver(email, &digest.recipients, subject, body, &what, opts).await
}

async fn deliver(
    email: &Email,
    recipients: &[String],
    mut subject: String,
    body: impl FnOnce() -> String,
    what: &str,
    opts: SendOptions,
) -> Result<Delivered, DeliveryError> {
    if !email.enabled || opts.nomail {
        let why = if opts.nomail {
            "--nomail"
        } else {
            "email disabled in settings"
        };
        log::info!(
            "email off ({why}): recorded, not sent, for {}: {subject}",
            if recipients.is_empty() {
                "no recipient".to_string()
            } else {
                recipients.join(", ")
            }
        );
        return Ok(Delivered::Recorded);
    }
    if recipients.is_empty() {
        return Err(DeliveryError::Permanent(format!(
            "{what} has no recipients: set general.alertcontact or the job's contact"
        )));
    }
    if email.bust_threading {
        subject.push_str(&thread_buster());
    }
    let body = body();
    let refused = send_each(email, recipients, &subject, &body).await?;
    if refused.is_empty() {
        log::info!("sent email to {}: {subject}", recipients.join(", "));
        return Ok(Delivered::Sent);
    }
    for r in &refused {
        log::warn!(
            "email to {} refused by the server: {}",
            r.recipient,
            r.reply
        );
    }
    Ok(Delivered::SentExcept(refused))
}

/// Sends one message to every address in `to`. When the server refuses a recipient (a
/// refusal ends the whole SMTP transaction), the message goes to each recipient on its
/// own, at once: the ones it takes get it, and the ones it refuses come back with its
/// reply. Fails only when no recipient got it.
pub async fn send_each(
    email: &Email,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<Vec<Refusal>, DeliveryError> {
    let message = build_message(email, to, subject, body)?;
    let transport = transport(email)?;
    let server = format!("{}:{}", email.smtp_host, email.smtp_port);
    let raw = message.formatted();
    let envelope = message.envelope();
    let whole = match send_limited(email, &transport, envelope, &raw, &server).await {
        Ok(()) => return Ok(Vec::new()),
        Err(e) => e,
    };
    let recipients = envelope.to();
    if recipients.len() < 2 || !matches!(whole.0, DeliveryError::Permanent(_)) {
        return Err(whole.0);
    }
    let from = envelope.from().cloned();
    let (transport, server, raw) = (&transport, &server, &raw);
    let sends = recipients.iter().map(|rcpt| {
        let from = from.clone();
        async move {
            let envelope = lettre::address::Envelope::new(from, vec![rcpt.clone()])
                .map_err(|e| (DeliveryError::Permanent(e.to_string()), e.to_string()))?;
            send_limited(email, transport, &envelope, raw, server).await
        }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    let delivered = outcomes.iter().filter(|o| o.is_ok()).count();
    if delivered == 0 {
        return Err(whole.0);
    }
    Ok(recipients
        .iter()
        .zip(outcomes)
        .filter_map(|(rcpt, o)| {
            o.err().map(|(err, reply)| Refusal {
                recipient: rcpt.to_string(),
                reply: match err {
                    DeliveryError::Permanent(_) => reply,
                    DeliveryError::Transient(m) => format!("{m} (not retried: the others got it)"),
                },
            })
        })
        .collect())
}

/// One SMTP transaction for `envelope`, under the email timeout. The error comes with
/// the server's reply alone ("550 5.1.1 <x@y>: Recipient address rejected"), when there
/// was one, besides the full message.
async fn send_limited(
    email: &Email,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    envelope: &lettre::address::Envelope,
    raw: &[u8],
    server: &str,
) -> Result<(), (DeliveryError, String)> {
    match tokio::time::timeout(email.timeout, transport.send_raw(envelope, raw)).await {
        Ok(Ok(_response)) => Ok(()),
        Ok(Err(e)) => {
            let err = classify(&e, server, email);
            let reply = match e.status() {
                Some(code) => format!("{code} {}", source_text(&e)).trim().to_string(),
                None => err.message().to_string(),
            };
            Err((err, reply))
        }
        Err(_elapsed) => {
            let err = DeliveryError::Transient(format!(
                "SMTP {server}: {}",
                crate::duration::timed_out(email.timeout)
            ));
            let reply = err.message().to_string();
            Err((err, reply))
        }
    }
}

/// Sends one plain-text message from `email.from` to `to` with the settings' SMTP server,
/// security, credentials and timeout. It does not look at `email.enabled`: callers decide
/// whether mail should go out (the self-check sends its probes with it).
pub async fn send_raw(
    email: &Email,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(), DeliveryError> {
    let message = build_message(email, to, subject, body)?;
    let transport = transport(email)?;
    let server = format!("{}:{}", email.smtp_host, email.smtp_port);
    match tokio::time::timeout(email.timeout, transport.send(message)).await {
        Ok(Ok(_response)) => Ok(()),
        Ok(Err(e)) => Err(classify(&e, &server, email)),
        Err(_elapsed) => Err(DeliveryError::Transient(format!(
            "SMTP {server}: {}",
            crate::duration::timed_out(email.timeout)
        ))),
    }
}

/// `" [a1b2c3]"`: a suffix that differs on every message, so mail clients that group by
/// subject show each alert on its own.
fn thread_buster() -> String {
    format!(" [{:06x}]", rand::random::<u32>() & 0xff_ffff)
}

fn build_message(
    email: &Email,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<Message, DeliveryError> {
    if to.is_empty() {
        return Err(DeliveryError::Permanent(
            "email has no recipients".to_string(),
        ));
    }
    // A bad sender is a settings problem: once fixed, queued alerts can go out.
    let from: Mailbox = email.from.parse().map_err(|e| {
        DeliveryError::Transient(format!(
            "email.from {:?} is not a valid address: {e}",
            email.from
        ))
    })?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        // RFC 3834: tells vacation responders and the like not to answer.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    for address in to {
        // Recipients travel with the queued alert: a bad one will not get better.
        let mailbox: Mailbox = address.parse().map_err(|e| {
            DeliveryError::Permanent(format!(
                "recipient {address:?} is not a valid email address: {e}"
            ))
        })?;
        builder = builder.to(mailbox);
    }
    builder
        .body(body.to_string())
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the email: {e}")))
}

fn transport(email: &Email) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(email.smtp_host.as_str())
            .port(email.smtp_port)
            .timeout(Some(email.timeout));
    builder = match email.smtp_security {
        Security::StartTls => builder.tls(Tls::Required(tls_parameters(email)?)),
        Security::Tls => builder.tls(Tls::Wrapper(tls_parameters(email)?)),
        Security::None => builder.tls(Tls::None),
    };
    if let (Some(user), Some(password)) = (&email.user, &email.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

fn tls_parameters(email: &Email) -> Result<TlsParameters, DeliveryError> {
    // `accept_invalid_certs` (docs/channels.md) accepts any certificate: also one issued
    // for another name, or for none but its CN, as self-signed servers reached by IP
    // often have.
    let mut builder = TlsParameters::builder(email.smtp_host.clone())
        .dangerous_accept_invalid_certs(email.accept_invalid_certs)
        .dangerous_accept_invalid_hostnames(email.accept_invalid_certs);
    if let Some(path) = &email.ca_file {
        // Read once per run, before any send (`tls::preload`). Settings problems are
        // transient, so alerts queued meanwhile go out once fixed.
        let certs = crate::tls::ca_certs(path)
            .map_err(|e| DeliveryError::Transient(format!("email.ca_file: {e}")))?;
        for der in certs.iter() {
            let cert = Certificate::from_der(der.to_vec()).map_err(|e| {
                DeliveryError::Transient(format!(
                    "email.ca_file {}: unusable certificate: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build_rustls()
        .map_err(|e| DeliveryError::Transient(format!("SMTP TLS setup failed: {e}")))
}

/// SMTP reply codes that mean the login itself failed or is needed.
const AUTH_CODES: [&str; 4] = ["530", "534", "535", "538"];

/// Turns lettre's error into a sentence that says which step failed, and decides whether
/// retrying later can help.
fn classify(e: &SmtpError, server: &str, email: &Email) -> DeliveryError {
    if let Some(code) = e.status() {
        let code = code.to_string();
        let text = source_text(e);
        let reply = format!("{code} {text}").trim().to_string();
        let about_auth = AUTH_CODES.contains(&code.as_str())
            || (code.starts_with('4') && text.to_ascii_lowercase().contains("auth"));
        if about_auth {
            // Transient: fixing the password lets the queued alerts go out.
            return DeliveryError::Transient(match &email.user {
                Some(user) => format!(
                    "SMTP AUTH failed at {server} for user {user}: {reply} (check email.user and email.password)"
                ),
                None => format!("SMTP {server} requires authentication: {reply} (set email.user and email.password)"),
            });
        }
        if code.starts_with('4') {
            return DeliveryError::Transient(format!("SMTP {server}: temporary failure: {reply}"));
        }
        return DeliveryError::Permanent(format!("SMTP {server} rejected the message: {reply}"));
    }
    if let Some(tls) = find_tls_error(e) {
        return DeliveryError::Transient(format!(
            "SMTP {server}: TLS failure ({}): {tls}{}",
            email.smtp_security.as_str(),
            if email.ca_file.is_none() && tls.contains("certificate") {
                " (for a self-signed server set email.ca_file)"
            } else {
                ""
            }
        ));
    }
    if e.is_timeout() {
        return DeliveryError::Transient(format!(
            "SMTP {server}: {}",
            crate::duration::timed_out(email.timeout)
        ));
    }
    if let Some(io) = find_io_error(e) {
        let what = match io.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                crate::duration::timed_out(email.timeout)
            }
            io::ErrorKind::ConnectionReset => "connection reset by the server".to_string(),
            io::ErrorKind::UnexpectedEof => "the server closed the connection".to_string(),
            _ => io.to_string(),
        };
        return DeliveryError::Transient(format!("SMTP {server}: {what}"));
    }
    let text = source_text(e);
    if text.contains("STARTTLS is not supported") {
        return DeliveryError::Transient(format!(
            "SMTP {server} does not offer STARTTLS, which smtp_security = \"starttls\" requires"
        ));
    }
    if text.contains("authentication mechanism") {
        return DeliveryError::Transient(format!(
            "SMTP AUTH failed at {server}: the server offers no PLAIN or LOGIN authentication{}",
            if email.smtp_security == Security::None {
                " (servers often offer it only over TLS)"
            } else {
                ""
            }
        ));
    }
    DeliveryError::Transient(format!("SMTP {server}: {e}"))
}

/// The message lettre attached to its error (the server's reply text, for SMTP codes).
fn source_text(e: &SmtpError) -> String {
    e.source().map(|s| s.to_string()).unwrap_or_default()
}

fn find_io_error(e: &SmtpError) -> Option<&io::Error> {
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = err.source();
    }
    None
}

/// A rustls error anywhere in the chain: the handshake wraps it in an `io::Error`, whose
/// `source()` skips it, hence the `get_ref`.
fn find_tls_error(e: &SmtpError) -> Option<String> {
    if e.is_tls() {
        return Some(source_text(e));
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::notify::AlertKind;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn email() -> Email {
        Email {
            enabled: true,
            from: "checker@example.com".into(),
            user: Some("checker@example.com".into()),
            password: Some(Secret::new("hunter2".into())),
            templates: Default::default(),
            imap_user: None,
            imap_password: None,
            smtp_host: "127.0.0.1".into(),
            // Nothing listens on port 1; tests below must never get that far.
            smtp_port: 1,
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
            timeout: Duration::from_secs(5),
        }
    }

    fn alert(recipients: &[&str]) -> Alert {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        Alert {
            kind: AlertKind::Failure,
            servername: "web1".into(),
            job: "shop".into(),
            job_kind: "http".into(),
            description: None,
            message: "connection refused".into(),
            consecutive_failures: 3,
            failing_since: Some(at),
            last_success: None,
            next_reminder: "at the next failing check".into(),
            at,
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            target: None,
            expected: None,
        }
    }

    #[test]
    fn thread_buster_is_a_bracketed_six_digit_hex_suffix_that_changes() {
        let a = thread_buster();
        assert_eq!(a.len(), 9, "{a:?}");
        assert!(a.starts_with(" [") && a.ends_with(']'), "{a:?}");
        assert!(a[2..8].chars().all(|c| c.is_ascii_hexdigit()), "{a:?}");
        let distinct: std::collections::HashSet<String> =
            (0..20).map(|_| thread_buster()).collect();
        assert!(distinct.len() > 1);
    }

    #[tokio::test]
    async fn an_alert_without_recipients_is_a_permanent_error() {
        let err = send(&email(), &alert(&[]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
        assert!(err.message().contains("no recipients"), "{err}");
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_a_permanent_error_naming_it() {
        let err = send(
            &email(),
            &alert(&["not an address"]),
            SendOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
        assert!(err.message().contains("not an address"), "{err}");
    }

    #[tokio::test]
    async fn an_invalid_sender_is_a_transient_settings_error() {
        let mut e = email();
        e.from = "nobody at all".into();
        let err = send(&e, &alert(&["ops@example.com"]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
        assert!(err.message().contains("email.from"), "{err}");
    }

    #[tokio::test]
    async fn an_unreadable_ca_file_is_reported_with_its_path() {
        let mut e = email();
        e.ca_file = Some("/nonexistent/ca.pem".into());
        let err = send(&e, &alert(&["ops@example.com"]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(err.message().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[tokio::test]
    async fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let mut e = email();
        e.ca_file = Some(path);
        let err = send(&e, &alert(&["ops@example.com"]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(err.message().contains("no certificate"), "{err}");
    }

    #[test]
    fn the_password_never_shows_in_the_transport_debug_output() {
        let t = transport(&email()).unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
