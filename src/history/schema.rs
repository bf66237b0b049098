//! The database's tables, their version (`PRAGMA user_version`) and the forward
//! migrations between versions. A database newer than this build is refused, never
//! changed.

use rusqlite::{Connection, TransactionBehavior};

/// Version 1: jobs, events, the open runs, import progress, meta (and the rollup
/// tables, see `rollup`).
///
/// `events` holds single events and closed runs and is only appended to (and pruned);
/// each job's run still growing lives in `open_runs` until it closes (another outcome,
/// another hour, a result with more to it), when it moves to `events`, deflated.
const V1: &str = "
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    last_ts INTEGER,
    last_ok INTEGER
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 1,
    job_id INTEGER,
    kind INTEGER NOT NULL,
    ok INTEGER,
    message TEXT,
    channel TEXT,
    duration_ms INTEGER,
    extra TEXT,
    elems BLOB
);
CREATE INDEX events_by_job ON events(job_id, ts);
CREATE TABLE open_runs (
    job_id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    n INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    ok INTEGER,
    message TEXT,
    duration_ms INTEGER,
    elems BLOB NOT NULL,
    last_message TEXT,
    last_step INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE import_progress (
    file TEXT PRIMARY KEY,
    offset INTEGER NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
";

/// Version 2: events by time across all jobs, for `history` without `--job`.
const V2: &str = "
CREATE INDEX events_by_time ON events(ts);
";

/// Each entry takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// What opening found.
pub(crate) enum Version {
    Current,
    TooNew(u32),
}

/// Brings the schema up to `target` (normally `SCHEMA_VERSION`), one step per
/// transaction, so a crash leaves the database at some whole version.
pub(crate) fn migrate(conn: &mut Connection, target: u32) -> rusqlite::Result<Version> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v = user_version(&tx)?;
        if v > SCHEMA_VERSION {
            return Ok(Version::TooNew(v));
        }
        if v >= target {
            return Ok(Version::Current);
        }
        tx.execute_batch(MIGRATIONS[v as usize])?;
        if v == 0 {
            tx.execute_batch(&super::rollup::create_tables())?;
        }
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
        if v > 0 {
            log::info!(
                "history database schema migrated from version {v} to {}",
                v + 1
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Access, History, Query};

    #[test]
    fn a_version_1_database_is_migrated_forward_with_its_events_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            assert!(matches!(migrate(&mut conn, 1).unwrap(), Version::Current));
            assert_eq!(user_version(&conn).unwrap(), 1);
            conn.execute_batch(
                "INSERT INTO jobs (id, name) VALUES (1, 'web');
                 INSERT INTO events (ts, last_ts, n, job_id, kind, ok, message)
                 VALUES (1767225600000, 1767225600000, 1, 1, 0, 1, 'from version 1');",
            )
            .unwrap();
            let indexed: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'events_by_time'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(indexed, 0, "version 1 has no index by time");
        }
        let h = History::new(
            &path,
            &dir.path().join("none"),
            std::time::Duration::from_secs(5),
            Access::Reader,
        );
        let (events, mut follow) = h.follow(&Query::default()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message.as_deref(), Some("from version 1"));
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM events ORDER BY ts DESC",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("events_by_time"), "{plan}");
        // The migrated database takes new events, and followers see them.
        let w = History::new(
            &path,
            &dir.path().join("none"),
            std::time::Duration::from_secs(5),
            Access::Writer,
        );
        let mut e = crate::history::Event::new(
            chrono::Utc::now(),
            crate::history::EventKind::Result,
            Some("web"),
        );
        e.ok = Some(false);
        w.append(&[e]).unwrap();
        assert_eq!(h.poll(&mut follow).unwrap().len(), 1);
        assert_eq!(h.read(&Query::default()).unwrap().len(), 2);
    }
}
