//! TLS for tests: a test certificate authority and the certificates it issues, servers
//! that complete handshakes (one certificate, or one picked by SNI) and an HTTPS server,
//! certificates made with openssl as people make them by hand, and the rustls server
//! configuration they all share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::http::{Response, Server};

/// The start of every test server's rustls configuration: ring, the safe protocol
/// versions, no client certificates.
fn config_builder() -> rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>
{
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
}

/// A server configuration presenting one certificate chain, whatever the SNI.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    Arc::new(
        config_builder()
            .with_single_cert(chain, key)
            .expect("a certificate and its key"),
    )
}

/// A fresh self-signed certificate for `names`, and its key.
pub fn self_signed(names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("rcgen makes a certificate");
    let cert = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    (vec![cert], key.into())
}

/// Accepts TLS connections on a free port (on the test's tokio runtime): completes each
/// handshake, waits up to five seconds for a few bytes, and hangs up.
async fn handshake_and_hang_up(config: Arc<rustls::ServerConfig>) -> SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 64];
                    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
                }
            });
        }
    });
    addr
}

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
        let config = config_builder().with_cert_resolver(Arc::new(resolver));
        let addr = handshake_and_hang_up(Arc::new(config)).await;
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
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca.pem()).unwrap();
        path
    }
}

/// A certificate made as people make them by hand: `openssl req -x509` (which marks it as
/// a CA), self-signed, with this CN, and a subjectAltName when `san` is given (e.g.
/// "DNS:localhost,IP:127.0.0.1"). Returns the paths of the PEM certificate and key in `dir`.
pub fn openssl_self_signed(dir: &Path, cn: &str, san: Option<&str>) -> (PathBuf, PathBuf) {
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
pub fn pem_pair(cert: &Path, key: &Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    use rustls::pki_types::pem::PemObject;
    let chain = CertificateDer::pem_slice_iter(&std::fs::read(cert).unwrap())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&std::fs::read(key).unwrap())
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
        key: PrivateKeyDer<'static>,
    ) -> OneCertServer {
        let addr = handshake_and_hang_up(server_config(chain, key)).await;
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
    pub fn start(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> HttpsOk {
        let server = Server::start_tls(server_config(chain, key), |_| {
            Response::new(200, "text/plain", "ok").closing()
        });
        HttpsOk { port: server.port }
    }
}
