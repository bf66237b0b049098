//! The `tls_cert` check: a TLS handshake with `host:port` (sending `sni`) to read the
//! server's certificate and say how many days it has left. Like the original, the chain is
//! read whoever signed it; with `verify` it is also checked against the public roots (and
//! an optional `ca_file`, whose certificates are also accepted as the server's own) and the
//! name, after the handshake, so an expired certificate is still reported in days rather
//! than as a bare verification error.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig};
use tokio::net::{lookup_host, TcpStream};
use tokio_rustls::TlsConnector;

use super::Outcome;
use crate::config::TlsCertSpec;
use crate::duration::timed_out;

pub async fn check(spec: &TlsCertSpec, timeout: Duration) -> Outcome {
    let target = format!("{}:{}", spec.host, spec.port);
    let deadline = crate::saturating::instant_in(timeout);
    let server_name = match ServerName::try_from(spec.sni.clone()) {
        Ok(name) => name,
        Err(_) => return Outcome::fail(format!("{:?} is not a valid TLS server name", spec.sni)),
    };

    let stream = match tokio::time::timeout_at(deadline, connect(&spec.host, spec.port)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(outcome)) => return with_prefix(&format!("cannot reach {target}"), outcome),
        Err(_) => {
            return Outcome::transient(format!("cannot reach {target}: {}", timed_out(timeout)))
        }
    };
    let connector = match reading_config() {
        Ok(config) => TlsConnector::from(config),
        Err(message) => return Outcome::fail(message),
    };
    let tls =
        match tokio::time::timeout_at(deadline, connector.connect(server_name.clone(), stream))
            .await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return handshake_error(&target, &e),
            Err(_) => {
                return Outcome::transient(format!(
                    "TLS handshake with {target}: {}",
                    timed_out(timeout)
                ))
            }
        };
    let chain: Vec<CertificateDer<'static>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let Some(leaf) = chain.first() else {
        return Outcome::fail(format!("{target} sent no certificate"));
    };
    let validity = match validity(leaf) {
        Ok(v) => v,
        Err(e) => return Outcome::fail(format!("cannot read the certificate of {target}: {e}")),
    };
    let who = if spec.sni == spec.host {
        spec.sni.clone()
    } else {
        format!("{} ({target})", spec.sni)
    };
    // The expiry is kept whatever the verdict: a metric reads it.
    let trust = if spec.verify {
        verify_chain(spec, &chain, &server_name)
    } else {
        Ok(())
    };
    let mut outcome = match trust {
        Err(why) => Outcome::fail(format!("certificate for {who} is not trusted: {why}")),
        Ok(()) => judge(&who, validity, Utc::now(), spec.warn_days),
    };
    outcome.cert_not_after = Some(validity.not_after);
    outcome
}

/// A certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// Reads the validity period of a DER certificate.
pub fn validity(der: &[u8]) -> Result<Validity, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0)
            .ok_or_else(|| "a validity date is out of range".to_string())
    };
    Ok(Validity {
        not_before: time(cert.validity().not_before)?,
        not_after: time(cert.validity().not_after)?,
    })
}

/// The verdict on a certificate's dates: fails when it is not valid yet, has expired, or
/// expires within `warn_days` days of `now`.
pub fn judge(who: &str, v: Validity, now: DateTime<Utc>, warn_days: u32) -> Outcome {
    let date = v.not_after.format("%Y-%m-%d");
    if now < v.not_before {
        return Outcome::fail(format!(
            "certificate for {who} is not valid before {}",
            v.not_before.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    if v.not_after <= now {
        let ago = (now - v.not_after).num_days();
        let when = match ago {
            0 => "less than a day ago".to_string(),
            1 => "1 day ago".to_string(),
            n => format!("{n} days ago"),
        };
        return Outcome::fail(format!("certificate for {who} expired {when} ({date})"));
    }
    let left = v.not_after - now;
    let days = left.num_days();
    let when = match days {
        0 => "in less than a day".to_string(),
        1 => "in 1 day".to_string(),
        n => format!("in {n} days"),
    };
    let message = format!("certificate for {who} expires {when} ({date})");
    if left < chrono::Duration::days(i64::from(warn_days)) {
        Outcome::fail(format!("{message}: within warn_days ({warn_days})"))
    } else {
        Outcome::ok(message)
    }
}

/// Connects to the first address of `host` that answers.
async fn connect(host: &str, port: u16) -> Result<TcpStream, Outcome> {
    let addrs: Vec<_> = match lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Err(Outcome::fail(format!("cannot resolve {host}: {e}"))),
    };
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => super::tcp::connect_error(&e),
        None => Outcome::fail(format!("cannot resolve {host}: no addresses")),
    })
}

