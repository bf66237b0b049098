//! The `tcp` check: resolve a host and open a connection to a port within the timeout.
//! A refused connection or a timeout may pass by itself (transient); a name that does not
//! resolve will not.
use std::io;
use std::time::{Duration, Instant};

use tokio::net::{lookup_host, TcpStream};

use super::Outcome;
use crate::config::TcpSpec;
use crate::duration::timed_out;

pub async fn check(spec: &TcpSpec, timeout: Duration) -> Outcome {
    let target = format!("{}:{}", spec.host, spec.port);
    match tokio::time::timeout(timeout, connect(spec, &target)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::transient(timed_out(timeout)),
    }
}

async fn connect(spec: &TcpSpec, target: &str) -> Outcome {
    let started = Instant::now();
    let addrs: Vec<_> = match lookup_host((spec.host.as_str(), spec.port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Outcome::fail(format!("cannot resolve {}: {e}", spec.host)),
    };
    if addrs.is_empty() {
        return Outcome::fail(format!("cannot resolve {}: no addresses", spec.host));
    }
    let mut last_error = None;
    // Try every address in turn, like a browser without happy eyeballs: a host with a
    // dead IPv6 address but a live IPv4 one is up.
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(_) => {
                return Outcome::ok(format!(
                    "connected to {target} in {} ms",
                    started.elapsed().as_millis()
                ))
            }
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) => connect_error(&e),
        None => Outcome::fail(format!("cannot connect to {target}")),
    }
}

/// Words for a failed connect; every connect failure is worth a retry, since ports
/// close and open again and routes come back.
pub(crate) fn connect_error(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::transient("connection refused"),
        io::ErrorKind::ConnectionReset => Outcome::transient("connection reset"),
        _ => Outcome::transient(format!("cannot connect: {e}")),
    }
}
