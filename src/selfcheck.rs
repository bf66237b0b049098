//! The email self-check (SPEC §6): send a probe with a random token in its subject to the
//! account itself over SMTP, then find it over IMAP (FROM the account, SINCE yesterday)
//! polling until it arrives or `self_check_wait` passes, and delete it and older probes.
//! Everything runs on the tick's runtime: dropped at the tick's deadline, nothing of it
//! lives on.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use chrono::Utc;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::{Email, Security};

/// Subject prefix of every probe: how older probes are recognised and cleaned up.
pub const PROBE_SUBJECT: &str = "checker self-check";

/// The first pause between two searches for the probe; each pause doubles up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

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
    round_trip(email, servername).await
}

/// Runs the whole round trip, stopping at `deadline` (the tick's, `tick_deadline` long):
/// cut short, it is "not checked", not a failure. The IMAP connection is dropped with it.
pub async fn run_until(
    email: &Email,
    servername: &str,
    deadline: Instant,
    tick_deadline: Duration,
) -> Outcome {
    match tokio::time::timeout_at(deadline, round_trip(email, servername)).await {
        Ok(o) => o,
        Err(_) => Outcome::cut_short(tick_deadline),
    }
}

async fn round_trip(email: &Email, servername: &str) -> Outcome {
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
    match find_probe(email, &account, &token).await {
        Ok(after) => Outcome::ok(format!(
            "probe sent in {} ms and found over IMAP {} ms later",
            sent.as_millis(),
            after.as_millis()
        )),
        Err(e) => Outcome::failed(format!("self-check: {e}")),
    }
}

/// Anything the IMAP client can run over: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

type Client = async_imap::Client<Box<dyn Stream>>;
type Session = async_imap::Session<Box<dyn Stream>>;

/// `step`, given `timeout` (`[email] timeout`, as each read and write had before).
async fn within<T, E: std::fmt::Display>(
    timeout: Duration,
    what: impl std::fmt::Display,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: {}", crate::duration::timed_out(timeout))),
    }
}

/// Connects, negotiates TLS as `imap_security` says, and reads the greeting.
async fn connect(email: &Email) -> Result<Client, String> {
    let host = email
        .imap_host
        .clone()
        .ok_or("[email] has no `imap_host` for the self-check")?;
    let addr = format!("{host}:{}", email.imap_port);
    let timeout = email.timeout;
    let tcp = within(timeout, format!("IMAP {addr}"), TcpStream::connect(&addr)).await?;
    let tls = |tcp: TcpStream| async {
        let config =
            crate::tls::client_config(email.ca_file.as_deref(), email.accept_invalid_certs)?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("IMAP host {host:?} is not a valid TLS name: {e}"))?;
        // The whole handshake now, so a certificate problem is reported as such.
        let stream = within(
            timeout,
            format!("IMAP {addr}: TLS handshake failed"),
            tokio_rustls::TlsConnector::from(config).connect(name, tcp),
        )
        .await?;
        Ok::<_, String>(Box::new(stream) as Box<dyn Stream>)
    };
    match email.imap_security {
        Security::Tls => {
            let mut client = Client::new(tls(tcp).await?);
            greeting(&mut client, &addr, timeout).await?;
            Ok(client)
        }
        Security::None => {
            let mut client = Client::new(Box::new(tcp));
            greeting(&mut client, &addr, timeout).await?;
            Ok(client)
        }
        Security::StartTls => {
            // RFC 3501 6.2.1: the TLS handshake follows on the same socket, and no new
            // greeting comes after it.
            let mut plain = async_imap::Client::new(tcp);
            greeting(&mut plain, &addr, timeout).await?;
            within(
                timeout,
                format!("IMAP {addr}: STARTTLS"),
                plain.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            Ok(Client::new(tls(plain.into_inner()).await?))
        }
    }
}

/// Reads the server's greeting: `* OK` (or `* PREAUTH`); anything else is refused.
async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
    addr: &str,
    timeout: Duration,
) -> Result<(), String> {
    let what = format!("IMAP {addr}: no greeting");
    let response = within(timeout, &what, client.read_response())
        .await?
        .ok_or_else(|| format!("{what}: connection closed"))?;
    match response.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        other => Err(format!(
            "{what}: unexpected greeting {}",
            crate::text::truncate(&format!("{other:?}"), 200)
        )),
    }
}

/// Logs in, polls for the probe until `self_check_wait`, deletes it and older probes.
/// Returns how long after connecting the probe was found.
async fn find_probe(email: &Email, account: &str, token: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let timeout = email.timeout;
    let client = connect(email).await?;
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
    let mut session = match tokio::time::timeout(timeout, client.login(&user, &password)).await {
        Ok(Ok(session)) => session,
        Ok(Err((e, _))) => {
            return Err(format!(
                "IMAP login as {user} failed (check user and password): {e}"
            ))
        }
        Err(_) => {
            return Err(format!(
                "IMAP login as {user}: {}",
                crate::duration::timed_out(timeout)
            ))
        }
    };
    let found = search_until_found(&mut session, email, account, token, started).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            logout(session, timeout).await;
            return Err(e);
        }
    };
    let deleted = delete_probes(&mut session, email, account).await;
    logout(session, timeout).await;
    deleted.map(|()| found)
}

