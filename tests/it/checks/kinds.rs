//! The tls_cert, file and dns checks and the http extras (`json`, `not_contains`), each
//! against a real counterpart: a TLS server with certificates made here, files with set
//! modification times, dnsmasq, an HTTP server.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::support::api::check::{dns, file, http, run_all, tls_cert, Clients, RunnerOptions};
use crate::support::api::config::{DnsRecord, DnsSpec, FileSpec, JobKind, TlsCertSpec};
use crate::support::dns::Dnsmasq;
use crate::support::http::FixedHttp;
use crate::support::jobs::{http_spec, job};
use crate::support::net::{banner_listener, closed_port, HungListener};
use crate::support::tls::*;

const TIMEOUT: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------------- tls_cert

fn cert_spec(port: u16, sni: &str) -> TlsCertSpec {
    TlsCertSpec {
        host: "127.0.0.1".into(),
        port,
        sni: sni.into(),
        warn_days: 30,
        verify: false,
        ca_file: None,
    }
}

/// The date `days` days and an hour from now (the test certificates' lifetimes have an
/// hour more than their round number of days).
fn in_days(days: i64) -> String {
    let offset = chrono::Duration::days(days.abs()) + chrono::Duration::hours(1);
    let at = if days < 0 {
        chrono::Utc::now() - offset
    } else {
        chrono::Utc::now() + offset
    };
    at.format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn a_certificate_with_90_days_left_passes_and_says_so() {
    let server = TlsCertServer::start().await;
    let outcome = tls_cert::check(&cert_spec(server.port(), "valid.test"), TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(
        outcome.message,
        format!(
            "certificate for valid.test (127.0.0.1:{}) expires in 90 days ({})",
            server.port(),
            in_days(90)
        )
    );
    assert_eq!(server.snis(), vec![Some("valid.test".to_string())]);
}

#[tokio::test]
async fn a_certificate_expiring_in_10_days_fails_within_warn_days_but_not_below() {
    let server = TlsCertServer::start().await;
    let mut spec = cert_spec(server.port(), "soon.test");
    let outcome = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(
        outcome.message,
        format!(
            "certificate for soon.test (127.0.0.1:{}) expires in 10 days ({}): within warn_days (30)",
            server.port(),
            in_days(10)
        )
    );
    spec.warn_days = 7;
    let outcome = tls_cert::check(&spec, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert!(
        outcome.message.contains("expires in 10 days"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn an_expired_certificate_fails_saying_how_long_ago() {
    let server = TlsCertServer::start().await;
    let mut spec = cert_spec(server.port(), "expired.test");
    spec.warn_days = 0;
    let outcome = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        format!(
            "certificate for expired.test (127.0.0.1:{}) expired 3 days ago ({})",
            server.port(),
            in_days(-3)
        )
    );
}

#[tokio::test]
async fn the_certificate_is_the_one_for_the_sni_sent_which_defaults_to_the_host() {
    let server = TlsCertServer::start().await;
    // host "localhost", no sni: "localhost" is sent, and its own certificate comes back.
    let mut spec = cert_spec(server.port(), "localhost");
    spec.host = "localhost".into();
    let by_host = tls_cert::check(&spec, TIMEOUT).await;
    assert!(by_host.ok, "{by_host:?}");
    assert!(
        by_host
            .message
            .starts_with("certificate for localhost expires in 60 days"),
        "{}",
        by_host.message
    );
    // An IP address is never sent as SNI: the server's default certificate comes back.
    let by_ip = tls_cert::check(&cert_spec(server.port(), "127.0.0.1"), TIMEOUT).await;
    assert!(
        by_ip
            .message
            .starts_with("certificate for 127.0.0.1 expires in 45 days"),
        "{}",
        by_ip.message
    );
    assert_eq!(server.snis(), vec![Some("localhost".to_string()), None]);
}

#[tokio::test]
async fn verify_fails_on_an_untrusted_chain_and_on_a_name_mismatch() {
    let server = TlsCertServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Not signed by a public root.
    let mut spec = cert_spec(server.port(), "valid.test");
    spec.verify = true;
    let untrusted = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!untrusted.ok);
    assert!(
        untrusted.message.starts_with(&format!(
            "certificate for valid.test (127.0.0.1:{}) is not trusted: unknown issuer",
            server.port()
        )),
        "{}",
        untrusted.message
    );
    // Trusting the test CA, the same certificate passes.
    spec.ca_file = Some(server.write_ca(dir.path()));
    let trusted = tls_cert::check(&spec, TIMEOUT).await;
    assert!(trusted.ok, "{trusted:?}");
    // mismatch.test is answered with valid.test's certificate.
    spec.sni = "mismatch.test".into();
    let mismatch = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!mismatch.ok);
    assert!(
        mismatch.message.contains("is not trusted: "),
        "{}",
        mismatch.message
    );
    assert!(
        mismatch.message.contains("not valid for"),
        "{}",
        mismatch.message
    );
    // Without verify, whoever signed it and whatever its name, the dates are read.
    spec.verify = false;
    spec.ca_file = None;
    assert!(tls_cert::check(&spec, TIMEOUT).await.ok);
}

#[tokio::test]
async fn verify_still_reports_an_expired_certificate_in_days() {
    let server = TlsCertServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut spec = cert_spec(server.port(), "expired.test");
    spec.verify = true;
    spec.ca_file = Some(server.write_ca(dir.path()));
    let outcome = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome.message.contains("expired 3 days ago"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn an_unreachable_certificate_fails_saying_why() {
    let port = closed_port();
    let refused = tls_cert::check(&cert_spec(port, "valid.test"), TIMEOUT).await;
    assert!(!refused.ok);
    assert!(refused.transient);
    assert_eq!(
        refused.message,
        format!("cannot reach 127.0.0.1:{port}: connection refused")
    );

    let mut spec = cert_spec(443, "valid.test");
    spec.host = "no-such-host.invalid".into();
    let unresolved = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!unresolved.ok);
    assert!(
        unresolved
            .message
            .starts_with("cannot resolve no-such-host.invalid"),
        "{}",
        unresolved.message
    );

    let not_tls = banner_listener("SSH-2.0-OpenSSH_9.2\r\n");
    let outcome = tls_cert::check(&cert_spec(not_tls, "valid.test"), TIMEOUT).await;
    assert!(!outcome.ok);
    assert!(
        outcome
            .message
            .starts_with(&format!("TLS handshake with 127.0.0.1:{not_tls} failed: ")),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_tls_server_that_never_answers_times_out_as_transient() {
    let hung = HungListener::start();
    let started = std::time::Instant::now();
    let outcome = tls_cert::check(
        &cert_spec(hung.port, "valid.test"),
        Duration::from_millis(500),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!outcome.ok);
    assert!(outcome.transient);
    assert_eq!(
        outcome.message,
        format!(
            "TLS handshake with 127.0.0.1:{}: timed out after 500ms",
            hung.port
        )
    );
}

#[tokio::test]
async fn verify_accepts_the_usual_openssl_self_signed_certificate_listed_in_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    // `openssl req -x509` marks the certificate as a CA; webpki alone refuses it as a
    // server's certificate (CaUsedAsEndEntity). Without a subjectAltName, its CN names it.
    let (cert, key) = openssl_self_signed(dir.path(), "localhost", None);
    let (chain, key) = pem_pair(&cert, &key);
    let server = OneCertServer::start(chain, key).await;
    let mut spec = cert_spec(server.port(), "localhost");
    spec.host = "localhost".into();
    spec.verify = true;
    let untrusted = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!untrusted.ok);
    assert_eq!(
        untrusted.message,
        "certificate for localhost is not trusted: a CA certificate presented as the server's own (self-signed: list it in ca_file to trust it)"
    );
    spec.ca_file = Some(cert.clone());
    let pinned = tls_cert::check(&spec, TIMEOUT).await;
    assert!(pinned.ok, "{pinned:?}");
    assert!(
        pinned
            .message
            .starts_with("certificate for localhost expires in "),
        "{}",
        pinned.message
    );
    // Pinned is not blind: another name is still a mismatch.
    spec.sni = "other.test".into();
    let mismatch = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!mismatch.ok);
    assert!(
        mismatch
            .message
            .contains("is not trusted: not valid for this host name"),
        "{}",
        mismatch.message
    );
    // A different self-signed certificate in ca_file does not vouch for this one.
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = openssl_self_signed(other_dir.path(), "localhost", None);
    spec.sni = "localhost".into();
    spec.ca_file = Some(other);
    let stranger = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!stranger.ok, "{stranger:?}");
}

#[tokio::test]
async fn a_pinned_certificate_with_a_subject_alt_name_is_checked_against_it_by_ip_too() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_self_signed(
        dir.path(),
        "checker-test",
        Some("DNS:localhost,IP:127.0.0.1"),
    );
    let (chain, key) = pem_pair(&cert, &key);
    let server = OneCertServer::start(chain, key).await;
    let mut spec = cert_spec(server.port(), "127.0.0.1");
    spec.verify = true;
    spec.ca_file = Some(cert);
    let by_ip = tls_cert::check(&spec, TIMEOUT).await;
    assert!(by_ip.ok, "{by_ip:?}");
    // Its CN is not one of its names once it has subjectAltNames.
    spec.sni = "checker-test".into();
    let by_cn = tls_cert::check(&spec, TIMEOUT).await;
    assert!(!by_cn.ok, "{by_cn:?}");
}

// ----------------------------------------------------------------------------- file

fn file_spec(path: PathBuf) -> FileSpec {
    FileSpec {
        path,
        max_age: None,
        min_size: None,
    }
}

/// Writes `size` bytes to `name` in `dir` and sets its modification time `age` ago.
fn aged_file(dir: &std::path::Path, name: &str, size: usize, age: Duration) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![b'x'; size]).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
    path
}

