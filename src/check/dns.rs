//! The `dns` check: resolve `query` for one record type (A, AAAA, CNAME, MX, TXT, NS)
//! through the system resolver or a given `server`, and optionally require that every
//! `expect`ed value is among the answers. A server that does not answer is transient; a
//! name that does not exist or has no such records is not.
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;

use super::Outcome;
use crate::config::{DnsRecord, DnsSpec};
use crate::duration::timed_out;
use crate::text::truncate;

/// Answers listed in a message before "and N more".
const SHOWN: usize = 8;

pub async fn check(spec: &DnsSpec, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, lookup(spec, timeout)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::transient(format!(
            "{} {}: no answer: {}",
            spec.query,
            spec.record.as_str(),
            timed_out(timeout)
        )),
    }
}

async fn lookup(spec: &DnsSpec, timeout: Duration) -> Outcome {
    let what = format!("{} {}", spec.query, spec.record.as_str());
    // Building a resolver reads /etc/resolv.conf (once per run, see `system_conf`) and
    // /etc/hosts: on the blocking pool, not on the async workers the other checks share.
    let owned = spec.clone();
    let built = tokio::task::spawn_blocking(move || resolver(&owned, timeout)).await;
    let resolver = match built {
        Ok(Ok(r)) => r,
        Ok(Err(message)) => return Outcome::fail(message),
        Err(e) => return Outcome::fail(format!("cannot set up the resolver: {e}")),
    };
    let mut name = match Name::from_utf8(&spec.query) {
        Ok(n) => n,
        Err(e) => return Outcome::fail(format!("{:?} is not a valid DNS name: {e}", spec.query)),
    };
    if spec.server.is_some() {
        // A given server is asked for exactly this name, never with search domains.
        name.set_fqdn(true);
    }
    let record_type = record_type(spec.record);
    let lookup = match resolver.lookup(name, record_type).await {
        Ok(l) => l,
        Err(e) => return resolve_error(&what, &e, timeout),
    };
    let answers: Vec<String> = lookup
        .answers()
        .iter()
        .filter(|r| r.record_type() == record_type)
        .filter_map(|r| show(&r.data))
        .collect();
    if answers.is_empty() {
        return Outcome::fail(format!("{what}: no {} records", spec.record.as_str()));
    }
    let listed = list(&answers);
    let missing: Vec<&String> = spec
        .expect
        .iter()
        .filter(|e| !answers.iter().any(|a| matches(spec.record, a, e)))
        .collect();
    if missing.is_empty() {
        return Outcome::ok(format!("{what}: {listed}"));
    }
    let missing: Vec<String> = missing.iter().map(|m| format!("{m:?}")).collect();
    let verb = if missing.len() == 1 { "is" } else { "are" };
    Outcome::fail(format!(
        "{what}: {listed}; expected {} {verb} not among them",
        missing.join(", ")
    ))
}

fn resolver(spec: &DnsSpec, timeout: Duration) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match spec.server {
        Some(addr) => {
            // UDP, then TCP for answers too long for it; NXDOMAIN is trusted.
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            let mut builder = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), vec![server]),
                provider,
            );
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder
        }
        None => {
            let (config, options) = system_conf()?;
            let mut builder = TokioResolver::builder_with_config(config, provider);
            *builder.options_mut() = options;
            builder
        }
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = timeout;
    // Retries are the runner's business (and counted in the history).
    opts.attempts = 1;
    opts.preserve_intermediates = true;
    builder
        .build()
        .map_err(|e| format!("cannot set up the resolver: {e}"))
}

/// The system resolver configuration, read once per run.
fn system_conf() -> Result<(ResolverConfig, ResolverOpts), String> {
    static CONF: OnceLock<Result<(ResolverConfig, ResolverOpts), String>> = OnceLock::new();
    CONF.get_or_init(|| {
        hickory_resolver::system_conf::read_system_conf().map_err(|e| {
            format!("cannot read the system resolver configuration (/etc/resolv.conf): {e}")
        })
    })
    .clone()
}

fn record_type(r: DnsRecord) -> RecordType {
    match r {
        DnsRecord::A => RecordType::A,
        DnsRecord::Aaaa => RecordType::AAAA,
        DnsRecord::Cname => RecordType::CNAME,
        DnsRecord::Mx => RecordType::MX,
        DnsRecord::Txt => RecordType::TXT,
        DnsRecord::Ns => RecordType::NS,
    }
}

/// An answer as a person writes it: `192.0.2.1`, `mail.example.com` (no final dot),
/// `10 mail.example.com`, the TXT strings joined.
fn show(data: &RData) -> Option<String> {
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => host(&c.0),
        RData::NS(n) => host(&n.0),
        RData::MX(mx) => format!("{} {}", mx.preference, host(&mx.exchange)),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect(),
        _ => return None,
    })
}

