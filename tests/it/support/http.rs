//! Real HTTP/1.1 servers on loopback. `Server` is the one the others are made of: a thread
//! per connection, keep-alive, plain or TLS, each request read whole and answered by a
//! function of it. On it: `HttpServer` (answers the status currently set, counts requests)
//! and `FixedHttp` (fixed answers by path). `TestServer` is the async one the library's
//! check tests use (routes that hang, stream, echo, or count requests in flight).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

// ------------------------------------------------------------------- requests, answers

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header as ntfy reads it: an RFC 2047 encoded word (`=?UTF-8?B?...?=`, how
    /// non-ASCII text travels in a header) decoded.
    pub fn header_decoded(&self, name: &str) -> Option<String> {
        let raw = self.header(name)?;
        let Some(b64) = raw
            .strip_prefix("=?UTF-8?B?")
            .and_then(|r| r.strip_suffix("?="))
        else {
            return Some(raw.to_string());
        };
        const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in b64.bytes().filter(|c| *c != b'=') {
            let v = ABC.iter().position(|a| *a == c)? as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        String::from_utf8(out).ok()
    }

    /// `application/x-www-form-urlencoded` fields, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        self.text()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (url_decode(k), url_decode(v))
            })
            .collect()
    }

    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request (line, headers, a body of Content-Length bytes); `None` when the
/// connection ends first.
pub fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// An answer: status, content type, body, and whether to close the connection after it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
            close: false,
        }
    }

    pub fn json(status: u16, v: Value) -> Response {
        Response::new(status, "application/json", v.to_string())
    }

    /// The same answer, then the connection is closed.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

// ------------------------------------------------------------------------------ Server

/// A threaded HTTP/1.1 server on 127.0.0.1, running until the test process ends.
pub struct Server {
    pub port: u16,
}

impl Server {
    /// Answers every request with `handler`, on any free port.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        Server::start_on(0, handler)
    }

    /// Starts on `port` (0: any free port): a server that was down comes back where the
    /// requests are sent.
    pub fn start_on(
        port: u16,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        Server::listen(port, None, Arc::new(handler))
    }

    /// The same behind TLS with this server configuration.
    pub fn start_tls(
        config: Arc<rustls::ServerConfig>,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        Server::listen(0, Some(config), Arc::new(handler))
    }

    fn listen(port: u16, tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (handler, tls) = (handler.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(conn, &*handler),
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(session, conn), &*handler);
                    }
                });
            }
        });
        Server { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A connection's stream, told when the server hangs up (TLS says so first).
trait Conn: Read + Write {
    fn hang_up(&mut self) {}
}

impl Conn for TcpStream {}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn hang_up(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// Serves requests on one connection until the client (or an answer) closes it.
fn serve<S: Conn>(stream: S, handler: &Handler) {
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let answer = handler(&req);
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n",
            answer.status,
            answer.content_type,
            answer.body.len(),
            if answer.close {
                "Connection: close\r\n"
            } else {
                ""
            }
        );
        let w = reader.get_mut();
        if w.write_all(head.as_bytes()).is_err()
            || w.write_all(answer.body.as_bytes()).is_err()
            || w.flush().is_err()
        {
            return;
        }
        if answer.close {
            w.hang_up();
            return;
        }
    }
}

// -------------------------------------------------------------------- HttpServer, FixedHttp

/// Answers every request with the status currently set (200 at first) and counts them.
pub struct HttpServer {
    pub port: u16,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicU64>,
}