#[tokio::test]
async fn a_fresh_big_enough_file_passes_giving_its_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let path = aged_file(dir.path(), "backup.dump", 2048, Duration::from_secs(300));
    let mut spec = file_spec(path.clone());
    spec.max_age = Some(Duration::from_secs(3600));
    spec.min_size = Some(1024);
    let outcome = file::check(&spec).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(
        outcome.message,
        format!("file {}: 2.0 KiB (2048 B), modified 5m ago", path.display())
    );
}

#[tokio::test]
async fn a_file_older_than_max_age_fails_giving_its_age_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = aged_file(
        dir.path(),
        "backup.dump",
        12,
        Duration::from_secs(3 * 3600 + 120),
    );
    let mut spec = file_spec(path.clone());
    spec.max_age = Some(Duration::from_secs(3600));
    let outcome = file::check(&spec).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        format!(
            "file {} is too old: modified 3h 2m ago (max_age 1h); 12 B",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_file_smaller_than_min_size_fails_giving_its_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let path = aged_file(dir.path(), "export.csv", 10, Duration::from_secs(90));
    let mut spec = file_spec(path.clone());
    spec.min_size = Some(2048);
    let outcome = file::check(&spec).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        format!(
            "file {} is too small: 10 B (min_size 2.0 KiB (2048 B)); modified 1m 30s ago",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_missing_file_or_a_directory_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let outcome = file::check(&file_spec(missing.clone())).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(
        outcome.message,
        format!("file {} does not exist", missing.display())
    );

    let outcome = file::check(&file_spec(dir.path().to_path_buf())).await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        format!("{} is a directory, not a file", dir.path().display())
    );
}

