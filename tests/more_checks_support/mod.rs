//! Real counterparts for the tls_cert, dns, http-extras, plugin and hung-target tests: a
//! TLS server that picks its certificate by SNI (certificates made here by a test CA),
//! dnsmasq on a free loopback port, a small HTTP server with fixed answers, a listener
//! that accepts and never answers, and Debian's monitoring plugins (required).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

// ------------------------------------------------------------------------ certificates

/// A test certificate authority.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "checker test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now + time::Duration::days(400);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names`, valid from `before` ago until `after` from now (negative:
    /// in the past), signed by this CA.
    pub fn issue(
        &self,
        names: &[&str],
        before: time::Duration,
        after: time::Duration,
    ) -> Arc<CertifiedKey> {
        let (chain, der) = self.issue_der(names, before, after);
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).unwrap();
        Arc::new(CertifiedKey::new(chain, signer))
    }

    /// Like `issue`, as the certificate chain and private key a server is configured with.
    pub fn issue_der(
        &self,
        names: &[&str],
        before: time::Duration,
        after: time::Duration,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - before;
        params.not_after = now + after;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![CertificateDer::from(cert.der().to_vec())], der)
    }
}

/// Picks the certificate by the SNI the client sent and records every SNI seen (`None`
/// when the client sent none).
#[derive(Debug)]
struct BySni {
    certs: HashMap<String, Arc<CertifiedKey>>,
    without_sni: Arc<CertifiedKey>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_string);
        self.seen.lock().unwrap().push(sni.clone());
        match sni {
            Some(name) => self.certs.get(&name).cloned(),
            None => Some(self.without_sni.clone()),
        }
    }
}

/// A TLS server on 127.0.0.1 that completes handshakes and hangs up. Certificates by SNI:
/// `valid.test` 90 days left, `soon.test` 10 days, `expired.test` expired 3 days ago,
/// `mismatch.test` is answered with valid.test's certificate, `localhost` 60 days;
/// without SNI (an IP address) a certificate for 127.0.0.1 with 45 days left. Each
/// lifetime has an hour more, so whole days read as the round number.
pub struct TlsCertServer {
    pub addr: SocketAddr,
    pub ca: TestCa,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl TlsCertServer {
    pub async fn start() -> TlsCertServer {
        let ca = TestCa::new();
        let day = time::Duration::days(1);
        let hour = time::Duration::hours(1);
        let valid = ca.issue(&["valid.test"], 10 * day, 90 * day + hour);
        let mut certs = HashMap::new();
        certs.insert("valid.test".to_string(), valid.clone());
        certs.insert("mismatch.test".to_string(), valid);
        certs.insert(
            "soon.test".to_string(),
            ca.issue(&["soon.test"], 80 * day, 10 * day + hour),
        );
        certs.insert(
            "expired.test".to_string(),
            ca.issue(
                &["expired.test"],
                90 * day,
                time::Duration::ZERO - (3 * day + hour),
            ),
        );
        certs.insert(
            "localhost".to_string(),
            ca.issue(&["localhost"], day, 60 * day + hour),
        );
        let without_sni = ca.issue(&["127.0.0.1"], day, 45 * day + hour);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let resolver = BySni {
            certs,
            without_sni,
            seen: seen.clone(),
        };
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(stream).await {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 64];
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
                    }
                });
            }
        });
        TlsCertServer { addr, ca, seen }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The SNIs received so far, in order.
    pub fn snis(&self) -> Vec<Option<String>> {
        self.seen.lock().unwrap().clone()
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca.pem()).unwrap();
        path
    }
}

/// A certificate made as people make them by hand: `openssl req -x509` (which marks it as
/// a CA), self-signed, with this CN, and a subjectAltName when `san` is given (e.g.
/// "DNS:localhost,IP:127.0.0.1"). Returns the paths of the PEM certificate and key in `dir`.
pub fn openssl_self_signed(
    dir: &Path,
    cn: &str,
    san: Option<&str>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{cn}.crt"));
    let key = dir.join(format!("{cn}.key"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
    ])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&cert)
    .arg("-subj")
    .arg(format!("/CN={cn}"));
    if let Some(san) = san {
        cmd.arg("-addext").arg(format!("subjectAltName={san}"));
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("openssl cannot run ({e}): run scripts/install-test-deps.sh (as root) first")
    });
    assert!(
        out.status.success(),
        "openssl req -x509 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The certificate chain and key of PEM files, for a rustls server.
pub fn pem_pair(
    cert: &Path,
    key: &Path,
) -> (
    Vec<CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .expect("a private key in the PEM file");
    (chain, key)
}

/// A TLS server on 127.0.0.1 presenting one certificate chain, whatever the SNI; it
/// completes handshakes and hangs up.
pub struct OneCertServer {
    pub addr: SocketAddr,
}

impl OneCertServer {
    pub async fn start(
        chain: Vec<CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> OneCertServer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(stream).await {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 64];
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
                    }
                });
            }
        });
        OneCertServer { addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// An HTTPS server on 127.0.0.1 (threads, rustls) presenting one certificate chain and
/// answering every request `200 ok`.
pub struct HttpsOk {
    pub port: u16,
}

impl HttpsOk {
    pub fn start(
        chain: Vec<CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> HttpsOk {
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let Ok(tls) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut stream = rustls::StreamOwned::new(tls, conn);
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                });
            }
        });
        HttpsOk { port }
    }
}