fn with_prefix(prefix: &str, mut outcome: Outcome) -> Outcome {
    if !outcome.message.starts_with("cannot resolve") {
        outcome.message = format!("{prefix}: {}", outcome.message);
    }
    outcome
}

fn handshake_error(target: &str, e: &std::io::Error) -> Outcome {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match (inner, e.kind()) {
        (Some(tls), _) => Outcome::fail(format!(
            "TLS handshake with {target} failed: {}",
            super::http::tls_message(tls)
        )),
        (None, std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof) => {
            Outcome::transient(format!(
                "TLS handshake with {target} failed: the server closed the connection"
            ))
        }
        (None, _) => Outcome::fail(format!("TLS handshake with {target} failed: {e}")),
    }
}

/// The client configuration of every handshake: it accepts any chain (judged afterwards)
/// but still checks the handshake's signatures against the certificate sent.
fn reading_config() -> Result<Arc<ClientConfig>, String> {
    crate::tls::accept_any()
}

/// Checks a chain as a browser would: trusted root (public roots plus `ca_file`, or the
/// very certificate listed in `ca_file`) and the name. Expiry is left to [`judge`], which
/// says it in days.
fn verify_chain(
    spec: &TlsCertSpec,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
) -> Result<(), String> {
    // The web roots and `ca_file`, whose certificates are also pinned as servers' own: a
    // self-signed certificate listed there is trusted as the server's (`crate::tls`).
    let verifier = crate::tls::verifier(spec.ca_file.as_deref())?;
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err("no certificate".into());
    };
    match verifier.verify_server_cert(leaf, intermediates, name, &[], UnixTime::now()) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => Ok(()),
        Err(e) => Err(super::http::tls_message(&e)
            .trim_start_matches("TLS: invalid certificate: ")
            .to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn period(now: DateTime<Utc>, before: i64, after_secs: i64) -> Validity {
        Validity {
            not_before: now - chrono::Duration::days(before),
            not_after: now + chrono::Duration::seconds(after_secs),
        }
    }

    #[test]
    fn days_left_are_counted_in_whole_days() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let o = judge("example.com", period(now, 10, 12 * 86_400 + 3_600), now, 30);
        assert!(!o.ok);
        assert_eq!(
            o.message,
            "certificate for example.com expires in 12 days (2026-12-05): within warn_days (30)"
        );
        let o = judge("example.com", period(now, 10, 12 * 86_400 + 3_600), now, 12);
        assert!(o.ok, "{o:?}");
        assert_eq!(
            o.message,
            "certificate for example.com expires in 12 days (2026-12-05)"
        );
    }

    #[test]
    fn an_expired_certificate_says_how_long_ago() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let o = judge("example.com", period(now, 100, -3 * 86_400 - 60), now, 0);
        assert!(!o.ok);
        assert_eq!(
            o.message,
            "certificate for example.com expired 3 days ago (2026-11-20)"
        );
        let o = judge("example.com", period(now, 100, -60), now, 0);
        assert_eq!(
            o.message,
            "certificate for example.com expired less than a day ago (2026-11-23)"
        );
    }

    #[test]
    fn a_certificate_not_valid_yet_fails() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let o = judge("example.com", period(now, -2, 90 * 86_400), now, 30);
        assert!(!o.ok);
        assert!(
            o.message.contains("is not valid before 2026-11-25"),
            "{}",
            o.message
        );
    }
}