// ------------------------------------------------------------------------------ dns

fn dns_spec(server: &Dnsmasq, query: &str, record: DnsRecord, expect: &[&str]) -> DnsSpec {
    DnsSpec {
        query: query.into(),
        record,
        expect: expect.iter().map(|e| e.to_string()).collect(),
        server: Some(server.server().parse().unwrap()),
    }
}

#[tokio::test]
async fn every_record_type_resolves_against_a_real_dns_server() {
    let server = Dnsmasq::start();
    let cases = [
        (
            "www.example.test",
            DnsRecord::A,
            vec!["192.0.2.11"],
            "www.example.test A: ",
        ),
        (
            "www.example.test",
            DnsRecord::Aaaa,
            vec!["2001:db8::10"],
            "www.example.test AAAA: 2001:db8::10",
        ),
        (
            "alias.example.test",
            DnsRecord::Cname,
            vec!["www.example.test"],
            "alias.example.test CNAME: www.example.test",
        ),
        (
            "example.test",
            DnsRecord::Mx,
            vec!["mx1.example.test"],
            "example.test MX: 10 mx1.example.test",
        ),
        (
            "example.test",
            DnsRecord::Txt,
            vec!["v=spf1 -all"],
            "example.test TXT: v=spf1 -all",
        ),
        (
            "example.test",
            DnsRecord::Ns,
            vec!["ns1.example.test"],
            "example.test NS: ns1.example.test",
        ),
    ];
    for (query, record, expect, message) in cases {
        let outcome = dns::check(&dns_spec(&server, query, record, &expect), TIMEOUT).await;
        assert!(outcome.ok, "{query} {record:?}: {outcome:?}");
        assert!(outcome.message.starts_with(message), "{}", outcome.message);
    }
    let both = dns::check(
        &dns_spec(
            &server,
            "www.example.test",
            DnsRecord::A,
            &["192.0.2.10", "192.0.2.11"],
        ),
        TIMEOUT,
    )
    .await;
    assert!(both.ok, "{both:?}");
    assert!(
        both.message.contains("192.0.2.10") && both.message.contains("192.0.2.11"),
        "{}",
        both.message
    );
}

