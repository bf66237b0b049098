//! `checker serve`: the small HTTP server peers ask. `GET /` answers the peer-status word
//! with status 200, as the original's status site on port 5000 did (any other path too,
//! as there); `/status.json` the detail; `/jobs.json` the job states other checkers
//! confirm failures with; `/metrics` Prometheus text. The state is read
//! per request (re-parsed only when the file changed), so answers are live.
//!
//! Bounded against slow or many clients: a cap on connections served at once (the rest
//! wait in the listen backlog), a limit on the request head, a deadline for it that is
//! also the keep-alive idle limit, a cap on a connection's life, and no request bodies.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::Utc;
use http_body_util::Full;
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::{Config, Secret};
use crate::error::AppError;
use crate::exit::Exit;
use crate::peer::status::{self, PeerStatus, Policy, Word};
use crate::state::{JobStatus, State, Store};

/// The most a request head (request line and headers) may take; more is answered 431.
const MAX_HEAD: usize = 8 * 1024;
/// hyper's read buffer: the head limit plus room; hyper's minimum is 8 KiB.
const MAX_BUF: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// However well a client behaves, its connection is closed (gracefully) after this.
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(60);
/// How long a connection closing gracefully may take to finish its response.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Runs the server until SIGINT or SIGTERM.
pub fn run(config: &Config, listen: Option<&str>) -> Result<Exit, AppError> {
    let addr = listen.unwrap_or(&config.serve.listen).to_string();
    let runtime = crate::runtime::build(crate::runtime::Workers::Two)?;
    runtime.block_on(serve(Arc::new(Shared::new(config)), &addr, config))
}

/// Listens on `addr`: `host:port`, `[v6]:port`, or `:port` for every address (IPv6 and
/// IPv4 where the system has both, as most servers read it). Whatever keeps it from
/// listening there (an address that is none, or not this machine's, a port in use or
/// reserved) is the command line's or the settings' problem: a usage error, exit 2.
async fn bind(addr: &str) -> Result<TcpListener, AppError> {
    use std::io::ErrorKind;
    let usage = |why: String| {
        AppError::Usage(format!(
            "cannot listen on {addr:?}: {why} (use host:port, e.g. 127.0.0.1:5000, or :5000 for every address)"
        ))
    };
    let explain = |e: &std::io::Error| match e.kind() {
        ErrorKind::AddrInUse => {
            format!("the port is already in use, by another program or another checker serve ({e})")
        }
        ErrorKind::AddrNotAvailable => format!("not an address of this machine ({e})"),
        ErrorKind::PermissionDenied => format!("not allowed ({e}); ports below 1024 need root"),
        _ => e.to_string(),
    };
    if let Some(port) = addr.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| usage(format!("{port:?} is not a port number")))?;
        return match TcpListener::bind((std::net::Ipv6Addr::UNSPECIFIED, port)).await {
            Ok(l) => Ok(l),
            // No IPv6 here: every IPv4 address.
            Err(e) if !matches!(e.kind(), ErrorKind::AddrInUse | ErrorKind::PermissionDenied) => {
                TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, port))
                    .await
                    .map_err(|e| usage(explain(&e)))
            }
            Err(e) => Err(usage(explain(&e))),
        };
    }
    let addrs: Vec<SocketAddr> = match addr.parse::<SocketAddr>() {
        Ok(a) => vec![a],
        // A name ("localhost:5000"): what it resolves to.
        Err(_) => tokio::net::lookup_host(addr)
            .await
            .map_err(|e| usage(format!("not an address or a name that resolves ({e})")))?
            .collect(),
    };
    let mut last = None;
    for a in addrs {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(usage(match last {
        Some(e) => explain(&e),
        None => "the name resolves to no address".into(),
    }))
}