// -------------------------------------------------------------------------- listeners

/// A TCP listener on 127.0.0.1 that accepts connections and never sends a byte (the
/// connections are held open until the test ends).
pub struct HungListener {
    pub port: u16,
}

impl HungListener {
    pub fn start() -> HungListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        HungListener { port }
    }
}

/// A TCP listener on 127.0.0.1 that greets every connection with `banner` and hangs up:
/// a server that does not speak TLS.
pub fn banner_listener(banner: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(banner.as_bytes());
        }
    });
    port
}

/// An HTTP/1.1 server on 127.0.0.1 with fixed answers: path -> (status, body); any other
/// path is a 404. One request per connection.
pub struct FixedHttp {
    pub port: u16,
}

impl FixedHttp {
    pub fn start(routes: &[(&str, u16, &str)]) -> FixedHttp {
        let routes: HashMap<String, (u16, String)> = routes
            .iter()
            .map(|(p, s, b)| (p.to_string(), (*s, b.to_string())))
            .collect();
        let routes = Arc::new(routes);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || answer(conn, &routes));
            }
        });
        FixedHttp { port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn answer(conn: TcpStream, routes: &HashMap<String, (u16, String)>) {
    let Ok(clone) = conn.try_clone() else { return };
    let mut reader = BufReader::new(clone);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line.trim_end().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let (status, text) = routes
        .get(&path)
        .cloned()
        .unwrap_or((404, "not found".into()));
    let response = format!(
        "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let mut conn = conn;
    let _ = conn.write_all(response.as_bytes());
}

// ---------------------------------------------------------------------------- dnsmasq

/// dnsmasq serving a small zone on 127.0.0.1 at a free port; killed when dropped.
///
/// example.test: MX 10 mx1.example.test, TXT "v=spf1 -all", NS ns1.example.test;
/// www.example.test: A 192.0.2.10 and 192.0.2.11, AAAA 2001:db8::10;
/// alias.example.test: CNAME www.example.test; any other name in example.test: NXDOMAIN.
pub struct Dnsmasq {
    pub port: u16,
    child: Child,
}

pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

impl Dnsmasq {
    pub fn start() -> Dnsmasq {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing: the dns tests need Debian's dnsmasq-base (run scripts/install-test-deps.sh)"
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(DNSMASQ)
                .args([
                    "--no-daemon".to_string(),
                    "--conf-file=/dev/null".to_string(),
                    format!("--port={port}"),
                    "--listen-address=127.0.0.1".to_string(),
                    "--bind-interfaces".to_string(),
                    "--no-resolv".to_string(),
                    "--no-hosts".to_string(),
                    "--pid-file=".to_string(),
                    "--local=/example.test/".to_string(),
                    "--host-record=www.example.test,192.0.2.10,2001:db8::10".to_string(),
                    "--host-record=www.example.test,192.0.2.11".to_string(),
                    "--txt-record=example.test,v=spf1 -all".to_string(),
                    "--mx-host=example.test,mx1.example.test,10".to_string(),
                    "--cname=alias.example.test,www.example.test".to_string(),
                    format!("--dns-rr=example.test,2,{}", wire_name("ns1.example.test")),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start dnsmasq");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Dnsmasq { port, child };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            last = err;
        }
        panic!("dnsmasq did not start: {last}");
    }

    /// The `server` value for a job.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 (at the time of asking).
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A domain name in DNS wire format, as hex (for dnsmasq's `--dns-rr`).
fn wire_name(name: &str) -> String {
    let mut hex = String::new();
    for label in name.split('.') {
        hex.push_str(&format!("{:02x}", label.len()));
        for b in label.bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
    }
    hex.push_str("00");
    hex
}

// ---------------------------------------------------------------------------- plugins

pub const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// The path of a Debian monitoring plugin; panics, saying what to install, when missing.
pub fn plugin(name: &str) -> String {
    let path = Path::new(PLUGINS).join(name);
    assert!(
        path.exists(),
        "{} is missing: these tests run Debian's monitoring-plugins-basic (run scripts/install-test-deps.sh)",
        path.display()
    );
    path.display().to_string()
}
