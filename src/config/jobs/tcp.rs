//! `kind = "tcp"`: a port that must accept a connection.

use toml::Spanned;

use super::raw::{JobCx, RawJob};
use crate::config::job::TcpSpec;

/// `host` is taken out of `r`, not copied.
pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &mut RawJob) -> TcpSpec {
    let name = k.name;
    let host = r.host.take().map(Spanned::into_inner).unwrap_or_default();
    if host.is_empty() {
        k.missing(format!("job {name:?}: kind \"tcp\" needs `host`"));
    }
    let port = match &r.port {
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
        None => {
            k.missing(format!("job {name:?}: kind \"tcp\" needs `port`"));
            0
        }
    };
    TcpSpec { host, port }
}
