//! What the check tests need around them: a small HTTP/1.1 server (plain or TLS with a
//! self-signed certificate) that counts what it sees, plugin scripts in a temp dir, and
//! `Job` values with test defaults.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use checker::config::{
    CommandSpec, Frequency, HttpSpec, Job, JobKind, NotifyEvery, Rules, SourceLoc, TcpSpec,
};
use checker::schedule::Schedule;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server saw, for assertions on the server side.
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

/// An HTTP/1.1 test server on 127.0.0.1 with keep-alive. Routes:
/// `/ok`, `/status/<code>`, `/redirect` (301 to /ok), `/slow/<ms>` (counted in flight),
/// `/hang` (never answers), `/endless` (a body that never ends), `/big` (2 MiB, with
/// "needle" only past the body cap), `/echo` (method, x-test header and body).
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
        let certified = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key.into())
        .unwrap();
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    /// The same server behind TLS presenting this certificate chain and key.
    pub async fn start_tls_with(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> TestServer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
                                serve(stream, stats).await;
                            }
                        }
                        None => serve(stream, stats).await,
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
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, stats: Arc<Stats>) {
    let mut stream = BufReader::new(stream);
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

/// A port on 127.0.0.1 with nothing listening: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn http_spec(url: &str) -> HttpSpec {
    HttpSpec {
        url: url.to_string(),
        method: "GET".into(),
        headers: Vec::new(),
        body: None,
        expect_status: vec![200],
        contains: None,
        max_response_time: None,
        follow_redirects: false,
        accept_invalid_certs: false,
        not_contains: None,
        json: Vec::new(),
        ca_file: None,
    }
}

pub fn tcp_spec(port: u16) -> TcpSpec {
    TcpSpec {
        host: "127.0.0.1".into(),
        port,
    }
}

/// A job with test defaults: 5 s timeout, no retries, 10 ms backoff.
pub fn job(name: &str, kind: JobKind) -> Job {
    Job {
        name: name.to_string(),
        kind,
        schedule: Schedule::Tick(Frequency::Minute),
        rules: Rules {
            notify_every: NotifyEvery::Every,
            failures_before_notify: 1,
            failing_for: None,
            notify_recovery: true,
        },
        notify: Vec::new(),
        contact: None,
        timeout: Duration::from_secs(5),
        retries: 0,
        retry_backoff: Duration::from_millis(10),
        enabled: true,
        description: None,
        source: SourceLoc {
            file: PathBuf::from("jobs/test.toml"),
            line: 1,
        },
    }
}

/// Plugin scripts in a temp dir.
pub struct Scripts {
    pub dir: tempfile::TempDir,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes an executable `#!/bin/sh` script.
    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `script` through /bin/sh, so no test execs a file it has just written (another
/// test thread forking at that moment would make the exec fail with "text file busy").
pub fn sh(script: &Path, args: &[&str]) -> CommandSpec {
    let mut command = vec!["/bin/sh".to_string(), script.display().to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    CommandSpec {
        command,
        env: BTreeMap::new(),
        cwd: None,
        warning_is_failure: true,
    }
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped), waiting up
/// to two seconds for it to happen.
pub async fn process_ended(pid: u32) -> bool {
    for _ in 0..40 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // The state follows the command name in parentheses: "1234 (sleep) Z ...".
            Ok(stat) => {
                let state = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().chars().next());
                if state == Some(Some('Z')) {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits (up to two seconds) for a script to have written a pid into `file`.
pub async fn read_pid(file: &Path) -> u32 {
    for _ in 0..40 {
        if let Ok(text) = std::fs::read_to_string(file) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no pid written to {}", file.display());
}
