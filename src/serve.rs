//! `checker serve`: the small HTTP server peers ask. `GET /` answers the peer-status word
//! with status 200, as the original's status site on port 5000 did (any other path too,
//! as there); `/status.json` the detail; `/jobs.json` the job states other checkers
//! confirm failures with; `/metrics` Prometheus text (`crate::metrics`);
//! `/status` the status page and `/badge/...` its badges (`statuspage::http`, without the
//! token when `[status_page] public`). The state is read per request (re-parsed only when
//! the file changed), so answers are live; the uptime ratios of `/metrics` are read from
//! the history again only when the state file changed or a minute passed.
//!
//! Bounded against slow or many clients: a cap on connections served at once (the rest
//! wait in the listen backlog), a limit on the request head, a deadline for it that is
//! also the keep-alive idle limit, a cap on a connection's life, and no request bodies.

use std::convert::Infallible;
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
use crate::history::History;
use crate::metrics::{self, JobInfo, Uptime};
use crate::peer::status::{self, PeerStatus, Policy};
use crate::state::{State, Store};

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
    /// The configured jobs, for `/metrics`.
    jobs: Vec<JobInfo>,
    /// The jobs `/jobs.json` lists.
    listing: Vec<crate::quorum::wire::Listed>,
    cache: Mutex<Option<Cached>>,
    history: History,
    uptime: Mutex<Option<CachedUptime>>,
    /// For what quiet on purpose shows (silences, windows, parents): SPEC §10.
    config: Config,
    /// `/status` and `/badge/...`.
    pages: crate::statuspage::http::Pages,
    /// Whether those answer without the token.
    pages_public: bool,
}

/// Uptime ratios as read for one version of the state file (`None`: the history could
/// not be read, said once in the log per reading).
struct CachedUptime {
    key: Option<FileKey>,
    read_at: std::time::Instant,
    uptime: Option<Arc<Uptime>>,
}

/// How long uptime ratios are reused while the state file does not change.
const UPTIME_FRESH: Duration = Duration::from_secs(60);

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
            jobs: metrics::jobs(config),
            listing: crate::quorum::wire::listing(config),
            cache: Mutex::new(None),
            history: History::reader(&config.general),
            uptime: Mutex::new(None),
            config: config.clone(),
            pages: crate::statuspage::http::Pages::new(config),
            pages_public: config.status_page.public,
        }
    }

    fn state_key(&self) -> Option<FileKey> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(self.store.path()).ok().map(|m| FileKey {
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        })
    }

    /// The uptime ratios for `/metrics`: read again when the state file changed (a tick
    /// recorded results) or after [`UPTIME_FRESH`]. `None` when the history cannot be read.
    fn uptime(&self, now: chrono::DateTime<Utc>) -> Option<Arc<Uptime>> {
        let key = self.state_key();
        if let Ok(cache) = self.uptime.lock() {
            if let Some(c) = cache
                .as_ref()
                .filter(|c| c.key == key && c.read_at.elapsed() < UPTIME_FRESH)
            {
                return c.uptime.clone();
            }
        }
        let uptime = match metrics::uptime(&self.history, &self.jobs, now) {
            Ok(u) => Some(Arc::new(u)),
            Err(e) => {
                log::warn!("/metrics: no uptime ratios: {e}");
                None
            }
        };
        if let Ok(mut cache) = self.uptime.lock() {
            *cache = Some(CachedUptime {
                key,
                read_at: std::time::Instant::now(),
                uptime: uptime.clone(),
            });
        }
        uptime
    }

    /// The state as it is on disk now, without the lock: a save replaces the file whole,
    /// so this never waits on a running tick and never sees half a save.
    fn current_state(&self) -> Result<Arc<State>, String> {
        let key = self.state_key();
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
    let page_path = crate::statuspage::http::is_page_path(req.uri().path());
    if let Some(token) = &shared.token {
        let open_page = page_path && shared.pages_public;
        if !open_page && !authorized(req, token) {
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
    if page_path {
        return page(shared, req, state).await;
    }
    let st = match &state {
        Ok(state) => status::compute(state, &shared.policy, now),
        Err(why) => status::unreadable(&shared.policy, why),
    };
    match req.uri().path() {
        "/status.json" => {
            match serde_json::to_vec_pretty(&with_quiet(shared, &st, state.as_deref().ok(), now)) {
                Ok(mut body) => {
                    body.push(b'\n');
                    with_type(StatusCode::OK, body, "application/json")
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            }
        }
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
        "/metrics" => {
            let reader = Arc::clone(shared);
            let uptime = tokio::task::spawn_blocking(move || reader.uptime(now))
                .await
                .ok()
                .flatten();
            let text = metrics::render(&metrics::Snapshot {
                config: &shared.config,
                jobs: &shared.jobs,
                state: state.as_deref().ok(),
                status: &st,
                uptime: uptime.as_deref(),
                now,
            });
            with_type(StatusCode::OK, text.into_bytes(), metrics::CONTENT_TYPE)
        }
        // Every other path answers the word, as the original's status site did: peers
        // read the body, whatever the word, so the status code is always 200.
        _ => text(StatusCode::OK, st.status.as_str()),
    }
}

/// The status page and its badges, drawn off the async workers (they read SQLite).
async fn page(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    state: Result<Arc<State>, String>,
) -> Response<Full<Bytes>> {
    let state = match state {
        Ok(s) => s,
        Err(why) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the state cannot be read: {why}\n"),
            )
        }
    };
    let shared = Arc::clone(shared);
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let open = shared.token.is_none() || shared.pages_public;
    let reply = tokio::task::spawn_blocking(move || {
        shared
            .pages
            .answer(&path, query.as_deref(), &state, Utc::now(), open)
    })
    .await;
    match reply {
        Ok(r) => {
            let mut resp = Response::new(Full::new(Bytes::from(r.body)));
            *resp.status_mut() =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static(r.cache));
            resp
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
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

/// `/status.json`: the peer status, and `quiet` (the silences, the windows open now and
/// the jobs kept quiet on purpose, SPEC §10) when the state could be read.
fn with_quiet(
    shared: &Shared,
    st: &PeerStatus,
    state: Option<&State>,
    now: chrono::DateTime<Utc>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(st).unwrap_or(serde_json::Value::Null);
    if let (Some(map), Some(state)) = (v.as_object_mut(), state) {
        map.insert(
            "quiet".into(),
            crate::engine::quiet::summary_json(&shared.config, state, now),
        );
    }
    v
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
}
