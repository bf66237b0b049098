//! rustls client configurations shared by the mail code, the http check and the
//! certificate check: the public web roots, plus the certificates of a `ca_file`, or (only
//! when asked) no verification at all.
//!
//! A certificate listed in a `ca_file` is trusted two ways: as a CA that signs servers'
//! certificates, and as a server's own certificate (pinning). The usual self-signed
//! certificate of `openssl req -x509` is marked as a CA, which webpki refuses as a
//! server's certificate (`CaUsedAsEndEntity`); when the server presents exactly a listed
//! certificate it is accepted, its dates still checked, and its name checked against its
//! subjectAltName, or its CN when it has none (as OpenSSL and curl do).
//!
//! CA files are read once per run, before any async work starts ([`preload`]), and kept
//! with the root stores built from them: no send or check reads a file or copies the web
//! roots again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// The certificates in a PEM file, with an error that names the file. Reads the file:
/// call it outside async code (or through [`ca_certs`], which reads each file once).
pub fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let data =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("CA file {} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// What one CA file gave: its certificates and the roots (web roots plus them), or why
/// it could not be used.
type Loaded = Result<(Arc<Vec<CertificateDer<'static>>>, Arc<RootCertStore>), String>;

static CA_FILES: RwLock<Option<HashMap<PathBuf, Loaded>>> = RwLock::new(None);

/// Reads these CA files now, so that sends and checks find them in memory: the ones the
/// configuration names (`Config::ca_files`: `[email] ca_file`, `tls_cert` and `http`
/// jobs' `ca_file`). Call it once per run, before the async runtime starts. A file that
/// cannot be read is remembered as such and reported by the send or check that needs it.
pub fn preload<'a>(paths: impl IntoIterator<Item = &'a Path>) {
    for p in paths {
        let loaded = load(p);
        CA_FILES
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(HashMap::new)
            .insert(p.to_path_buf(), loaded);
    }
}

fn load(path: &Path) -> Loaded {
    let certs = load_pem_certs(path)?;
    let mut roots = web_roots().clone();
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    }
    Ok((Arc::new(certs), Arc::new(roots)))
}

/// The CA file's entry, read now only if no [`preload`] did (library callers, tests).
fn loaded(path: &Path) -> Loaded {
    if let Some(l) = CA_FILES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|m| m.get(path))
    {
        return l.clone();
    }
    let l = load(path);
    CA_FILES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(path.to_path_buf(), l.clone());
    l
}

/// The certificates of a CA file, as read once per run.
pub fn ca_certs(path: &Path) -> Result<Arc<Vec<CertificateDer<'static>>>, String> {
    loaded(path).map(|(certs, _)| certs)
}

/// The public web roots, built once.
fn web_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

/// The crypto provider of every TLS client here (ring: no C toolchain or system library).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The public web roots plus the certificates of `ca_file`, built once per file.
pub fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, String> {
    static WEB: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    match ca_file {
        None => Ok(WEB.get_or_init(|| Arc::new(web_roots().clone())).clone()),
        Some(path) => loaded(path).map(|(_, roots)| roots),
    }
}

/// A configuration that accepts any chain and name (still checking the handshake
/// signatures, so the server does hold the certificate's key). Built once.
pub fn accept_any() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = provider();
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| {
                    Arc::new(
                        b.dangerous()
                            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                                provider,
                            )))
                            .with_no_client_auth(),
                    )
                })
                .map_err(|e| format!("TLS setup: {e}"))
        })
        .clone()
}

/// A client configuration trusting the web roots and `ca_file` (its certificates also
/// pinned as servers' own, see the module's comment), or nothing at all when
/// `accept_invalid` (for self-signed test servers).
pub fn client_config(
    ca_file: Option<&Path>,
    accept_invalid: bool,
) -> Result<Arc<ClientConfig>, String> {
    if accept_invalid {
        return accept_any();
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    Ok(Arc::new(match ca_file {
        None => builder
            .with_root_certificates(roots(None)?)
            .with_no_client_auth(),
        Some(_) => builder
            .dangerous()
            .with_custom_certificate_verifier(verifier(ca_file)?)
            .with_no_client_auth(),
    }))
}

/// The verifier of server certificates with `ca_file`: the web roots and the file's
/// certificates as CAs, and the file's certificates pinned as servers' own.
pub fn verifier(ca_file: Option<&Path>) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let inner = WebPkiServerVerifier::builder_with_provider(roots(ca_file)?, provider())
        .build()
        .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    let pinned = match ca_file {
        Some(path) => ca_certs(path)?,
        None => Arc::new(Vec::new()),
    };
    Ok(Arc::new(PinningVerifier { inner, pinned }))
}