#[tokio::test]
async fn an_expected_value_that_is_not_among_the_answers_fails() {
    let server = Dnsmasq::start();
    let outcome = dns::check(
        &dns_spec(
            &server,
            "www.example.test",
            DnsRecord::A,
            &["192.0.2.10", "192.0.2.99"],
        ),
        TIMEOUT,
    )
    .await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert!(
        outcome
            .message
            .ends_with("; expected \"192.0.2.99\" is not among them"),
        "{}",
        outcome.message
    );
    let outcome = dns::check(
        &dns_spec(
            &server,
            "example.test",
            DnsRecord::Mx,
            &["mx2.example.test"],
        ),
        TIMEOUT,
    )
    .await;
    assert_eq!(
        outcome.message,
        "example.test MX: 10 mx1.example.test; expected \"mx2.example.test\" is not among them"
    );
}

#[tokio::test]
async fn a_name_that_does_not_exist_or_lacks_the_record_fails_saying_which() {
    let server = Dnsmasq::start();
    let outcome = dns::check(
        &dns_spec(&server, "nope.example.test", DnsRecord::A, &[]),
        TIMEOUT,
    )
    .await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(
        outcome.message,
        "nope.example.test A: no such name (NXDOMAIN)"
    );

    let outcome = dns::check(
        &dns_spec(&server, "www.example.test", DnsRecord::Txt, &[]),
        TIMEOUT,
    )
    .await;
    assert!(!outcome.ok);
    assert_eq!(
        outcome.message,
        "www.example.test TXT: no records of this type"
    );
}

#[tokio::test]
async fn without_a_server_the_system_resolver_answers() {
    // The system's configuration includes its hosts file, which names localhost.
    let spec = DnsSpec {
        query: "localhost".into(),
        record: DnsRecord::A,
        expect: vec!["127.0.0.1".into()],
        server: None,
    };
    let outcome = dns::check(&spec, TIMEOUT).await;
    assert!(outcome.ok, "{outcome:?}");
    assert_eq!(outcome.message, "localhost A: 127.0.0.1");
}

#[tokio::test]
async fn a_dns_server_that_never_answers_is_transient() {
    // A bound UDP socket that reads nothing: queries go unanswered.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let spec = DnsSpec {
        query: "www.example.test".into(),
        record: DnsRecord::A,
        expect: Vec::new(),
        server: Some(silent.local_addr().unwrap()),
    };
    let started = std::time::Instant::now();
    let outcome = dns::check(&spec, Duration::from_millis(700)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!outcome.ok);
    assert!(outcome.transient, "{outcome:?}");
    assert!(
        outcome.message.starts_with("www.example.test A: "),
        "{}",
        outcome.message
    );
}

// ----------------------------------------------------------------------- http extras

const HEALTH: &str =
    r#"{"status": "ok", "count": 3, "ratio": 0.5, "items": [{"name": "a"}], "ready": true}"#;
const DOWN: &str = r#"{"status": "down", "count": 3}"#;

fn json_server() -> FixedHttp {
    FixedHttp::start(&[
        ("/health", 200, HEALTH),
        ("/down", 200, DOWN),
        ("/html", 200, "<html><body>Internal error</body></html>"),
        ("/empty", 200, ""),
    ])
}

