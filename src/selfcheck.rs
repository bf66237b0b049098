//! The email self-check (SPEC §6): send a probe with a random token in its subject to the
//! account itself over SMTP, then find it over IMAP (FROM the account, SINCE yesterday)
//! polling until it arrives or `self_check_wait` passes, and delete it and older probes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::config::{Email, Security};

/// Subject prefix of every probe: how older probes are recognised and cleaned up.
pub const PROBE_SUBJECT: &str = "checker self-check";

/// What a self-check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// "probe found after 1.2s", or which step failed and why.
    pub message: String,
    /// The tick's deadline came first: mail was not checked, which says nothing of its
    /// health (`ok` is false, and means nothing).
    pub cut_short: bool,
}

impl Outcome {
    fn ok(message: String) -> Self {
        Outcome {
            ok: true,
            message,
            cut_short: false,
        }
    }
    fn failed(message: String) -> Self {
        Outcome {
            ok: false,
            message,
            cut_short: false,
        }
    }
    fn cut_short(deadline: Duration) -> Self {
        Outcome {
            ok: false,
            message: format!(
                "not checked: the tick deadline ({}) came before the self-check finished",
                crate::duration::format(deadline)
            ),
            cut_short: true,
        }
    }
}

/// Runs the whole round trip, with no deadline but its own waits.
pub async fn run(email: &Email, servername: &str) -> Outcome {
    round_trip(email, servername, None).await
}

/// Runs the whole round trip, stopping at `deadline` (the tick's, `tick_deadline` long):
/// cut short, it is "not checked", not a failure. The IMAP polling, which runs on a
/// thread of its own, stops at the deadline too, so nothing outlives the tick.
pub async fn run_until(
    email: &Email,
    servername: &str,
    deadline: tokio::time::Instant,
    tick_deadline: Duration,
) -> Outcome {
    match tokio::time::timeout_at(
        deadline,
        round_trip(email, servername, Some(deadline.into_std())),
    )
    .await
    {
        Ok(o) => o,
        Err(_) => Outcome::cut_short(tick_deadline),
    }
    .with_deadline(tick_deadline)
}

impl Outcome {
    /// Turns the polling's own "deadline reached" into the cut-short outcome.
    fn with_deadline(self, tick_deadline: Duration) -> Self {
        if self.message == DEADLINE_REACHED {
            Outcome::cut_short(tick_deadline)
        } else {
            self
        }
    }
}

/// What `find_probe` says when the run's deadline, not `self_check_wait`, stopped it.
const DEADLINE_REACHED: &str = "self-check: deadline reached";

async fn round_trip(email: &Email, servername: &str, deadline: Option<Instant>) -> Outcome {
    let started = Instant::now();
    let token = format!("{:016x}", rand::random::<u64>());
    let subject = format!("[{servername}] {PROBE_SUBJECT} {token}");
    let Some(account) = email
        .user
        .clone()
        .or_else(|| Some(email.from.clone()))
        .filter(|a| !a.is_empty())
    else {
        return Outcome::failed("self-check: [email] has no `user` to send the probe to".into());
    };
    let body = format!(
        "checker on {servername} sends this to itself to prove that its mail works.\nToken: {token}\nSent: {}\nIt deletes this message when it finds it.\n",
        Utc::now().to_rfc3339()
    );
    if let Err(e) =
        crate::notify::email::send_raw(email, std::slice::from_ref(&account), &subject, &body).await
    {
        return Outcome::failed(format!(
            "self-check: sending the probe over SMTP failed: {e}"
        ));
    }
    let sent = started.elapsed();
    let email = email.clone();
    let found =
        tokio::task::spawn_blocking(move || find_probe(&email, &account, &token, deadline)).await;
    match found {
        Ok(Ok(after)) => Outcome::ok(format!(
            "probe sent in {} ms and found over IMAP {} ms later",
            sent.as_millis(),
            after.as_millis()
        )),
        Ok(Err(e)) if e == DEADLINE_REACHED => Outcome::failed(e),
        Ok(Err(e)) => Outcome::failed(format!("self-check: {e}")),
        Err(e) => Outcome::failed(format!("self-check: the IMAP task failed: {e}")),
    }
}