/// Verifies as webpki does, and accepts a server certificate that is byte for byte one of
/// `pinned` when webpki would not (a self-signed certificate marked as a CA, or one that is
/// its own issuer), checking its dates and its name itself.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Arc<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let err =
            match self
                .inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            {
                Ok(verified) => return Ok(verified),
                Err(e) => e,
            };
        if !self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Err(err);
        }
        pinned_certificate_ok(end_entity, server_name, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The checks a pinned certificate still gets: valid now, and issued for the name asked
/// for (subjectAltName; the CN when there is none).
fn pinned_certificate_ok(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let invalid = |e: CertificateError| rustls::Error::InvalidCertificate(e);
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| invalid(CertificateError::BadEncoding))?;
    let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = parsed.validity();
    if now_secs < validity.not_before.timestamp() {
        return Err(invalid(CertificateError::NotValidYet));
    }
    if now_secs > validity.not_after.timestamp() {
        return Err(invalid(CertificateError::Expired));
    }
    let has_alt_names = matches!(parsed.subject_alternative_name(), Ok(Some(_)));
    if has_alt_names {
        let end_entity = rustls::server::ParsedCertificate::try_from(cert)?;
        return rustls::client::verify_server_name(&end_entity, name);
    }
    let cn_matches = parsed
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|cn| common_name_matches(cn, name));
    if cn_matches {
        Ok(())
    } else {
        Err(invalid(CertificateError::NotValidForName))
    }
}

/// A certificate's CN against the name asked for: a host name compared without case or a
/// final dot, an IP address as an address.
fn common_name_matches(cn: &str, name: &ServerName<'_>) -> bool {
    match name {
        ServerName::DnsName(dns) => {
            let want = dns.as_ref().trim_end_matches('.');
            cn.trim_end_matches('.').eq_ignore_ascii_case(want)
        }
        ServerName::IpAddress(ip) => cn
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a == std::net::IpAddr::from(*ip)),
        _ => false,
    }
}

/// Accepts any certificate chain and name, but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preloaded_ca_file_is_never_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_string()]).unwrap();
        std::fs::write(&path, ca.cert.pem()).unwrap();
        preload([path.as_path()]);
        // Gone from disk: sends and checks still have it, as read before they started.
        std::fs::remove_file(&path).unwrap();
        let roots = roots(Some(&path)).expect("the CA read at preload");
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len() + 1);
        assert_eq!(ca_certs(&path).unwrap().len(), 1);
        assert!(client_config(Some(&path), false).is_ok());
        // The same store every time: the web roots are not copied per use.
        assert!(Arc::ptr_eq(&roots, &super::roots(Some(&path)).unwrap()));
        assert!(Arc::ptr_eq(
            &super::roots(None).unwrap(),
            &super::roots(None).unwrap()
        ));
    }

    #[test]
    fn a_ca_file_gives_its_certificates_and_a_broken_or_empty_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["a.test".to_string()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.test".to_string()]).unwrap();
        // Two certificates with a key and free text between them, as bundles often are.
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(
            &bundle,
            format!(
                "a.test\n{}{}\nsome comment\n{}",
                a.cert.pem(),
                a.key_pair.serialize_pem(),
                b.cert.pem()
            ),
        )
        .unwrap();
        let certs = load_pem_certs(&bundle).unwrap();
        assert_eq!(certs, vec![a.cert.der().clone(), b.cert.der().clone()]);

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = load_pem_certs(&broken).unwrap_err();
        assert!(err.contains("broken.pem is not valid PEM"), "{err}");

        let cut = dir.path().join("cut.pem");
        let pem = a.cert.pem();
        std::fs::write(&cut, &pem[..pem.len() / 2]).unwrap();
        let err = load_pem_certs(&cut).unwrap_err();
        assert!(err.contains("cut.pem is not valid PEM"), "{err}");

        let key_only = dir.path().join("key.pem");
        std::fs::write(&key_only, a.key_pair.serialize_pem()).unwrap();
        let err = load_pem_certs(&key_only).unwrap_err();
        assert!(err.contains("key.pem holds no certificate"), "{err}");
    }

    #[test]
    fn an_unreadable_ca_file_is_an_error_naming_it() {
        let missing = Path::new("/nonexistent/checker-test-ca.pem");
        preload([missing]);
        let err = roots(Some(missing)).unwrap_err();
        assert!(err.contains("/nonexistent/checker-test-ca.pem"), "{err}");
    }
}
