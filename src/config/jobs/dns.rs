//! `kind = "dns"`: a name that must resolve, to given values if `expect` says so.

use super::raw::{value, JobCx, RawJob, TextList};
use crate::config::context::quoted;
use crate::config::job::{DnsRecord, DnsSpec};

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> DnsSpec {
    let name = k.name;
    let query = value(&r.query).unwrap_or_default();
    if query.trim().is_empty() {
        k.missing(format!("job {name:?}: kind \"dns\" needs `query`, the name to resolve, e.g. query = \"example.com\""));
    }
    let record = match &r.record {
        None => DnsRecord::A,
        Some(rec) => DnsRecord::parse(rec.get_ref()).unwrap_or_else(|| {
            k.at(
                rec,
                format!(
                    "job {name:?}: `record` = {:?} is not supported: use one of {}",
                    rec.get_ref(),
                    quoted(DnsRecord::NAMES)
                ),
            );
            DnsRecord::A
        }),
    };
    let expect = value(&r.expect).map(TextList::into_vec).unwrap_or_default();
    if let Some(at) = r
        .expect
        .as_ref()
        .filter(|_| expect.iter().any(|e| e.trim().is_empty()))
    {
        k.at(at, format!("job {name:?}: `expect` holds an empty value"));
    }
    let server = r.server.as_ref().and_then(|s| {
        let text = s.get_ref();
        let parsed = text.parse::<std::net::SocketAddr>().ok().or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        });
        if parsed.is_none() {
            k.at(
                s,
                format!("job {name:?}: `server` = {text:?} is not an IP address with an optional port, e.g. \"127.0.0.1:5353\" or \"[::1]:53\""),
            );
        }
        parsed
    });
    DnsSpec {
        query: query.trim().to_string(),
        record,
        expect,
        server,
    }
}
