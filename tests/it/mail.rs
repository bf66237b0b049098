//! The email channel against real postfix and dovecot (support/mail.rs): every security
//! mode with AUTH, what the message says, and how each failure is reported. Each test has
//! a mailbox of its own on the servers the run shares; the two that stop SMTP or want
//! another certificate start servers of their own.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};

use crate::support::api::config::{Email, Secret, Security};
use crate::support::api::notify::email::{send, send_raw};
use crate::support::api::notify::{Alert, AlertKind, Delivered, DeliveryError, SendOptions};
use crate::support::mail::{MailServer, Mailbox};

const WAIT: Duration = Duration::from_secs(10);

fn email(server: &Mailbox, security: Security) -> Email {
    let port = match security {
        Security::StartTls => server.smtp_port_starttls,
        Security::Tls => server.smtp_port_tls,
        Security::None => server.smtp_port_plain,
    };
    Email {
        enabled: true,
        from: server.user.clone(),
        user: Some(server.user.clone()),
        password: Some(Secret::new(server.password.clone())),
        templates: Default::default(),
        imap_user: None,
        imap_password: None,
        smtp_host: server.host.clone(),
        smtp_port: port,
        smtp_security: security,
        imap_host: Some(server.host.clone()),
        imap_port: server.imap_port_tls,
        imap_security: Security::Tls,
        imap_mailbox: "INBOX".into(),
        self_check: None,
        self_check_wait: Duration::from_secs(60),
        ca_file: Some(server.ca_file.clone()),
        accept_invalid_certs: false,
        bust_threading: false,
        digest: None,
        timeout: Duration::from_secs(10),
    }
}

fn alert(recipients: &[&str]) -> Alert {
    let at = Utc.with_ymd_and_hms(2026, 3, 4, 12, 0, 0).unwrap();
    Alert {
        kind: AlertKind::Failure,
        servername: "web1".into(),
        job: "shop front page".into(),
        job_kind: "http".into(),
        description: None,
        message: "HTTP 503 from https://shop.example.com/".into(),
        consecutive_failures: 4,
        failing_since: Some(at - chrono::Duration::minutes(30)),
        last_success: Some(at - chrono::Duration::minutes(31)),
        next_reminder: "at the next failing check".into(),
        at,
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        target: None,
        expected: None,
    }
}

/// A header's value, with folded continuation lines joined.
fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or(message);
    let head = head.split("\n\n").next().unwrap_or(head);
    let unfolded = head
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

fn assert_is_the_alert(message: &str) {
    assert_eq!(
        header(message, "Subject").as_deref(),
        Some("[web1] FAILED: shop front page (HTTP 503 from https://shop.example.com/)"),
        "{message}"
    );
    for (key, value) in [
        ("Job", "shop front page (http)"),
        ("Latest error", "HTTP 503 from https://shop.example.com/"),
        ("Consecutive failures", "4"),
        ("Failing since", "30m ago (2026-03-04 11:30:00 UTC)"),
        ("Last success", "31m ago (2026-03-04 11:29:00 UTC)"),
        ("Next reminder", "at the next failing check"),
    ] {
        let field = format!("{:<22}{value}", format!("{key}:"));
        assert!(message.contains(&field), "missing {field:?} in:\n{message}");
    }
}

