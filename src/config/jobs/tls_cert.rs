//! `kind = "tls_cert"`: a server's certificate, how long it has left and (with `verify`)
//! whether it is trusted for its name.

use super::raw::{value, JobCx, RawJob};
use crate::config::job::TlsCertSpec;

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> TlsCertSpec {
    let name = k.name;
    let host = value(&r.host).unwrap_or_default();
    if host.is_empty() {
        k.missing(format!(
            "job {name:?}: kind \"tls_cert\" needs `host`, e.g. host = \"example.com\""
        ));
    }
    let port = match &r.port {
        None => 443,
        Some(p) if (1..=65_535).contains(p.get_ref()) => *p.get_ref() as u16,
        Some(p) => {
            k.at(
                p,
                format!(
                    "job {name:?}: `port` = {} is not a TCP port (1-65535)",
                    p.get_ref()
                ),
            );
            0
        }
    };
    let sni = value(&r.sni).unwrap_or_else(|| host.clone());
    if !sni.is_empty() && rustls::pki_types::ServerName::try_from(sni.as_str()).is_err() {
        let (key, at) = match &r.sni {
            Some(s) => ("sni", Some(s)),
            None => ("host", r.host.as_ref()),
        };
        k.at_key(
            at,
            format!("job {name:?}: `{key}` {sni:?} is not a valid host name or IP address"),
        );
    }
    let warn_days = match &r.warn_days {
        None => 30,
        Some(d) if (0..=3650).contains(d.get_ref()) => *d.get_ref() as u32,
        Some(d) => {
            k.at(d, format!("job {name:?}: `warn_days` = {} is out of range: use a whole number of days from 0 to 3650", d.get_ref()));
            0
        }
    };
    let verify = value(&r.verify).unwrap_or(false);
    if let (Some(ca), false) = (&r.ca_file, verify) {
        k.at(ca, format!("job {name:?}: `ca_file` is used only with `verify = true`: add that, or remove `ca_file`"));
    }
    TlsCertSpec {
        host,
        port,
        sni,
        warn_days,
        verify,
        ca_file: r.ca_file.as_ref().map(|f| k.path(f.get_ref())),
    }
}