impl HttpServer {
    pub fn start() -> Self {
        let status = Arc::new(AtomicU16::new(200));
        let hits = Arc::new(AtomicU64::new(0));
        let (s, h) = (status.clone(), hits.clone());
        let server = Server::start(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
            let code = s.load(Ordering::SeqCst);
            Response::new(
                code,
                "text/plain",
                format!("status {code} from the test server\n"),
            )
        });
        HttpServer {
            port: server.port,
            status,
            hits,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Fixed answers: path -> (status, JSON body); any other path is a 404. One request per
/// connection.
pub struct FixedHttp {
    pub port: u16,
}

impl FixedHttp {
    pub fn start(routes: &[(&str, u16, &str)]) -> FixedHttp {
        let routes: HashMap<String, (u16, String)> = routes
            .iter()
            .map(|(p, s, b)| (p.to_string(), (*s, b.to_string())))
            .collect();
        let server = Server::start(move |req| {
            let (status, text) = routes
                .get(&req.path)
                .cloned()
                .unwrap_or((404, "not found".into()));
            Response::new(status, "application/json", text).closing()
        });
        FixedHttp { port: server.port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

// -------------------------------------------------------------------------- TestServer

/// What the async test server saw, for assertions on the server side.
#[derive(Default)]
pub struct Stats {
    hits: Mutex<HashMap<String, usize>>,
    pub connections: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl Stats {
    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// An async HTTP/1.1 test server on 127.0.0.1 with keep-alive (runs on the test's tokio
/// runtime). Routes: `/ok`, `/status/<code>`, `/redirect` (301 to /ok), `/slow/<ms>`
/// (counted in flight), `/hang` (never answers), `/endless` (a body that never ends),
/// `/big` (2 MiB, with "needle" only past the body cap), `/echo` (method, x-test header
/// and body).
pub struct TestServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    scheme: &'static str,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(None).await
    }

    /// The same server behind TLS with a freshly made self-signed certificate.
    pub async fn start_tls() -> TestServer {
        let (chain, key) = super::tls::self_signed(&["127.0.0.1", "localhost"]);
        Self::start_tls_with(chain, key).await
    }

    /// The same server behind TLS presenting this certificate chain and key.
    pub async fn start_tls_with(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> TestServer {
        let config = super::tls::server_config(chain, key);
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let server_stats = Arc::clone(&stats);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                server_stats.connections.fetch_add(1, Ordering::SeqCst);
                let stats = Arc::clone(&server_stats);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_async(stream, stats).await;
                            }
                        }
                        None => serve_async(stream, stats).await,
                    }
                });
            }
        });
        TestServer {
            addr,
            stats,
            scheme,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr, path)
    }
}

/// Serves requests on one connection until the client closes it.
async fn serve_async<S: AsyncRead + AsyncWrite + Unpin>(stream: S, stats: Arc<Stats>) {
    let mut stream = tokio::io::BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        *stats.hits.lock().unwrap().entry(path.clone()).or_default() += 1;

        let (status, extra, body): (u16, String, Vec<u8>) = match path.as_str() {
            "/ok" => (200, String::new(), b"Welcome to the test server".to_vec()),
            "/redirect" => (301, "Location: /ok\r\n".into(), b"moved".to_vec()),
            "/echo" => {
                let echo = format!(
                    "{method} x-test={} body={}",
                    headers.get("x-test").map(String::as_str).unwrap_or("-"),
                    String::from_utf8_lossy(&body)
                );
                (200, String::new(), echo.into_bytes())
            }
            "/big" => {
                let mut big = b"head ".to_vec();
                big.resize(2 * 1024 * 1024, b'a');
                big.extend_from_slice(b"needle");
                (200, String::new(), big)
            }
            "/hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            "/endless" => {
                let head =
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 16 * 1024];
                while stream.write_all(&chunk).await.is_ok() {}
                return;
            }
            p if p.starts_with("/slow/") => {
                let ms: u64 = p["/slow/".len()..].parse().unwrap_or(100);
                let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                (200, String::new(), b"slow".to_vec())
            }
            p if p.starts_with("/status/") => {
                let code = p["/status/".len()..].parse().unwrap_or(500);
                (code, String::new(), format!("status {code}").into_bytes())
            }
            _ => (404, String::new(), b"not found".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
        {
            return;
        }
        if stream.flush().await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 exchange on a fresh connection (`Connection: close`): status and body.
pub fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    raw(port, request.as_bytes())
}

/// Sends raw bytes and reads the answer to its end: status and body ((0, "") when the
/// server closed without answering).
pub fn raw(port: u16, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The server may close before reading everything of a refused request.
    let _ = s.write_all(request);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
