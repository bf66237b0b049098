//! Opening the database (a regular file, WAL, busy timeout, schema version, a corrupt file
//! moved aside) and recording events with their rollups in one transaction.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::record::append_tx;
use super::schema::{self, Version, SCHEMA_VERSION};
use super::Event;

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

/// What runs once when the database is first opened (the one-time import of earlier
/// versions' JSON Lines): given by the constructors in `history`, so that this file does
/// not depend on the importer that depends on it.
pub(crate) type FirstOpen = fn(&History, &mut Connection) -> Result<(), HistoryError>;

/// The history database, opened on first use.
pub struct History {
    pub(crate) path: PathBuf,
    pub(crate) legacy_dir: PathBuf,
    pub(crate) busy: Duration,
    pub(super) access: Access,
    pub(super) conn: Mutex<Option<Connection>>,
    pub(super) recovered: Mutex<Option<String>>,
    pub(super) first_open: FirstOpen,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
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
                (self.first_open)(self, &mut c)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventKind;
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