/// Searches for the probe, pausing between searches on the runtime's timer, until it is
/// found or `self_check_wait` (counted from `started`) has passed.
async fn search_until_found(
    session: &mut Session,
    email: &Email,
    account: &str,
    token: &str,
    started: Instant,
) -> Result<Duration, String> {
    let timeout = email.timeout;
    let wait = email.self_check_wait;
    let since = (Utc::now() - chrono::Duration::days(1)).format("%d-%b-%Y");
    let query = format!(
        "FROM {} SINCE {since} SUBJECT {}",
        quote(account),
        quote(token)
    );
    let mut pause = FIRST_PAUSE;
    loop {
        within(
            timeout,
            format!("IMAP SELECT {}", email.imap_mailbox),
            session.select(&email.imap_mailbox),
        )
        .await?;
        let hits = within(timeout, "IMAP SEARCH", session.uid_search(&query)).await?;
        if !hits.is_empty() {
            return Ok(started.elapsed());
        }
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "the probe did not arrive in {} within {} (sent, but not delivered or not visible over IMAP)",
                email.imap_mailbox,
                crate::duration::format(wait)
            ));
        }
        // The last search comes when the wait ends.
        tokio::time::sleep(pause.min(left)).await;
        pause = pause.saturating_mul(2).min(LONGEST_PAUSE);
    }
}

/// Deletes this probe and any older ones a failed run left behind.
async fn delete_probes(session: &mut Session, email: &Email, account: &str) -> Result<(), String> {
    let timeout = email.timeout;
    let query = format!("FROM {} SUBJECT {}", quote(account), quote(PROBE_SUBJECT));
    let probes = within(timeout, "IMAP SEARCH", session.uid_search(&query)).await?;
    if probes.is_empty() {
        return Ok(());
    }
    let mut uids: Vec<_> = probes.into_iter().collect();
    uids.sort_unstable();
    let set = uids
        .iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",");
    within(timeout, "IMAP STORE", async {
        let updates = session.uid_store(&set, "+FLAGS (\\Deleted)").await?;
        updates.try_collect::<Vec<_>>().await
    })
    .await?;
    within(timeout, "IMAP EXPUNGE", async {
        let expunged = session.expunge().await?;
        expunged.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(())
}

/// Says goodbye, not waiting longer than `timeout` for the server's answer.
async fn logout(mut session: Session, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, session.logout()).await;
}

/// An IMAP quoted string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Email settings pointing the self-check at a plain IMAP server on `port`.
    fn email(port: u16, timeout: Duration) -> Email {
        Email {
            enabled: true,
            from: "checker@localhost".into(),
            user: Some("checker@localhost".into()),
            password: Some(crate::config::Secret::new("hunter2".into())),
            templates: Default::default(),
            imap_user: None,
            imap_password: None,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 1,
            smtp_security: Security::None,
            imap_host: Some("127.0.0.1".into()),
            imap_port: port,
            imap_security: Security::None,
            imap_mailbox: "INBOX".into(),
            self_check: None,
            self_check_wait: Duration::from_secs(60),
            ca_file: None,
            accept_invalid_certs: false,
            bust_threading: false,
            digest: None,
            timeout,
        }
    }

    /// A server that accepts one connection, sends `greeting` (if any), then reads until
    /// the client hangs up; it reports how long after the greeting that came.
    fn silent_server(greeting: &'static str) -> (u16, std::sync::mpsc::Receiver<Duration>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(greeting.as_bytes()).unwrap();
            let greeted = std::time::Instant::now();
            let mut buf = [0u8; 1024];
            while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(greeted.elapsed());
        });
        (port, rx)
    }

    #[tokio::test]
    async fn a_self_check_cut_short_hangs_up_its_imap_connection_at_once() {
        // The server greets, then never answers LOGIN: only the deadline ends the wait.
        let (port, hung_up) = silent_server("* OK ready\r\n");
        let email = email(port, Duration::from_secs(30));
        let cut = tokio::time::timeout(
            Duration::from_millis(500),
            find_probe(&email, "checker@localhost", "0123"),
        )
        .await;
        assert!(cut.is_err(), "the server never answers: {cut:?}");
        // Nothing of the self-check outlives it: the connection closes with it, not
        // when `[email] timeout` (30s) would have ended a read.
        let after =
            tokio::task::spawn_blocking(move || hung_up.recv_timeout(Duration::from_secs(10)))
                .await
                .unwrap()
                .expect("the connection is closed once the self-check is dropped");
        assert!(after < Duration::from_secs(5), "closed after {after:?}");
    }

    #[tokio::test]
    async fn an_imap_server_that_never_greets_fails_the_self_check_at_the_email_timeout() {
        let (port, _hung_up) = silent_server("");
        let email = email(port, Duration::from_millis(300));
        let started = Instant::now();
        let err = find_probe(&email, "checker@localhost", "0123")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            format!("IMAP 127.0.0.1:{port}: no greeting: timed out after 300ms")
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_imap_server_that_says_bye_at_once_is_refused_naming_its_greeting() {
        let (port, _hung_up) = silent_server("* BYE too many connections\r\n");
        let email = email(port, Duration::from_secs(5));
        let err = find_probe(&email, "checker@localhost", "0123")
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!(
                "IMAP 127.0.0.1:{port}: no greeting: unexpected greeting"
            )),
            "{err}"
        );
        assert!(err.contains("too many connections"), "{err}");
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
