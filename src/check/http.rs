//! The `http` check: one request, judged on status, body text and response time, with
//! failures worded for a person; and `Clients`, the reqwest clients one run shares so that
//! many checks against one server reuse its connections.
use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::Response;

use super::{Outcome, BODY_CAP, OUTPUT_CAP};
use crate::config::HttpSpec;
use crate::duration::timed_out;
use crate::text::truncate;

/// How much of a body is read when nothing is searched in it: enough for a typical page
/// to be read to its end, so the connection goes back to the pool for the next check.
const DRAIN_CAP: usize = OUTPUT_CAP;

/// Shared HTTP clients for one run, keyed by the settings that need a client of their own
/// (`follow_redirects`, `accept_invalid_certs`, `ca_file`). Each is built on first use:
/// creating `Clients` costs nothing, so a run with no HTTP check builds no client.
#[derive(Default)]
pub struct Clients {
    slots: [OnceLock<Result<reqwest::Client, String>>; 4],
    /// Clients trusting a `ca_file`, by redirect policy and file.
    with_ca: Mutex<HashMap<(bool, PathBuf), Result<reqwest::Client, String>>>,
}

impl Clients {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many clients have been built so far.
    pub fn built(&self) -> usize {
        let with_ca = self
            .with_ca
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        self.slots.iter().filter(|s| s.get().is_some()).count() + with_ca
    }

