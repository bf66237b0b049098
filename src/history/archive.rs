//! Retention: raw events older than the cutoff are archived (when an archive folder is
//! given: `YYYY-MM-DD.jsonl.gz`, one per day of the events, in the `history --json` shape)
//! and deleted, except each job's last `keep_last` events; hourly and daily rollups have
//! their own, longer, retention. The archive is written and synced before the delete
//! commits, so a crash can repeat an archived event but never lose one.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::codec::{self, Elem};
use super::query::Row;
use super::record::{close_run, ms, OpenRun};
use super::rollup::{DAY_MS, HOUR_MS};
use super::{Event, History, HistoryError};

/// What to prune.
#[derive(Debug, Clone)]
pub struct PrunePolicy {
    /// Raw events older than this go.
    pub cutoff: DateTime<Utc>,
    /// Each job's last N events stay, however old.
    pub keep_last: u32,
    /// Pruned events are first written here.
    pub archive_dir: Option<PathBuf>,
    /// Hourly rollups older than this go.
    pub hours_cutoff: DateTime<Utc>,
    /// Daily rollups older than this go.
    pub days_cutoff: DateTime<Utc>,
}

impl PrunePolicy {
    /// The configured retention, as of `now`.
    pub fn from_config(g: &crate::config::General, now: DateTime<Utc>) -> Self {
        let days = |d: u32| now - chrono::Duration::days(i64::from(d));
        PrunePolicy {
            cutoff: days(g.history_days),
            keep_last: g.history_keep_last,
            archive_dir: g.history_archive_dir.clone(),
            hours_cutoff: days(g.rollup_hours_days),
            days_cutoff: days(g.rollup_days),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// Events deleted (each result of a run counted).
    pub events: u64,
    /// Of them, written to the archive first.
    pub archived: u64,
    /// Events kept by `keep_last` although older than the cutoff.
    pub kept: u64,
    pub hourly_rollups: u64,
    pub daily_rollups: u64,
}

/// Rows handled per transaction.
const CHUNK: usize = 20_000;

fn archive(dir: &Path, events: &[Event]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut by_day: BTreeMap<String, Vec<&Event>> = BTreeMap::new();
    for e in events {
        by_day
            .entry(e.ts.format("%Y-%m-%d").to_string())
            .or_default()
            .push(e);
    }
    for (day, evs) in by_day {
        let path = dir.join(format!("{day}.jsonl.gz"));
        // A new gzip member appended to the day's file: `zcat` reads them all as one.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        for e in evs {
            serde_json::to_writer(&mut gz, e).map_err(std::io::Error::other)?;
            gz.write_all(b"\n")?;
        }
        let file = gz.finish()?;
        file.sync_all()?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Per job, the `last_ts` and id of the oldest row among those holding its newest
/// `keep` events: rows from there on are kept.
fn keep_marks(conn: &Connection, keep: u32) -> rusqlite::Result<HashMap<i64, (i64, i64)>> {
    let mut marks = HashMap::new();
    if keep == 0 {
        return Ok(marks);
    }
    let jobs: Vec<i64> = conn
        .prepare("SELECT id FROM jobs")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn
        .prepare("SELECT id, last_ts, n FROM events WHERE job_id = ?1 ORDER BY ts DESC, id DESC")?;
    let mut open = conn.prepare("SELECT n FROM open_runs WHERE job_id = ?1")?;
    for job in jobs {
        // The open run holds the newest results.
        let mut total: i64 = open.query_row([job], |r| r.get(0)).optional()?.unwrap_or(0);
        if total >= i64::from(keep) {
            marks.insert(job, (i64::MAX, i64::MAX));
            continue;
        }
        let mut rows = st.query([job])?;
        while let Some(r) = rows.next()? {
            let (id, last, n): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            total += n.max(1);
            marks.insert(job, (last, id));
            if total >= i64::from(keep) {
                break;
            }
        }
    }
    Ok(marks)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(|_| ())
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

impl History {
    /// Applies `p`: archives and deletes old events (keeping each job's last N), then old
    /// rollups. Takes only the database (never the state lock).
    pub fn prune(&self, p: &PrunePolicy) -> Result<PruneReport, HistoryError> {
        self.with_conn(|h, conn| h.prune_on(conn, p))
    }

    fn prune_on(
        &self,
        conn: &mut Connection,
        p: &PrunePolicy,
    ) -> Result<PruneReport, HistoryError> {
        let cutoff = ms(p.cutoff);
        let mut report = PruneReport::default();
        // Runs left open before the cutoff (a job that stopped) are closed first, so
        // they are pruned like any other.
        self.write(conn, |tx| {
            let stale: Vec<OpenRun> = tx
                .prepare(&format!(
                    "SELECT {} FROM open_runs WHERE ts < ?1",
                    OpenRun::COLUMNS
                ))?
                .query_map([cutoff], OpenRun::read)?
                .collect::<rusqlite::Result<_>>()?;
            for o in &stale {
                close_run(tx, o)?;
            }
            Ok(())
        })?;
        let marks = keep_marks(conn, p.keep_last).map_err(|e| self.err(e))?;
        let kept_row = |row: &Row, job: Option<i64>| -> bool {
            match job.and_then(|j| marks.get(&j)) {
                Some(&(last, id)) => (row.last_ts, row.id) >= (last, id),
                None => false,
            }
        };
        let mut after_id = i64::MIN;
        loop {
            // One chunk: read the rows, archive what goes, then delete it in one
            // transaction.
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            let rows: Vec<(Row, Option<i64>)> = {
                let mut st = tx
                    .prepare_cached(
                        "SELECT e.id, e.ts, e.last_ts, e.n, j.name, e.kind, e.ok, e.message, e.channel,
                         e.duration_ms, e.extra, e.elems, e.job_id FROM events e
                         LEFT JOIN jobs j ON j.id = e.job_id
                         WHERE e.ts < ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3",
                    )
                    .map_err(|e| self.err(e))?;
                let x = st
                    .query_map(params![cutoff, after_id, CHUNK as i64], |r| {
                        Ok((Row::read(r)?, r.get::<_, Option<i64>>(12)?))
                    })
                    .map_err(|e| self.err(e))?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(|e| self.err(e))?;
                x
            };
            drop(tx);
            let Some(last) = rows.last() else { break };
            after_id = last.0.id;
            let mut gone: Vec<Event> = Vec::new();
            let mut deletes: Vec<i64> = Vec::new();
            let mut rewrites: Vec<(i64, Vec<Elem>)> = Vec::new();
            for (row, job) in &rows {
                let events = row.events();
                if kept_row(row, *job) {
                    report.kept += events.iter().filter(|e| ms(e.ts) < cutoff).count() as u64;
                    continue;
                }
                if row.last_ts < cutoff {
                    gone.extend(events);
                    deletes.push(row.id);
                } else {
                    // A run that straddles the cutoff: its older results go.
                    let (old, young): (Vec<Event>, Vec<Event>) =
                        events.into_iter().partition(|e| ms(e.ts) < cutoff);
                    let young: Vec<Elem> = young
                        .into_iter()
                        .map(|e| Elem {
                            ts: ms(e.ts),
                            duration_ms: e.duration_ms,
                            message: e.message,
                        })
                        .collect();
                    gone.extend(old);
                    rewrites.push((row.id, young));
                }
            }
            gone.sort_by_key(|e| e.ts);
            if let Some(dir) = &p.archive_dir {
                if !gone.is_empty() {
                    archive(dir, &gone).map_err(|e| self.io(dir, e))?;
                    report.archived += gone.len() as u64;
                }
            }
            report.events += gone.len() as u64;
            self.write(conn, |tx| {
                let mut del = tx.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                for id in &deletes {
                    del.execute([id])?;
                }
                let mut upd = tx.prepare_cached(
                    "UPDATE events SET ts = ?1, n = ?2, message = ?3, duration_ms = ?4, elems = ?5 WHERE id = ?6",
                )?;
                for (id, young) in &rewrites {
                    let Some(first) = young.first() else { continue };
                    let mut s = codec::empty();
                    for i in 1..young.len() {
                        codec::push(&mut s, &young[i - 1], codec::last_step(&young[..i]), &young[i]);
                    }
                    let s = codec::close(&s);
                    upd.execute(params![
                        first.ts,
                        young.len() as i64,
                        first.message,
                        first.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
                        s,
                        id
                    ])?;
                }
                Ok(())
            })?;
        }
        let hour = ms(p.hours_cutoff).div_euclid(HOUR_MS);
        let day = ms(p.days_cutoff).div_euclid(DAY_MS);
        let now = Utc::now().to_rfc3339();
        let (hours, days) = self.write(conn, |tx| {
            let hours = tx.execute("DELETE FROM rollup_hour WHERE hour < ?1", [hour])?;
            let days = tx.execute("DELETE FROM rollup_day WHERE day < ?1", [day])?;
            set_meta(tx, "pruned_before", &cutoff.to_string())?;
            set_meta(tx, "last_prune", &now)?;
            Ok((hours, days))
        })?;
        report.hourly_rollups = hours as u64;
        report.daily_rollups = days as u64;
        Ok(report)
    }

    /// The tick's retention: on the day tick, or on any tick when no prune ran for a day
    /// and an hour (crontabs without a day line), prunes by `p`. Returns the report when
    /// it pruned.
    pub fn maintain(
        &self,
        p: &PrunePolicy,
        day_tick: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<PruneReport>, HistoryError> {
        self.with_conn(|h, conn| {
            let last = get_meta(conn, "last_prune")
                .map_err(|e| h.err(e))?
                .and_then(|v| v.parse::<DateTime<Utc>>().ok());
            let overdue = last.is_none_or(|l| now - l > chrono::Duration::hours(25));
            if !day_tick && !overdue {
                return Ok(None);
            }
            h.prune_on(conn, p).map(Some)
        })
    }
}
