//! Opening the database (a regular file, WAL, busy timeout, schema version, a corrupt file
//! moved aside) and recording events with their rollups in one transaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::codec::{self, Elem};
use super::rollup::{Pending, HOUR_MS};
use super::schema::{self, Version, SCHEMA_VERSION};
use super::{Event, EventKind, Extra};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history database {path} is {what}, not a regular file: move it away or point [general] history_db elsewhere (checker never replaces it)")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("history database {path} has schema version {found}, newer than this checker understands ({SCHEMA_VERSION}): upgrade checker, or point [general] history_db at another file")]
    TooNew { path: PathBuf, found: u32 },
    #[error("history database {path} is unreadable ({reason}); the next tick moves it aside and starts a fresh one")]
    Corrupt { path: PathBuf, reason: String },
    #[error("no space left for history database {path}: free some space on its disk ({detail})")]
    DiskFull { path: PathBuf, detail: String },
    #[error("history database {path} stayed busy for {secs}s: another checker holds it (raise [general] lock_timeout if runs are long)")]
    Busy { path: PathBuf, secs: u64 },
    #[error("history database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("history {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Who opens: a writer (under the state lock) moves a corrupt database aside and starts a
/// fresh one; a reader only reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Writer,
    Reader,
}

/// The history database, opened on first use.
pub struct History {
    pub(crate) path: PathBuf,
    pub(crate) legacy_dir: PathBuf,
    pub(crate) busy: Duration,
    access: Access,
    conn: Mutex<Option<Connection>>,
    recovered: Mutex<Option<String>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether the file system holding `path` has (next to) no room left.
fn disk_full(path: &Path) -> bool {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => {
            #[allow(clippy::unnecessary_cast)] // the widths differ between platforms
            let room = (s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64);
            room < 64 * 1024
        }
        Err(_) => false,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl History {
    /// `path`: the database; `legacy_dir`: JSON Lines day files of earlier versions, imported
    /// once; `busy`: how long to wait for another writer.
    pub fn new(path: &Path, legacy_dir: &Path, busy: Duration, access: Access) -> Self {
        History {
            path: path.to_path_buf(),
            legacy_dir: legacy_dir.to_path_buf(),
            busy,
            access,
            conn: Mutex::new(None),
            recovered: Mutex::new(None),
        }
    }

    /// The history of this configuration, for a writer (a run, `report`, `prune`).
    pub fn from_config(g: &crate::config::General) -> Self {
        History::new(
            &g.history_db,
            &g.history_dir,
            g.lock_timeout,
            Access::Writer,
        )
    }

    /// The history of this configuration, for a reader (`status`, `history`, `uptime`).
    pub fn reader(g: &crate::config::General) -> Self {
        History::new(
            &g.history_db,
            &g.history_dir,
            g.lock_timeout,
            Access::Reader,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> HistoryError {
        let path = self.path.clone();
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => HistoryError::DiskFull {
                path,
                detail: e.to_string(),
            },
            // SQLite says "disk I/O error" when a write meets ENOSPC: tell it as it is.
            Some(ErrorCode::SystemIoFailure) if disk_full(&path) => HistoryError::DiskFull {
                path,
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => HistoryError::Corrupt {
                path,
                reason: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => HistoryError::Busy {
                path,
                secs: self.busy.as_secs(),
            },
            _ => HistoryError::Sqlite { path, source: e },
        }
    }

    pub(crate) fn io(&self, path: &Path, source: std::io::Error) -> HistoryError {
        if source.raw_os_error() == Some(28) {
            return HistoryError::DiskFull {
                path: path.to_path_buf(),
                detail: source.to_string(),
            };
        }
        HistoryError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Why the database was moved aside since the last call, if it was: the caller raises
    /// an error event and an alert.
    pub fn take_recovered(&self) -> Option<String> {
        self.recovered.lock().ok().and_then(|mut r| r.take())
    }

    /// Opens the database now (importing earlier JSON Lines files, migrating, moving a
    /// corrupt file aside), so that problems surface at a chosen point.
    pub fn prepare(&self) -> Result<(), HistoryError> {
        self.with_conn(|_, _| Ok(()))
    }

    /// Runs `f` on the open connection, opening it first when needed.
    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&History, &mut Connection) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        let mut guard = self.lock_conn();
        let conn = match guard.as_mut() {
            Some(c) => c,
            None => {
                let mut c = self.open()?;
                super::import::run(self, &mut c)?;
                guard.insert(c)
            }
        };
        f(self, conn)
    }

    fn lock_conn(&self) -> MutexGuard<'_, Option<Connection>> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn check_regular(&self) -> Result<(), HistoryError> {
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&self.path) {
            Ok(m) => {
                let t = m.file_type();
                let what = if t.is_file() {
                    return Ok(());
                } else if t.is_dir() {
                    "a directory"
                } else if t.is_fifo() {
                    "a FIFO"
                } else if t.is_block_device() || t.is_char_device() {
                    "a device node"
                } else if t.is_socket() {
                    "a socket"
                } else {
                    "not a file"
                };
                Err(HistoryError::NotRegular {
                    path: self.path.clone(),
                    what,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(&self.path, e)),
        }
    }

    fn open(&self) -> Result<Connection, HistoryError> {
        self.check_regular()?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(dir, e))?;
        }
        match self.try_open() {
            Err(HistoryError::Corrupt { reason, .. }) if self.access == Access::Writer => {
                self.move_aside(&reason)?;
                self.try_open()
            }
            other => other,
        }
    }

    fn try_open(&self) -> Result<Connection, HistoryError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&self.path, flags).map_err(|e| self.err(e))?;
        conn.busy_timeout(self.busy).map_err(|e| self.err(e))?;
        self.retry(|| {
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                .map(|_| ())
        })?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=1073741824;
             PRAGMA cache_size=-16384;",
        )
        .map_err(|e| self.err(e))?;
        super::rollup::register(&conn).map_err(|e| self.err(e))?;
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| self.err(e))?;
        match self.retry(|| schema::migrate(&mut conn, SCHEMA_VERSION))? {
            Version::Current => Ok(conn),
            Version::TooNew(found) => Err(HistoryError::TooNew {
                path: self.path.clone(),
                found,
            }),
        }
    }

    /// Moves a corrupt database (and its WAL and shared-memory files) aside.
    fn move_aside(&self, reason: &str) -> Result<(), HistoryError> {
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let mut aside = self.path.as_os_str().to_owned();
        aside.push(format!(".corrupt-{stamp}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(&self.path, &aside).map_err(|e| self.io(&self.path, e))?;
        for ext in ["-wal", "-shm"] {
            let mut from = self.path.as_os_str().to_owned();
            from.push(ext);
            let mut to = aside.as_os_str().to_owned();
            to.push(ext);
            let _ = std::fs::rename(PathBuf::from(from), PathBuf::from(to));
        }
        log::error!(
            "history database {} was unreadable ({reason}); moved it to {} and started a fresh one",
            self.path.display(),
            aside.display()
        );
        if let Ok(mut r) = self.recovered.lock() {
            *r = Some(format!(
                "history database was unreadable ({reason}); moved aside to {}",
                aside.display()
            ));
        }
        Ok(())
    }

    /// Retries `f` while the database is busy, up to the busy timeout (SQLite's own busy
    /// handler waits too; this covers the cases it does not, such as WAL recovery).
    pub(crate) fn retry<T>(
        &self,
        mut f: impl FnMut() -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) if is_busy(&e) && start.elapsed() < self.busy => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// One write transaction (`BEGIN IMMEDIATE`, retried while busy).
    pub(crate) fn write<T>(
        &self,
        conn: &mut Connection,
        mut f: impl FnMut(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        self.retry(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
    }

    /// Records events, and the rollups of the results among them, in one transaction.
    /// Writers call it while holding the state lock (lock order: state, then database).
    pub fn append(&self, events: &[Event]) -> Result<(), HistoryError> {
        if events.is_empty() {
            return Ok(());
        }
        let first = self.with_conn(|h, conn| h.write(conn, |tx| append_tx(tx, events)));
        match first {
            Err(HistoryError::Corrupt { reason, .. }) if self.access == Access::Writer => {
                // Damage found while writing: a fresh database takes these events.
                *self.lock_conn() = None;
                self.move_aside(&reason)?;
                self.with_conn(|h, conn| h.write(conn, |tx| append_tx(tx, events)))
            }
            other => other,
        }
    }
}

pub(crate) fn kind_code(k: EventKind) -> i64 {
    match k {
        EventKind::Result => 0,
        EventKind::Notify => 1,
        EventKind::Recover => 2,
        EventKind::Report => 3,
        EventKind::Error => 4,
        EventKind::Superseded => 5,
    }
}

pub(crate) fn kind_from(code: i64) -> EventKind {
    match code {
        0 => EventKind::Result,
        1 => EventKind::Notify,
        2 => EventKind::Recover,
        3 => EventKind::Report,
        5 => EventKind::Superseded,
        _ => EventKind::Error,
    }
}

/// A result that counts (status, uptime): a check's or a pushed one, not a retried attempt.
pub(crate) fn counts_as_result(e: &Event) -> bool {
    matches!(e.event, EventKind::Result | EventKind::Report)
        && !e.is_retried_attempt()
        && e.job.is_some()
}

/// A result with nothing but time, outcome, duration and message: it can join a run.
fn routine(e: &Event) -> bool {
    counts_as_result(e)
        && e.ok.is_some()
        && e.channel.is_none()
        && e.attempts.is_none()
        && e.attempt.is_none()
        && e.is_final.is_none()
        && e.count.is_none()
        && e.perfdata.is_empty()
}

/// A job's run still growing (`open_runs`).
#[derive(Debug, Clone)]
pub(crate) struct OpenRun {
    pub job_id: i64,
    pub ts: i64,
    pub last_ts: i64,
    pub n: i64,
    pub kind: i64,
    pub ok: Option<bool>,
    pub message: Option<String>,
    pub duration_ms: Option<u64>,
    pub elems: Vec<u8>,
    /// The last result's message and its time step: what the next one is coded against.
    pub last_message: Option<String>,
    pub last_step: i64,
}

impl OpenRun {
    pub(crate) const COLUMNS: &'static str =
        "job_id, ts, last_ts, n, kind, ok, message, duration_ms, elems, last_message, last_step";

    pub(crate) fn read(r: &rusqlite::Row) -> rusqlite::Result<OpenRun> {
        Ok(OpenRun {
            job_id: r.get(0)?,
            ts: r.get(1)?,
            last_ts: r.get(2)?,
            n: r.get(3)?,
            kind: r.get(4)?,
            ok: r.get(5)?,
            message: r.get(6)?,
            duration_ms: r.get::<_, Option<i64>>(7)?.map(|d| d.max(0) as u64),
            elems: r.get(8)?,
            last_message: r.get(9)?,
            last_step: r.get(10)?,
        })
    }
}

/// What a batch knows of a job.
struct JobInfo {
    id: i64,
    /// The last result when no run is open.
    last: Option<(i64, Option<bool>)>,
    open: Option<OpenRun>,
}

impl JobInfo {
    /// The job's newest result: time and outcome.
    fn newest(&self) -> Option<(i64, Option<bool>)> {
        match &self.open {
            Some(o) => Some((o.last_ts, o.ok)),
            None => self.last,
        }
    }
}

const MAX_RUN: i64 = 4096;

fn db_u64(v: Option<u64>) -> Option<i64> {
    v.map(|d| i64::try_from(d).unwrap_or(i64::MAX))
}

fn load_jobs(
    tx: &rusqlite::Transaction,
    events: &[Event],
) -> rusqlite::Result<HashMap<String, JobInfo>> {
    let mut out: HashMap<String, JobInfo> = HashMap::new();
    let mut runs: HashMap<i64, OpenRun> = HashMap::new();
    if events.len() >= 64 {
        // A tick's worth: two scans beat a lookup per job.
        let mut st = tx.prepare_cached(&format!("SELECT {} FROM open_runs", OpenRun::COLUMNS))?;
        for r in st.query_map([], OpenRun::read)? {
            let r = r?;
            runs.insert(r.job_id, r);
        }
        let mut st = tx.prepare_cached("SELECT id, name, last_ts, last_ok FROM jobs")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let last_ts: Option<i64> = r.get(2)?;
            out.insert(
                r.get(1)?,
                JobInfo {
                    id,
                    last: last_ts.map(|t| (t, r.get(3).ok().flatten())),
                    open: runs.remove(&id),
                },
            );
        }
    }
    Ok(out)
}

fn job<'a>(
    tx: &rusqlite::Transaction,
    jobs: &'a mut HashMap<String, JobInfo>,
    name: &str,
) -> rusqlite::Result<&'a mut JobInfo> {
    if !jobs.contains_key(name) {
        let found: Option<(i64, Option<i64>, Option<bool>)> = tx
            .prepare_cached("SELECT id, last_ts, last_ok FROM jobs WHERE name = ?1")?
            .query_row([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let info = match found {
            Some((id, last_ts, last_ok)) => JobInfo {
                id,
                last: last_ts.map(|t| (t, last_ok)),
                open: tx
                    .prepare_cached(&format!(
                        "SELECT {} FROM open_runs WHERE job_id = ?1",
                        OpenRun::COLUMNS
                    ))?
                    .query_row([id], OpenRun::read)
                    .optional()?,
            },
            None => {
                tx.prepare_cached("INSERT INTO jobs (name) VALUES (?1)")?
                    .execute([name])?;
                JobInfo {
                    id: tx.last_insert_rowid(),
                    last: None,
                    open: None,
                }
            }
        };
        jobs.insert(name.to_string(), info);
    }
    // Present: inserted above when missing.
    match jobs.get_mut(name) {
        Some(j) => Ok(j),
        None => Err(rusqlite::Error::QueryReturnedNoRows),
    }
}

fn insert(tx: &rusqlite::Transaction, e: &Event, job: Option<i64>) -> rusqlite::Result<i64> {
    let extra = Extra::of(e);
    let extra = (!extra.is_empty())
        .then(|| serde_json::to_string(&extra).ok())
        .flatten();
    let t = ms(e.ts);
    tx.prepare_cached(
        "INSERT INTO events (ts, last_ts, n, job_id, kind, ok, message, channel, duration_ms, extra)
         VALUES (?1, ?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        t,
        job,
        kind_code(e.event),
        e.ok,
        e.message,
        e.channel,
        db_u64(e.duration_ms),
        extra,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Moves a job's open run to `events` (deflated) and remembers its last result on the job.
pub(crate) fn close_run(tx: &rusqlite::Transaction, o: &OpenRun) -> rusqlite::Result<()> {
    // Even a run of one keeps its (empty) stream: it marks the row as a run that was open,
    // which `history --follow` needs to tell it from a single event.
    let elems = codec::close(&o.elems);
    tx.prepare_cached(
        "INSERT INTO events (ts, last_ts, n, job_id, kind, ok, message, duration_ms, elems)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        o.ts,
        o.last_ts,
        o.n,
        o.job_id,
        o.kind,
        o.ok,
        o.message,
        db_u64(o.duration_ms),
        elems
    ])?;
    tx.prepare_cached("DELETE FROM open_runs WHERE job_id = ?1")?
        .execute([o.job_id])?;
    tx.prepare_cached("UPDATE jobs SET last_ts = ?1, last_ok = ?2 WHERE id = ?3")?
        .execute(params![o.last_ts, o.ok, o.job_id])?;
    Ok(())
}

/// The body of `append`, inside its transaction.
pub(crate) fn append_tx(tx: &rusqlite::Transaction, events: &[Event]) -> rusqlite::Result<()> {
    let mut jobs = load_jobs(tx, events)?;
    let mut rollups = Pending::default();
    for e in events {
        let Some(name) = e.job.as_deref() else {
            insert(tx, e, None)?;
            continue;
        };
        let j = job(tx, &mut jobs, name)?;
        let jid = j.id;
        if !counts_as_result(e) {
            insert(tx, e, Some(jid))?;
            continue;
        }
        let t = ms(e.ts);
        let ok = e.ok == Some(true);
        let newest = j.newest();
        let in_order = newest.is_none_or(|(last, _)| t >= last);
        if in_order {
            match newest {
                Some((last, prev_ok)) => {
                    if prev_ok == Some(false) {
                        rollups.down(jid, last, t);
                    }
                    if !ok && prev_ok != Some(false) {
                        rollups.hour(jid, t).incidents += 1;
                    }
                }
                None if !ok => rollups.hour(jid, t).incidents += 1,
                None => {}
            }
        }
        rollups.hour(jid, t).result(ok, e.count, e.duration_ms);
        let kind = kind_code(e.event);
        let this = Elem {
            ts: t,
            duration_ms: e.duration_ms,
            message: e.message.clone(),
        };
        if in_order && routine(e) {
            if let Some(o) = j.open.as_mut().filter(|o| {
                o.kind == kind
                    && o.ok == e.ok
                    && o.ts.div_euclid(HOUR_MS) == t.div_euclid(HOUR_MS)
                    && o.n < MAX_RUN
            }) {
                // Extend the open run.
                let last = Elem {
                    ts: o.last_ts,
                    duration_ms: None,
                    message: o.last_message.clone(),
                };
                codec::push(&mut o.elems, &last, o.last_step, &this);
                o.n += 1;
                o.last_step = t - o.last_ts;
                o.last_ts = t;
                o.last_message = e.message.clone();
                tx.prepare_cached(
                    "UPDATE open_runs SET last_ts = ?1, n = ?2, elems = ?3, last_message = ?4,
                     last_step = ?5 WHERE job_id = ?6",
                )?
                .execute(params![
                    o.last_ts,
                    o.n,
                    o.elems,
                    o.last_message,
                    o.last_step,
                    jid
                ])?;
                continue;
            }
        }
        if in_order {
            if let Some(o) = j.open.take() {
                close_run(tx, &o)?;
            }
        }
        if in_order && routine(e) {
            let o = OpenRun {
                job_id: jid,
                ts: t,
                last_ts: t,
                n: 1,
                kind,
                ok: e.ok,
                message: e.message.clone(),
                duration_ms: e.duration_ms,
                elems: codec::empty(),
                last_message: e.message.clone(),
                last_step: 0,
            };
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO open_runs ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                OpenRun::COLUMNS
            ))?
            .execute(params![
                o.job_id,
                o.ts,
                o.last_ts,
                o.n,
                o.kind,
                o.ok,
                o.message,
                db_u64(o.duration_ms),
                o.elems,
                o.last_message,
                o.last_step
            ])?;
            j.open = Some(o);
        } else {
            insert(tx, e, Some(jid))?;
            if in_order {
                tx.prepare_cached("UPDATE jobs SET last_ts = ?1, last_ok = ?2 WHERE id = ?3")?
                    .execute(params![t, e.ok, jid])?;
                j.last = Some((t, e.ok));
            }
        }
    }
    rollups.flush(tx, ms(Utc::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Query;
    use chrono::TimeZone;

    #[test]
    fn runs_give_back_every_result_exactly_and_take_few_rows() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(
            &dir.path().join("h.db"),
            &dir.path().join("none"),
            Duration::from_secs(5),
            Access::Writer,
        );
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap();
        let mut all = Vec::new();
        for i in 0..180i64 {
            for job in ["a", "b"] {
                let mut e = Event::new(
                    t0 + chrono::Duration::milliseconds(i * 60_000 + i % 7),
                    EventKind::Result,
                    Some(job),
                );
                let ok = !(40..55).contains(&i) || job == "b";
                e.ok = Some(ok);
                e.duration_ms = (i % 11 != 0).then_some(30 + (i as u64 % 9));
                e.message = Some(if ok {
                    format!("HTTP 200 in {} ms", 30 + i % 9)
                } else {
                    "connection refused".into()
                });
                all.push(e);
            }
            if i == 50 {
                let mut n = Event::new(
                    t0 + chrono::Duration::minutes(50),
                    EventKind::Notify,
                    Some("a"),
                );
                n.ok = Some(true);
                n.channel = Some("email".into());
                n.message = Some("alert sent".into());
                all.push(n);
                let mut r = Event::new(
                    t0 + chrono::Duration::minutes(50),
                    EventKind::Report,
                    Some("b"),
                );
                r.ok = Some(true);
                r.count = Some(12);
                all.push(r);
            }
        }
        for chunk in all.chunks(3) {
            h.append(chunk).unwrap();
        }
        let mut back = h.read(&Query::default()).unwrap();
        back.reverse();
        let mut want = all.clone();
        want.sort_by_key(|e| (e.ts, e.job.clone(), e.event == EventKind::Result));
        back.sort_by_key(|e| (e.ts, e.job.clone(), e.event == EventKind::Result));
        assert_eq!(back.len(), want.len());
        for (b, w) in back
            .iter()
            .zip(&want)
            .filter(|(b, _)| b.event == EventKind::Result)
        {
            assert_eq!(
                (b.ts, &b.job, b.ok, &b.message, b.duration_ms),
                (w.ts, &w.job, w.ok, &w.message, w.duration_ms)
            );
        }
        let rows: i64 = h
            .with_conn(|_, c| {
                Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
                    .unwrap_or(0))
            })
            .unwrap();
        assert!(rows < 20, "362 events in {rows} rows");
        // The window sums agree with counting each result.
        let w = h.window(t0, t0 + chrono::Duration::hours(4)).unwrap();
        assert_eq!((w["a"].attempts, w["a"].successes), (180, 165));
        assert_eq!((w["b"].attempts, w["b"].count_sum), (181, 12));
        let part = h
            .window(
                t0 + chrono::Duration::minutes(45),
                t0 + chrono::Duration::hours(4),
            )
            .unwrap();
        assert_eq!((part["a"].attempts, part["a"].successes), (135, 125));
        let limited = h
            .read(&Query {
                job: Some("a".into()),
                limit: Some(3),
                failures_only: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(limited.len(), 3);
        assert_eq!(
            limited[0].ts,
            want.iter()
                .rfind(|e| e.job.as_deref() == Some("a") && e.ok == Some(false))
                .unwrap()
                .ts
        );
    }
}