async fn serve(shared: Arc<Shared>, addr: &str, config: &Config) -> Result<Exit, AppError> {
    let listener = bind(addr).await?;
    let local = listener
        .local_addr()
        .map_err(|e| AppError::Other(e.into()))?;
    // On stdout, so a supervisor or a test can learn the port when `--listen` asked for 0.
    println!("checker serve: listening on http://{local}/");
    log::info!(
        "serving peer status on http://{local}/ ({}; at most {} connections)",
        if shared.token.is_some() {
            "bearer token required"
        } else {
            "no token"
        },
        config.serve.max_connections
    );

    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.serve.header_timeout)
        .max_buf_size(MAX_BUF)
        .max_header_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(config.serve.max_connections.max(1)));
    let stop = stop_signal();
    tokio::pin!(stop);

    loop {
        // A slot first: while all are taken, new connections wait in the kernel's listen
        // backlog instead of costing memory here.
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    log::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(shared, req, peer).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        log::debug!("connection from {peer}: {e}");
                    }
                }
                () = tokio::time::sleep(MAX_CONNECTION_LIFE) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
                }
            }
        });
    }
    log::info!("checker serve on {local}: stopped");
    Ok(Exit::Success)
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the default action (exit) still stops the server.
        _ => std::future::pending().await,
    }
}

/// What every request needs, built once.
struct Shared {
    store: Store,
    policy: Policy,
    token: Option<Secret>,
    /// (job name, kind, enabled), in configuration order, for `/metrics`.
    jobs: Vec<(String, &'static str, bool)>,
    /// The jobs `/jobs.json` lists.
    listing: Vec<crate::quorum::wire::Listed>,
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    key: FileKey,
    state: Arc<State>,
}

/// Identifies one version of the state file: saves replace it by rename, so a new
/// version has a new inode (and usually a new size and time).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileKey {
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Shared {
    fn new(config: &Config) -> Self {
        Shared {
            store: Store::new(&config.general.state_file, config.general.lock_timeout),
            policy: Policy::from_config(config),
            token: config.serve.token.clone(),
            jobs: config
                .jobs
                .iter()
                .map(|j| (j.name.clone(), j.kind.name(), j.enabled))
                .collect(),
            listing: crate::quorum::wire::listing(config),
            cache: Mutex::new(None),
        }
    }

    /// The state as it is on disk now, without the lock: a save replaces the file whole,
    /// so this never waits on a running tick and never sees half a save.
    fn current_state(&self) -> Result<Arc<State>, String> {
        use std::os::unix::fs::MetadataExt;
        let key = std::fs::metadata(self.store.path()).ok().map(|m| FileKey {
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        });
        if let (Some(key), Ok(cache)) = (&key, self.cache.lock()) {
            if let Some(c) = cache.as_ref().filter(|c| c.key == *key) {
                return Ok(Arc::clone(&c.state));
            }
        }
        let state = Arc::new(self.store.read().map_err(|e| e.to_string())?);
        if let (Some(key), Ok(mut cache)) = (key, self.cache.lock()) {
            *cache = Some(Cached {
                key,
                state: Arc::clone(&state),
            });
        }
        Ok(state)
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let response = respond(&shared, &req).await;
    log::debug!(
        "{peer} {} {} -> {}",
        req.method(),
        req.uri().path(),
        response.status().as_u16()
    );
    response
}

async fn respond(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !req.body().is_end_stream() {
        // Nothing here takes a body: refuse it unread, and close, as the body is still
        // on the wire.
        let mut r = text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted\n",
        );
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if let Some(token) = &shared.token {
        if !authorized(req, token) {
            let mut r = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"checker\""),
            );
            return r;
        }
    }
    let reader = Arc::clone(shared);
    let state = match tokio::task::spawn_blocking(move || reader.current_state()).await {
        Ok(s) => s,
        Err(e) => Err(format!("reading the state: {e}")),
    };
    let now = Utc::now();
    let st = match &state {
        Ok(state) => status::compute(state, &shared.policy, now),
        Err(why) => status::unreadable(&shared.policy, why),
    };
    match req.uri().path() {
        "/status.json" => match serde_json::to_vec_pretty(&st) {
            Ok(mut body) => {
                body.push(b'\n');
                with_type(StatusCode::OK, body, "application/json")
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        },
        // The job states other checkers confirm their failures with (SPEC §12).
        "/jobs.json" => match &state {
            Ok(state) => {
                let doc = crate::quorum::wire::build(
                    &shared.policy.servername,
                    &shared.listing,
                    state,
                    now,
                );
                match serde_json::to_vec(&doc) {
                    Ok(mut body) => {
                        body.push(b'\n');
                        with_type(StatusCode::OK, body, "application/json")
                    }
                    Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
                }
            }
            // No job states to give: an asker counts this as no answer.
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the state cannot be read: {why}\n"),
            ),
        },
        "/metrics" => with_type(
            StatusCode::OK,
            metrics(shared, state.as_deref().ok(), &st, now).into_bytes(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        // Every other path answers the word, as the original's status site did: peers
        // read the body, whatever the word, so the status code is always 200.
        _ => text(StatusCode::OK, st.status.as_str()),
    }
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn authorized(req: &Request<Incoming>, token: &Secret) -> bool {
    let Some(value) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    match value.trim().split_once(' ') {
        Some((scheme, given)) if scheme.eq_ignore_ascii_case("bearer") => {
            constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes())
        }
        _ => false,
    }
}

/// Equal bytes, compared in time that does not depend on where they differ (their
/// lengths are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(
        status,
        body.as_bytes().to_vec(),
        "text/plain; charset=utf-8",
    )
}