/// Anything the IMAP client can run over.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn connect(email: &Email) -> Result<imap::Client<Box<dyn Stream>>, String> {
    let host = email
        .imap_host
        .clone()
        .ok_or("[email] has no `imap_host` for the self-check")?;
    let addr = format!("{host}:{}", email.imap_port);
    let timeout = email.timeout;
    let tcp = connect_tcp(&addr, timeout).map_err(|e| format!("IMAP {addr}: {e}"))?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    let tls = |tcp: TcpStream| -> Result<Box<dyn Stream>, String> {
        let config =
            crate::tls::client_config(email.ca_file.as_deref(), email.accept_invalid_certs)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("IMAP host {host:?} is not a valid TLS name: {e}"))?;
        let conn =
            rustls::ClientConnection::new(config, name).map_err(|e| format!("IMAP TLS: {e}"))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Drive the handshake now so a certificate problem is reported as such.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| format!("IMAP {addr}: TLS handshake failed: {e}"))?;
        }
        Ok(Box::new(stream))
    };
    match email.imap_security {
        Security::Tls => {
            let mut client = imap::Client::new(tls(tcp)?);
            client
                .read_greeting()
                .map_err(|e| format!("IMAP {addr}: no greeting: {e}"))?;
            Ok(client)
        }
        Security::None => {
            let mut client = imap::Client::new(Box::new(tcp) as Box<dyn Stream>);
            client
                .read_greeting()
                .map_err(|e| format!("IMAP {addr}: no greeting: {e}"))?;
            Ok(client)
        }
        Security::StartTls => {
            let tcp = starttls(tcp).map_err(|e| format!("IMAP {addr}: STARTTLS: {e}"))?;
            Ok(imap::Client::new(tls(tcp)?))
        }
    }
}

/// Reads the greeting and negotiates STARTTLS on the plain connection (RFC 3501 6.2.1);
/// the TLS handshake follows on the same socket and no new greeting comes after it.
fn starttls(mut tcp: TcpStream) -> Result<TcpStream, String> {
    let greeting = read_line(&mut tcp)?;
    if !greeting.starts_with("* OK") {
        return Err(format!("unexpected greeting {:?}", greeting.trim_end()));
    }
    tcp.write_all(b"s1 STARTTLS\r\n")
        .map_err(|e| e.to_string())?;
    loop {
        let line = read_line(&mut tcp)?;
        if line.starts_with("s1 OK") {
            return Ok(tcp);
        }
        if line.starts_with("s1 ") {
            return Err(format!("refused: {}", line.trim_end()));
        }
    }
}

/// One CRLF-terminated line, read byte by byte so nothing past it is consumed (the TLS
/// handshake starts right after the server's OK).
fn read_line(tcp: &mut TcpStream) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 8192 {
        match tcp.read(&mut byte) {
            Ok(0) => return Err("connection closed".into()),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return Ok(String::from_utf8_lossy(&line).into_owned());
                }
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("line too long".into())
}

fn connect_tcp(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")))
}

/// Logs in, polls for the probe until `self_check_wait` (or `deadline`, whichever comes
/// first), deletes it and older probes. Returns how long after connecting the probe was
/// found.
fn find_probe(
    email: &Email,
    account: &str,
    token: &str,
    deadline: Option<Instant>,
) -> Result<Duration, String> {
    let started = Instant::now();
    let client = connect(email)?;
    let user = email
        .imap_user
        .clone()
        .or_else(|| email.user.clone())
        .unwrap_or_else(|| account.to_string());
    let password = email
        .imap_password
        .as_ref()
        .or(email.password.as_ref())
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    let mut session = client
        .login(&user, &password)
        .map_err(|(e, _)| format!("IMAP login as {user} failed (check user and password): {e}"))?;
    let since = (Utc::now() - chrono::Duration::days(1)).format("%d-%b-%Y");
    let from = quote(account);
    let wait = email.self_check_wait;
    let mut pause = Duration::from_millis(100);
    let found = loop {
        session
            .select(&email.imap_mailbox)
            .map_err(|e| format!("IMAP SELECT {}: {e}", email.imap_mailbox))?;
        let hits = session
            .uid_search(format!(
                "FROM {from} SINCE {since} SUBJECT {}",
                quote(token)
            ))
            .map_err(|e| format!("IMAP SEARCH: {e}"))?;
        if !hits.is_empty() {
            break started.elapsed();
        }
        if started.elapsed() >= wait {
            let _ = session.logout();
            return Err(format!(
                "the probe did not arrive in {} within {} (sent, but not delivered or not visible over IMAP)",
                email.imap_mailbox,
                crate::duration::format(wait)
            ));
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            let _ = session.logout();
            return Err(DEADLINE_REACHED.into());
        }
        std::thread::sleep(left.map_or(pause, |l| pause.min(l)));
        pause = (pause * 2).min(Duration::from_secs(2));
    };
    // Delete this probe and any older ones a failed run left behind.
    let probes = session
        .uid_search(format!("FROM {from} SUBJECT {}", quote(PROBE_SUBJECT)))
        .map_err(|e| format!("IMAP SEARCH: {e}"))?;
    if !probes.is_empty() {
        let set = probes
            .iter()
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(",");
        session
            .uid_store(&set, "+FLAGS (\\Deleted)")
            .map_err(|e| format!("IMAP STORE: {e}"))?;
        session
            .expunge()
            .map_err(|e| format!("IMAP EXPUNGE: {e}"))?;
    }
    let _ = session.logout();
    Ok(found)
}

/// An IMAP quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