fn host(name: &Name) -> String {
    let text = name.to_utf8();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

/// Whether `answer` satisfies `expected`: addresses compare as addresses, names without
/// case or final dot, an MX by its host alone or with its preference, TXT exactly.
fn matches(record: DnsRecord, answer: &str, expected: &str) -> bool {
    let expected = expected.trim();
    let name = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    match record {
        DnsRecord::A | DnsRecord::Aaaa => {
            match (answer.parse::<IpAddr>(), expected.parse::<IpAddr>()) {
                (Ok(a), Ok(e)) => a == e,
                _ => answer == expected,
            }
        }
        DnsRecord::Cname | DnsRecord::Ns => name(answer) == name(expected),
        DnsRecord::Mx => {
            let host_only = answer.split_once(' ').map_or(answer, |(_, h)| h);
            let normalized = expected
                .split_whitespace()
                .map(name)
                .collect::<Vec<_>>()
                .join(" ");
            name(answer) == normalized || name(host_only) == normalized
        }
        DnsRecord::Txt => answer == expected,
    }
}

fn list(answers: &[String]) -> String {
    let shown: Vec<String> = answers
        .iter()
        .take(SHOWN)
        .map(|a| truncate(a, 200))
        .collect();
    let mut text = shown.join(", ");
    if answers.len() > SHOWN {
        text.push_str(&format!(" and {} more", answers.len() - SHOWN));
    }
    text
}

fn resolve_error(what: &str, e: &NetError, timeout: Duration) -> Outcome {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) => match no.response_code {
            ResponseCode::NXDomain => Outcome::fail(format!("{what}: no such name (NXDOMAIN)")),
            ResponseCode::NoError => Outcome::fail(format!("{what}: no records of this type")),
            code => Outcome::transient(format!("{what}: the server answered {code}")),
        },
        // SERVFAIL, REFUSED and the like: the server could not answer this time.
        NetError::Dns(DnsError::ResponseCode(code)) => {
            Outcome::transient(format!("{what}: the server answered {code}"))
        }
        NetError::Timeout => {
            Outcome::transient(format!("{what}: no answer: {}", timed_out(timeout)))
        }
        NetError::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                Outcome::transient(format!("{what}: connection refused"))
            }
            std::io::ErrorKind::TimedOut => {
                Outcome::transient(format!("{what}: no answer: {}", timed_out(timeout)))
            }
            _ => Outcome::transient(format!("{what}: {io}")),
        },
        NetError::NoConnections | NetError::Busy => {
            Outcome::transient(format!("{what}: no DNS server could be reached"))
        }
        _ => Outcome::fail(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_match_as_a_person_means_them() {
        assert!(matches(DnsRecord::A, "192.0.2.1", " 192.0.2.1"));
        assert!(matches(DnsRecord::Aaaa, "2001:db8::1", "2001:0db8:0:0::1"));
        assert!(matches(
            DnsRecord::Cname,
            "target.example",
            "Target.Example."
        ));
        assert!(matches(DnsRecord::Mx, "10 mx.example", "mx.example"));
        assert!(matches(DnsRecord::Mx, "10 mx.example", "10 MX.example."));
        assert!(!matches(DnsRecord::Mx, "10 mx.example", "20 mx.example"));
        assert!(matches(DnsRecord::Txt, "v=spf1 -all", "v=spf1 -all"));
        assert!(!matches(DnsRecord::Txt, "v=spf1 -all", "V=SPF1 -all"));
    }

    #[test]
    fn a_server_that_fails_or_refuses_is_transient_and_a_missing_name_is_not() {
        let t = Duration::from_secs(2);
        for code in [ResponseCode::ServFail, ResponseCode::Refused] {
            let o = resolve_error("x A", &NetError::Dns(DnsError::ResponseCode(code)), t);
            assert!(!o.ok && o.transient, "{o:?}");
            assert_eq!(o.message, format!("x A: the server answered {code}"));
        }
        let o = resolve_error("x A", &NetError::Timeout, t);
        assert!(o.transient);
        assert_eq!(o.message, "x A: no answer: timed out after 2s");
        let query =
            hickory_resolver::proto::op::Query::query(Name::from_utf8("x").unwrap(), RecordType::A);
        let nx = NetError::from(hickory_resolver::net::NoRecords::new(
            query,
            ResponseCode::NXDomain,
        ));
        let o = resolve_error("x A", &nx, t);
        assert!(!o.transient);
        assert_eq!(o.message, "x A: no such name (NXDOMAIN)");
    }

    #[test]
    fn long_answer_lists_are_cut() {
        let answers: Vec<String> = (0..10).map(|i| format!("192.0.2.{i}")).collect();
        assert!(list(&answers).ends_with("192.0.2.7 and 2 more"));
    }
}