fn with_type(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Prometheus text exposition (format 0.0.4).
fn metrics(
    shared: &Shared,
    state: Option<&State>,
    st: &PeerStatus,
    now: chrono::DateTime<Utc>,
) -> String {
    let mut out = String::from(
        "# HELP checker_peer_status The peer-status word: 1 for the current one, 0 for the others.\n\
         # TYPE checker_peer_status gauge\n",
    );
    for w in [Word::True, Word::MailProblem, Word::JobProblem] {
        let _ = writeln!(
            out,
            "checker_peer_status{{status=\"{}\"}} {}",
            w.as_str(),
            u8::from(st.status == w)
        );
    }
    let gauge = |out: &mut String, name: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    };
    gauge(
        &mut out,
        "checker_state_readable",
        "1 when the state file could be read.",
        Some(f64::from(u8::from(state.is_some()))),
    );
    if let Some(state) = state {
        let hb = &state.heartbeat;
        gauge(
            &mut out,
            "checker_heartbeat_age_seconds",
            "Seconds since the last cron tick finished.",
            hb.last_tick_finished
                .map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0),
        );
        gauge(
            &mut out,
            "checker_last_tick_error",
            "1 when the last tick ended in error.",
            Some(f64::from(u8::from(hb.last_tick_error.is_some()))),
        );
        gauge(
            &mut out,
            "checker_mail_ok",
            "1 when the last self-check or email delivery worked, 0 when it failed (absent: email off or never tried).",
            st.mail_ok.map(|ok| f64::from(u8::from(ok))),
        );
        gauge(
            &mut out,
            "checker_outbox_queued",
            "Notifications waiting to be delivered.",
            Some(state.outbox.len() as f64),
        );
        job_metrics(&mut out, shared, state);
    }
    out
}

fn job_metrics(out: &mut String, shared: &Shared, state: &State) {
    type Pick = fn(&crate::state::JobState) -> Option<f64>;
    let families: [(&str, &str, Pick); 5] = [
        (
            "checker_job_up",
            "1 when the job's last check passed, 0 when it is failing (absent while pending).",
            |j| match j.status {
                JobStatus::Ok => Some(1.0),
                JobStatus::Failing => Some(0.0),
                JobStatus::Pending => None,
            },
        ),
        ("checker_job_failing", "1 when the job is failing.", |j| {
            Some(f64::from(u8::from(j.status == JobStatus::Failing)))
        }),
        (
            "checker_job_consecutive_failures",
            "Failures in a row.",
            |j| Some(f64::from(j.consecutive_failures)),
        ),
        (
            "checker_job_last_success_timestamp_seconds",
            "Unix time of the last success.",
            |j| j.last_success.map(|t| t.timestamp() as f64),
        ),
        (
            "checker_job_last_run_timestamp_seconds",
            "Unix time of the last result.",
            |j| j.last_run.map(|t| t.timestamp() as f64),
        ),
    ];
    let pending = crate::state::JobState::default();
    for (name, help, pick) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (job, kind, enabled) in &shared.jobs {
            if !enabled {
                continue;
            }
            let js = state.jobs.get(job).unwrap_or(&pending);
            if let Some(v) = pick(js) {
                let _ = writeln!(out, "{name}{{job=\"{}\",kind=\"{kind}\"}} {v}", label(job));
            }
        }
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a \"b\"\\c\nd"), "a \\\"b\\\"\\\\c\\nd");
    }
}