fn expect_json(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, serde_json::Value)> {
    pairs
        .iter()
        .map(|(p, v)| (p.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn json_assertions_pass_when_every_pointer_holds_its_value() {
    let server = json_server();
    let mut spec = http_spec(&server.url("/health"));
    spec.json = expect_json(&[
        ("/status", "ok".into()),
        ("/count", 3.into()),
        ("/ratio", 0.5.into()),
        ("/items/0/name", "a".into()),
        ("/ready", true.into()),
    ]);
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(outcome.ok, "{outcome:?}");
    // 3 and 3.0 are the same number.
    spec.json = expect_json(&[("/count", 3.0.into())]);
    assert!(http::check(&spec, TIMEOUT, &Clients::new()).await.ok);
}

#[tokio::test]
async fn a_json_value_that_differs_fails_naming_the_pointer_and_both_values() {
    let server = json_server();
    let mut spec = http_spec(&server.url("/down"));
    spec.json = expect_json(&[("/count", 3.into()), ("/status", "ok".into())]);
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(outcome.message, "JSON /status is \"down\", expected \"ok\"");

    spec.json = expect_json(&[("/items/0/name", "a".into())]);
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert_eq!(
        outcome.message,
        "JSON /items/0/name is missing, expected \"a\""
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_clearly() {
    let server = json_server();
    let mut spec = http_spec(&server.url("/html"));
    spec.json = expect_json(&[("/status", "ok".into())]);
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(
        outcome.message.starts_with("body is not JSON: "),
        "{}",
        outcome.message
    );

    let mut spec = http_spec(&server.url("/empty"));
    spec.json = expect_json(&[("/status", "ok".into())]);
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert_eq!(outcome.message, "body is empty, expected JSON");
}

#[tokio::test]
async fn not_contains_fails_when_the_body_has_the_text() {
    let server = json_server();
    let mut spec = http_spec(&server.url("/html"));
    spec.not_contains = Some("Internal error".into());
    let outcome = http::check(&spec, TIMEOUT, &Clients::new()).await;
    assert!(!outcome.ok);
    assert!(!outcome.transient);
    assert_eq!(outcome.message, "body contains \"Internal error\"");

    spec.not_contains = Some("Traceback".into());
    assert!(http::check(&spec, TIMEOUT, &Clients::new()).await.ok);
}

#[tokio::test]
async fn https_checks_trust_a_private_ca_from_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let day = time::Duration::days(1);
    let (chain, key) = ca.issue_der(&["localhost"], day, 30 * day);
    let server = crate::support::http::TestServer::start_tls_with(chain, key).await;
    let url = format!("https://localhost:{}/ok", server.addr.port());
    let clients = Clients::new();
    let mut spec = http_spec(&url);
    let refused = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!refused.ok);
    assert!(
        refused.message.contains("unknown issuer"),
        "{}",
        refused.message
    );
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    spec.ca_file = Some(ca_file);
    let trusted = http::check(&spec, TIMEOUT, &clients).await;
    assert!(trusted.ok, "{trusted:?}");
    assert_eq!(server.stats.hits("/ok"), 1);
}

#[tokio::test]
async fn https_checks_accept_a_pinned_openssl_self_signed_certificate_and_still_check_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_self_signed(dir.path(), "localhost", None);
    let (chain, key) = pem_pair(&cert, &key);
    let server = crate::support::http::TestServer::start_tls_with(chain, key).await;
    let clients = Clients::new();
    let mut spec = http_spec(&format!("https://localhost:{}/ok", server.addr.port()));
    let refused = http::check(&spec, TIMEOUT, &clients).await;
    assert!(!refused.ok, "{refused:?}");
    spec.ca_file = Some(cert.clone());
    let pinned = http::check(&spec, TIMEOUT, &clients).await;
    assert!(pinned.ok, "{pinned:?}");
    assert!(pinned.message.starts_with("HTTP 200"), "{}", pinned.message);
    // By IP the certificate (CN localhost, no other name) does not match.
    let mut by_ip = http_spec(&format!("https://127.0.0.1:{}/ok", server.addr.port()));
    by_ip.ca_file = Some(cert);
    let mismatch = http::check(&by_ip, TIMEOUT, &clients).await;
    assert!(!mismatch.ok);
    assert!(
        mismatch.message.contains("not valid for this host name"),
        "{}",
        mismatch.message
    );
    assert_eq!(server.stats.hits("/ok"), 1);
}

// --------------------------------------------------------------------------- runner

#[tokio::test]
async fn the_runner_runs_the_new_kinds_and_records_retried_attempts() {
    let tls = TlsCertServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = aged_file(dir.path(), "f", 100, Duration::from_secs(10));
    let mut refused = job(
        "refused",
        JobKind::TlsCert(cert_spec(closed_port(), "valid.test")),
    );
    refused.retries = 2;
    let jobs = vec![
        job(
            "cert",
            JobKind::TlsCert(cert_spec(tls.port(), "valid.test")),
        ),
        job("file", JobKind::File(file_spec(path))),
        refused,
    ];
    let opts = RunnerOptions {
        max_concurrency: 4,
        deadline: Duration::from_secs(30),
    };
    let results = run_all(&jobs, &opts).await;
    let results: Vec<_> = results.into_iter().map(Option::unwrap).collect();
    assert!(results[0].ok && results[1].ok, "{results:?}");
    assert!(results[0].earlier_attempts.is_empty());
    let refused = &results[2];
    assert_eq!(refused.attempts, 3);
    let earlier: Vec<_> = refused
        .earlier_attempts
        .iter()
        .map(|a| (a.attempt, a.message.as_str()))
        .collect();
    let message = refused.message.as_str();
    assert_eq!(earlier, vec![(1, message), (2, message)]);
    assert!(refused.earlier_attempts[0].at <= refused.earlier_attempts[1].at);
}