    pub(crate) fn get(
        &self,
        follow_redirects: bool,
        accept_invalid_certs: bool,
    ) -> Result<&reqwest::Client, String> {
        let index = (usize::from(follow_redirects) << 1) | usize::from(accept_invalid_certs);
        self.slots[index]
            .get_or_init(|| build_client(follow_redirects, accept_invalid_certs, None))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The client for these settings; with a `ca_file` (and not `accept_invalid_certs`,
    /// which trusts anything anyway) one that trusts it too.
    pub(crate) fn get_for(
        &self,
        follow_redirects: bool,
        accept_invalid_certs: bool,
        ca_file: Option<&Path>,
    ) -> Result<reqwest::Client, String> {
        match ca_file {
            Some(path) if !accept_invalid_certs => self
                .with_ca
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((follow_redirects, path.to_path_buf()))
                .or_insert_with(|| build_client(follow_redirects, false, Some(path)))
                .clone(),
            _ => self.get(follow_redirects, accept_invalid_certs).cloned(),
        }
    }
}

fn build_client(
    follow_redirects: bool,
    accept_invalid_certs: bool,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, String> {
    let redirect = if follow_redirects {
        Policy::limited(10)
    } else {
        Policy::none()
    };
    let mut builder = reqwest::Client::builder()
        .redirect(redirect)
        .danger_accept_invalid_certs(accept_invalid_certs)
        .user_agent(concat!("checker/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true);
    if let Some(path) = ca_file {
        // The CA file was read before the run started (`tls::preload`).
        let mut tls = (*crate::tls::client_config(Some(path), false)?).clone();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        builder = builder.use_preconfigured_tls(tls);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))
}

/// Runs one request. `timeout` bounds the whole exchange, body included.
pub async fn check(spec: &HttpSpec, timeout: Duration, clients: &Clients) -> Outcome {
    // reqwest's own timeout covers the request, and this one anything around it, so the
    // outcome reads the same whichever fires first.
    match tokio::time::timeout(timeout, request(spec, timeout, clients)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::transient(timed_out(timeout)),
    }
}

async fn request(spec: &HttpSpec, timeout: Duration, clients: &Clients) -> Outcome {
    let client = match clients.get_for(
        spec.follow_redirects,
        spec.accept_invalid_certs,
        spec.ca_file.as_deref(),
    ) {
        Ok(client) => client,
        Err(message) => return Outcome::fail(message),
    };
    let method = match reqwest::Method::from_bytes(spec.method.as_bytes()) {
        Ok(method) => method,
        Err(_) => return Outcome::fail(format!("invalid HTTP method {:?}", spec.method)),
    };
    let mut builder = match &spec.parsed_url {
        // Parsed once when the configuration was loaded.
        Some(url) => client.request(method, url.clone()),
        None => client.request(method, &spec.url),
    }
    .timeout(timeout);
    for (name, value) in &spec.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &spec.body {
        builder = builder.body(body.clone());
    }

    let started = Instant::now();
    let mut response = match builder.send().await {
        Ok(response) => response,
        Err(e) => return request_error(&e, timeout),
    };
    let status = response.status().as_u16();
    let expected: &[u16] = if spec.expect_status.is_empty() {
        &[200]
    } else {
        &spec.expect_status
    };
    if !expected.contains(&status) {
        let location = redirect_target(&response);
        // Read a little so a kept-alive connection can be reused; errors here change
        // nothing about the verdict.
        let _ = read_body(&mut response, DRAIN_CAP).await;
        let list: Vec<String> = expected.iter().map(u16::to_string).collect();
        let message = format!("HTTP {status}{location} (expected {})", list.join(", "));
        return if (500..600).contains(&status) {
            Outcome::transient(message)
        } else {
            Outcome::fail(message)
        };
    }

    let searched = spec.contains.is_some() || spec.not_contains.is_some() || !spec.json.is_empty();
    let cap = if searched { BODY_CAP } else { DRAIN_CAP };
    let body = match read_body(&mut response, cap).await {
        Ok(body) => body,
        Err(e) => return request_error(&e, timeout),
    };
    let elapsed = started.elapsed();
    if let Some(needle) = &spec.contains {
        if !contains(&body, needle.as_bytes()) {
            let beyond = if body.len() >= BODY_CAP {
                format!(" (searched the first {} KiB)", BODY_CAP / 1024)
            } else {
                String::new()
            };
            return Outcome::fail(format!(
                "body does not contain {:?}{beyond}",
                truncate(needle, 100)
            ));
        }
    }
    if let Some(needle) = &spec.not_contains {
        if !needle.is_empty() && contains(&body, needle.as_bytes()) {
            return Outcome::fail(format!("body contains {:?}", truncate(needle, 100)));
        }
    }
    if !spec.json.is_empty() {
        if let Err(message) = json_assertions(&body, &spec.json) {
            return Outcome::fail(message);
        }
    }
    if let Some(max) = spec.max_response_time {
        if elapsed > max {
            return Outcome::fail(format!(
                "took {} (max {})",
                human(elapsed),
                crate::duration::format(max)
            ));
        }
    }
    Outcome::ok(format!("HTTP {status} in {}", human(elapsed)))
}

/// Checks each JSON pointer of `assertions` against the body; the first mismatch is the
/// message: `JSON /status is "down", expected "ok"`.
fn json_assertions(body: &[u8], assertions: &[(String, serde_json::Value)]) -> Result<(), String> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        let beyond = if body.len() >= BODY_CAP {
            format!(" (only the first {} KiB were read)", BODY_CAP / 1024)
        } else {
            String::new()
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            "body is empty, expected JSON".to_string()
        } else {
            format!("body is not JSON: {e}{beyond}")
        }
    })?;
    for (pointer, expected) in assertions {
        match doc.pointer(pointer) {
            None => {
                return Err(format!(
                    "JSON {pointer} is missing, expected {}",
                    show_json(expected)
                ))
            }
            Some(found) if !json_equal(found, expected) => {
                return Err(format!(
                    "JSON {pointer} is {}, expected {}",
                    show_json(found),
                    show_json(expected)
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Equality where 3 and 3.0 are the same number.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() => x == y,
            _ => x == y,
        },
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A JSON value for a message, shortened.
fn show_json(v: &serde_json::Value) -> String {
    truncate(&v.to_string(), 200)
}

/// " to /login" for a redirect that was not followed, so the message says where it went.
fn redirect_target(response: &Response) -> String {
    if !response.status().is_redirection() {
        return String::new();
    }
    match response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(location) => format!(" to {}", truncate(location, 200)),
        None => String::new(),
    }
}

/// Reads the body chunk by chunk up to `cap` bytes and stops there: a server that sends
/// endless data costs at most `cap` bytes of memory.
pub(crate) async fn read_body(
    response: &mut Response,
    cap: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < cap {
        match response.chunk().await? {
            Some(chunk) => {
                let take = chunk.len().min(cap - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            None => break,
        }
    }
    Ok(body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// "35 ms" below a second, "2.3 s" above.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Turns a reqwest error into words, looking down the source chain for the cause that
/// means something (a refused connection, a certificate problem) rather than reqwest's
/// "error sending request for url".
pub(crate) fn request_error(e: &reqwest::Error, timeout: Duration) -> Outcome {
    if e.is_timeout() {
        return Outcome::transient(timed_out(timeout));
    }
    if e.is_builder() {
        return Outcome::fail(format!("invalid request: {}", chain(e)));
    }
    for err in causes(e) {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Outcome::fail(tls_message(tls));
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => {
                    return Outcome::transient("connection refused")
                }
                io::ErrorKind::ConnectionReset => return Outcome::transient("connection reset"),
                io::ErrorKind::TimedOut => return Outcome::transient(timed_out(timeout)),
                _ => {}
            }
        }
        if err.to_string().starts_with("dns error") {
            let host = e.url().and_then(|u| u.host_str()).unwrap_or("host");
            return Outcome::fail(format!("cannot resolve {host}: {}", innermost(e)));
        }
    }
    if e.is_redirect() {
        return Outcome::fail(format!("redirect failed: {}", innermost(e)));
    }
    if e.is_connect() {
        return Outcome::transient(format!("cannot connect: {}", innermost(e)));
    }
    // A connection dropped mid-request or mid-body: the server may be restarting.
    if e.is_request() || e.is_body() || e.is_decode() {
        return Outcome::transient(innermost(e).to_string());
    }
    Outcome::fail(chain(e))
}

pub(crate) fn tls_message(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(cert) => {
            let reason = match cert {
                C::UnknownIssuer => {
                    "unknown issuer (self-signed or signed by an untrusted CA)".to_string()
                }
                C::Expired => "expired".to_string(),
                C::NotValidYet => "not valid yet".to_string(),
                C::NotValidForName => "not valid for this host name".to_string(),
                // webpki's word for the usual `openssl req -x509` certificate.
                C::Other(e) if format!("{e:?}").contains("CaUsedAsEndEntity") => {
                    "a CA certificate presented as the server's own (self-signed: list it in ca_file to trust it)".to_string()
                }
                other => other.to_string(),
            };
            format!("TLS: invalid certificate: {reason}")
        }
        other => format!("TLS: {other}"),
    }
}

/// The error and its causes, outermost first. `io::Error` reports the cause of the error
/// it wraps rather than that error itself, so the walk looks inside it: that is where a
/// TLS connector keeps the certificate problem.
fn causes<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    // The bound only guards against a chain that loops back on itself.
    while let (Some(err), true) = (next, out.len() < 32) {
        out.push(err);
        next = match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    out
}

/// The deepest error in the chain: usually the one that says what happened.
fn innermost<'a>(e: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    causes(e).last().copied().unwrap_or(e)
}

/// Every message in the chain, joined: for errors nothing more specific describes.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in causes(e) {
        let text = err.to_string();
        // Wrappers often repeat their cause's text in their own.
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_build_nothing_until_first_use() {
        let clients = Clients::new();
        assert_eq!(clients.built(), 0);
        assert!(clients.get(false, false).is_ok());
        assert!(clients.get(false, false).is_ok());
        assert_eq!(clients.built(), 1);
        assert!(clients.get(true, true).is_ok());
        assert_eq!(clients.built(), 2);
    }

    #[test]
    fn durations_read_as_milliseconds_then_seconds() {
        assert_eq!(human(Duration::from_millis(35)), "35 ms");
        assert_eq!(human(Duration::from_millis(2_340)), "2.3 s");
    }

    #[test]
    fn contains_finds_bytes_anywhere() {
        assert!(contains(b"hello Welcome there", b"Welcome"));
        assert!(!contains(b"hello", b"Welcome"));
        assert!(contains(b"", b""));
    }
}
