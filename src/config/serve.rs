//! `[serve]`: the status server (`checker serve`) that peers ask.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::context::{section_line, FileCtx, S};
use super::secret::{token, Secret};

/// `[serve]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    pub listen: Option<S<String>>,
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub max_connections: Option<S<i64>>,
    pub header_timeout: Option<S<String>>,
}

/// `[serve]`: the status server (`checker serve`).
#[derive(Debug, Clone)]
pub struct Serve {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// Bearer token every request must carry; `None`: open.
    pub token: Option<Secret>,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A client must send a whole request head within this long (also the keep-alive
    /// idle limit).
    pub header_timeout: Duration,
}

impl Default for Serve {
    fn default() -> Self {
        Serve {
            listen: "127.0.0.1:5000".into(),
            token: None,
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

pub(super) fn resolve(cx: &mut FileCtx<'_>, base: &Path, raw: Option<&RawServe>) -> Serve {
    let mut serve = Serve::default();
    let Some(r) = raw else { return serve };
    if let Some(listen) = &r.listen {
        if valid_listen(listen.get_ref()) {
            serve.listen = listen.get_ref().clone();
        } else {
            cx.at(
                listen.span().start,
                format!(
                    "[serve] `listen` = {:?} is not valid: use host:port, e.g. \"127.0.0.1:5000\" or \"0.0.0.0:5000\"",
                    listen.get_ref()
                ),
            );
        }
    }
    let line = section_line(cx.src, "[serve]");
    serve.token = token(
        cx,
        base,
        "[serve]",
        line,
        r.token.as_ref(),
        r.token_env.as_ref(),
        r.token_file.as_ref(),
    );
    if let Some(n) = r
        .max_connections
        .as_ref()
        .and_then(|v| cx.ranged("max_connections", v, 1, 100_000))
    {
        serve.max_connections = n as usize;
    }
    if let Some(v) = &r.header_timeout {
        match cx.duration("header_timeout", v) {
            Some(d) if d < Duration::from_millis(100) => cx.at(
                v.span().start,
                "[serve] `header_timeout` must be at least 100ms",
            ),
            Some(d) => serve.header_timeout = d,
            None => {}
        }
    }
    serve
}

/// `host:port` with a numeric port; the host may be a name, an IPv4 address or a
/// bracketed IPv6 address.
fn valid_listen(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_need_a_host_and_a_numeric_port() {
        for ok in ["127.0.0.1:5000", "0.0.0.0:0", "[::1]:5000", "localhost:80"] {
            assert!(valid_listen(ok), "{ok}");
        }
        for bad in ["5000", ":5000", "127.0.0.1", "127.0.0.1:http", "host:70000"] {
            assert!(!valid_listen(bad), "{bad}");
        }
    }
}