async fn sends_and_arrives(security: Security) {
    let server = Mailbox::new();
    let started = Instant::now();
    let result = send(
        &email(&server, security),
        &alert(&[&server.user]),
        SendOptions::default(),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(result, Ok(Delivered::Sent), "{}", server.log_tail());
    eprintln!("SMTP send with {} + AUTH took {took:?}", security.as_str());
    let messages = server.wait_for_messages(1, WAIT);
    assert_eq!(messages.len(), 1);
    assert_is_the_alert(&messages[0]);
    assert_eq!(
        header(&messages[0], "From").as_deref(),
        Some(server.user.as_str())
    );
    assert_eq!(
        header(&messages[0], "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
}

#[tokio::test]
async fn an_alert_sent_with_starttls_and_auth_arrives_with_subject_and_body_fields() {
    sends_and_arrives(Security::StartTls).await;
}

#[tokio::test]
async fn an_alert_sent_with_implicit_tls_and_auth_arrives() {
    sends_and_arrives(Security::Tls).await;
}

#[tokio::test]
async fn an_alert_sent_in_plain_text_with_auth_arrives() {
    sends_and_arrives(Security::None).await;
}

#[tokio::test]
async fn every_recipient_of_an_alert_gets_it() {
    let server = Mailbox::new();
    let to = [server.address("alice"), server.address("bob")];
    let result = send(
        &email(&server, Security::StartTls),
        &alert(&[&to[0], &to[1]]),
        SendOptions::default(),
    )
    .await;
    assert_eq!(result, Ok(Delivered::Sent));
    let messages = server.wait_for_messages(2, WAIT);
    assert_eq!(messages.len(), 2);
    let mut delivered_to: Vec<String> = messages
        .iter()
        .filter_map(|m| header(m, "X-Original-To"))
        .collect();
    delivered_to.sort();
    assert_eq!(delivered_to, to);
    for m in &messages {
        assert_is_the_alert(m);
        let to_header = header(m, "To").unwrap_or_default();
        assert!(
            to_header.contains(&to[0]) && to_header.contains(&to[1]),
            "{to_header}"
        );
    }
}

#[tokio::test]
async fn bust_threading_gives_every_subject_a_different_random_suffix() {
    let server = Mailbox::new();
    let mut settings = email(&server, Security::StartTls);
    settings.bust_threading = true;
    let alert = alert(&[&server.user]);
    for _ in 0..2 {
        assert_eq!(
            send(&settings, &alert, SendOptions::default()).await,
            Ok(Delivered::Sent)
        );
    }
    let messages = server.wait_for_messages(2, WAIT);
    let base = alert.subject();
    let suffixes: Vec<String> = messages
        .iter()
        .map(|m| {
            let subject = header(m, "Subject").unwrap_or_default();
            let suffix = subject
                .strip_prefix(&base)
                .unwrap_or_else(|| panic!("{subject:?} does not start with {base:?}"))
                .to_string();
            assert!(
                suffix.len() == 9
                    && suffix.starts_with(" [")
                    && suffix.ends_with(']')
                    && suffix[2..8].chars().all(|c| c.is_ascii_hexdigit()),
                "suffix {suffix:?}"
            );
            suffix
        })
        .collect();
    assert_ne!(suffixes[0], suffixes[1]);
}

#[tokio::test]
async fn without_bust_threading_the_subject_has_no_suffix() {
    let server = Mailbox::new();
    let alert = alert(&[&server.user]);
    assert_eq!(
        send(
            &email(&server, Security::Tls),
            &alert,
            SendOptions::default()
        )
        .await,
        Ok(Delivered::Sent)
    );
    let messages = server.wait_for_messages(1, WAIT);
    assert_eq!(header(&messages[0], "Subject"), Some(alert.subject()));
}

#[tokio::test]
async fn a_self_signed_server_is_refused_without_ca_file_with_a_tls_error() {
    let server = Mailbox::new();
    for security in [Security::StartTls, Security::Tls] {
        let mut settings = email(&server, security);
        settings.ca_file = None;
        let err = send(&settings, &alert(&[&server.user]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
        let text = err.message();
        assert!(text.contains("TLS failure"), "{text}");
        assert!(
            text.contains("certificate") && text.contains("ca_file"),
            "{text}"
        );
        // And with the CA it goes through.
        settings.ca_file = Some(server.ca_file.clone());
        assert_eq!(
            send(&settings, &alert(&[&server.user]), SendOptions::default()).await,
            Ok(Delivered::Sent)
        );
    }
    assert_eq!(server.wait_for_messages(2, WAIT).len(), 2);
}

#[tokio::test]
async fn accept_invalid_certs_lets_a_send_through_without_ca_file() {
    let server = Mailbox::new();
    let mut settings = email(&server, Security::StartTls);
    settings.ca_file = None;
    settings.accept_invalid_certs = true;
    assert_eq!(
        send(&settings, &alert(&[&server.user]), SendOptions::default()).await,
        Ok(Delivered::Sent)
    );
    assert_is_the_alert(&server.wait_for_messages(1, WAIT)[0]);
}

#[tokio::test]
async fn a_wrong_password_is_a_transient_error_that_says_authentication_failed() {
    let server = Mailbox::new();
    for security in [Security::StartTls, Security::None] {
        let mut settings = email(&server, security);
        settings.password = Some(Secret::new("wrong-password".into()));
        let err = send(&settings, &alert(&[&server.user]), SendOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
        assert!(err.message().contains("SMTP AUTH failed"), "{err}");
        assert!(err.message().contains("535"), "{err}");
        assert!(
            !err.message().contains("wrong-password"),
            "the password leaked: {err}"
        );
    }
}

#[tokio::test]
async fn an_unknown_recipient_is_a_permanent_rejection() {
    let server = Mailbox::new();
    let err = send(
        &email(&server, Security::StartTls),
        &alert(&["nobody@localhost"]),
        SendOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert!(
        err.message().contains("550") && err.message().contains("nobody@localhost"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stopped_smtp_server_is_a_transient_connection_refused_and_mail_flows_after_restart() {
    // Servers of its own: it stops SMTP.
    let server = MailServer::start();
    let settings = email(&server, Security::StartTls);
    server.stop_smtp();
    let err = send(&settings, &alert(&[&server.user]), SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Transient(format!(
            "SMTP {}:{}: connection refused",
            server.host, server.smtp_port_starttls
        ))
    );
    server.start_smtp();
    assert_eq!(
        send(&settings, &alert(&[&server.user]), SendOptions::default()).await,
        Ok(Delivered::Sent)
    );
    assert_eq!(server.wait_for_messages(1, WAIT).len(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_transient_timeout() {
    // Accepts the TCP connection and never sends a greeting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = Email {
        enabled: true,
        from: "checker@localhost".into(),
        user: None,
        password: None,
        templates: Default::default(),
        imap_user: None,
        imap_password: None,
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        smtp_security: Security::None,
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
        timeout: Duration::from_millis(500),
    };
    let started = Instant::now();
    let err = send(
        &settings,
        &alert(&["ops@localhost"]),
        SendOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, DeliveryError::Transient(_)), "{err:?}");
    assert!(err.message().contains("timed out"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn disabled_email_and_nomail_are_recorded_and_nothing_is_sent() {
    let server = Mailbox::new();
    let mut disabled = email(&server, Security::StartTls);
    disabled.enabled = false;
    let off = alert(&[&server.user]);
    assert_eq!(
        send(&disabled, &off, SendOptions::default()).await,
        Ok(Delivered::Recorded)
    );
    let nomail = SendOptions { nomail: true };
    assert_eq!(
        send(&email(&server, Security::StartTls), &off, nomail).await,
        Ok(Delivered::Recorded)
    );

    // A marker sent afterwards through the same server is the only mail there is.
    let settings = email(&server, Security::StartTls);
    send_raw(
        &settings,
        std::slice::from_ref(&server.user),
        "marker",
        "sent after the recorded ones\n",
    )
    .await
    .unwrap();
    server.wait_for_messages(1, WAIT);
    let messages = server.quiet_messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(header(&messages[0], "Subject").as_deref(), Some("marker"));
}

#[tokio::test]
async fn send_raw_delivers_the_given_subject_and_body_to_every_address() {
    let server = Mailbox::new();
    let to = vec![server.address("probe")];
    send_raw(
        &email(&server, Security::Tls),
        &to,
        "checker self-check 1f2e3d",
        "probe body\n",
    )
    .await
    .unwrap();
    let messages = server.wait_for_messages(1, WAIT);
    assert_eq!(
        header(&messages[0], "Subject").as_deref(),
        Some("checker self-check 1f2e3d")
    );
    assert_eq!(
        header(&messages[0], "X-Original-To").as_deref(),
        Some(to[0].as_str())
    );
    assert!(messages[0].contains("probe body"));
}

#[tokio::test]
async fn accept_invalid_certs_also_accepts_a_cn_only_certificate_reached_by_ip() {
    let server = MailServer::start_with_cn_only_certificate();
    // The servers' certificate really names no IP and no DNS name but its CN.
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&server.ca_file)
        .output()
        .expect("openssl runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CN = mail.checker.test") || text.contains("CN=mail.checker.test"),
        "{text}"
    );
    assert!(!text.contains("Subject Alternative Name"), "{text}");
    for security in [Security::Tls, Security::StartTls] {
        let mut settings = email(&server, security);
        assert_eq!(settings.smtp_host, "127.0.0.1", "reached by IP");
        settings.ca_file = None;
        settings.accept_invalid_certs = true;
        assert_eq!(
            send(&settings, &alert(&[&server.user]), SendOptions::default()).await,
            Ok(Delivered::Sent),
            "{security:?}: {}",
            server.log_tail()
        );
    }
    assert_eq!(server.wait_for_messages(2, WAIT).len(), 2);
}

#[tokio::test]
async fn one_refused_recipient_among_several_does_not_keep_the_alert_from_the_others() {
    let server = Mailbox::new();
    let outcome = send(
        &email(&server, Security::StartTls),
        &alert(&[
            &server.address("a"),
            "nobody@localhost",
            &server.address("b"),
        ]),
        SendOptions::default(),
    )
    .await;
    let Ok(Delivered::SentExcept(refused)) = outcome else {
        panic!("expected a delivery with one refusal, got {outcome:?}");
    };
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].recipient, "nobody@localhost");
    assert!(
        refused[0].reply.starts_with("550") && refused[0].reply.contains("nobody@localhost"),
        "the server's own reply: {}",
        refused[0].reply
    );
    let messages = server.wait_for_messages(2, WAIT);
    let delivered_to: Vec<String> = messages
        .iter()
        .filter_map(|m| header(m, "Delivered-To"))
        .collect();
    assert!(
        delivered_to
            .iter()
            .any(|d| d.contains(&server.address("a")))
            && delivered_to
                .iter()
                .any(|d| d.contains(&server.address("b"))),
        "{delivered_to:?}"
    );
    // Every recipient refused: still the permanent error it always was.
    let err = send(
        &email(&server, Security::StartTls),
        &alert(&["nobody@localhost", "nobody2@localhost"]),
        SendOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
    assert_eq!(server.quiet_messages().len(), 2);
}
