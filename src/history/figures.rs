//! Figures from the rollups: window sums for `status` and per-job uptime for `uptime`,
//! their cost independent of the window's length.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use super::codec::{self, Elem};
use super::query::{hour_end, Row, SELECT_OPEN};
use super::record::ms;
use super::rollup::{self, Acc, HOUR_MS};
use super::{EventKind, History, HistoryError};

/// Per-job figures over a window, for `uptime`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobFigures {
    pub job: String,
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Successful results in per cent of all results; `None` without results.
    pub uptime_percent: Option<f64>,
    /// Failure streaks begun in the window.
    pub incidents: u64,
    /// Time spent failing (from a failing result to the next result), including a streak
    /// still open now.
    pub downtime_ms: u64,
    pub mean_response_ms: Option<f64>,
    pub p95_response_ms: Option<f64>,
}

impl History {
    /// Per job (by name): the results from `since` to now, read from the rollups plus the
    /// raw events of the partial hour at the window's start.
    pub fn window(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Acc>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            window(&tx, ms(since), ms(now)).map_err(|e| h.err(e))
        })
    }

    /// Uptime figures per job over the last `days` days: whole hours, the current one
    /// included. `jobs` empty: every job with history.
    pub fn uptime(
        &self,
        days: u32,
        now: DateTime<Utc>,
        jobs: &[String],
    ) -> Result<Vec<JobFigures>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            uptime(&tx, days, ms(now), jobs).map_err(|e| h.err(e))
        })
    }
}

fn names(conn: &Connection) -> rusqlite::Result<HashMap<i64, String>> {
    conn.prepare_cached("SELECT id, name FROM jobs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

fn pruned_before(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'pruned_before'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN))
}

fn window(conn: &Connection, since: i64, now: i64) -> rusqlite::Result<HashMap<String, Acc>> {
    let first_hour = since.div_euclid(HOUR_MS);
    let now_hour = now.div_euclid(HOUR_MS);
    let partial = since.rem_euclid(HOUR_MS) != 0 && since >= pruned_before(conn)?;
    let full_from = if partial { first_hour + 1 } else { first_hour };
    let mut sums = rollup::sum_hours(conn, full_from, now_hour, None, false)?;
    if partial && first_hour <= now_hour {
        let hour_start = first_hour * HOUR_MS;
        let end = hour_end(since).min(now.saturating_add(1));
        let mut rows: Vec<(Row, i64)> = Vec::new();
        let mut st = conn.prepare_cached(
            "SELECT e.id, e.ts, e.last_ts, e.n, NULL, e.kind, e.ok, e.message, e.channel,
             e.duration_ms, e.extra, e.elems, e.job_id FROM events e
             WHERE e.ts >= ?1 AND e.ts < ?2 AND e.kind IN (0, 3) AND e.job_id IS NOT NULL",
        )?;
        for r in st.query_map([hour_start, end], |r| Ok((Row::read(r)?, r.get(12)?)))? {
            rows.push(r?);
        }
        let mut st =
            conn.prepare_cached(&format!("{SELECT_OPEN} WHERE o.ts >= ?1 AND o.ts < ?2"))?;
        for r in st.query_map([hour_start, end], |r| Ok((Row::read(r)?, r.get(12)?)))? {
            rows.push(r?);
        }
        for (row, jid) in rows {
            let acc = sums.entry(jid).or_default();
            match &row.elems {
                // A run: every result counts; only times and durations are needed.
                Some(stream) if row.kind == 0 || row.kind == 3 => {
                    let first = Elem {
                        ts: row.ts,
                        duration_ms: row.duration_ms,
                        message: None,
                    };
                    let elems =
                        codec::expand_times(first.clone(), row.n.max(1) as u64, Some(stream))
                            .unwrap_or_else(|| vec![first]);
                    for el in elems.into_iter().filter(|el| el.ts >= since && el.ts < end) {
                        acc.result(row.ok == Some(true), None, el.duration_ms);
                    }
                }
                _ => {
                    for e in row.events() {
                        let t = ms(e.ts);
                        // Rows here are results of a job (the query says so).
                        let result = matches!(e.event, EventKind::Result | EventKind::Report)
                            && !e.is_retried_attempt();
                        if t >= since && t < end && result {
                            acc.result(e.ok == Some(true), e.count, e.duration_ms);
                        }
                    }
                }
            }
        }
    }
    let names = names(conn)?;
    Ok(sums
        .into_iter()
        .filter_map(|(id, a)| names.get(&id).map(|n| (n.clone(), a)))
        .collect())
}

fn uptime(
    conn: &Connection,
    days: u32,
    now: i64,
    jobs: &[String],
) -> rusqlite::Result<Vec<JobFigures>> {
    let now_hour = now.div_euclid(HOUR_MS);
    let from_hour = now_hour - i64::from(days.max(1)) * 24 + 1;
    let window_start = from_hour * HOUR_MS;
    let names = names(conn)?;
    let by_name: HashMap<&str, i64> = names.iter().map(|(i, n)| (n.as_str(), *i)).collect();
    let wanted: Vec<(i64, String)> = if jobs.is_empty() {
        let mut all: Vec<(i64, String)> = names.iter().map(|(i, n)| (*i, n.clone())).collect();
        all.sort_by(|a, b| a.1.cmp(&b.1));
        all
    } else {
        jobs.iter()
            .map(|j| {
                (
                    by_name.get(j.as_str()).copied().unwrap_or(i64::MIN),
                    j.clone(),
                )
            })
            .collect()
    };
    let one = if wanted.len() == 1 {
        Some(wanted[0].0)
    } else {
        None
    };
    let sums = rollup::sum_hours(conn, from_hour, now_hour, one, true)?;
    // A streak still open: the time since its last failing result counts as down too.
    let mut open: HashMap<i64, i64> = HashMap::new();
    let mut st = conn.prepare_cached(
        "SELECT j.id,
           CASE WHEN o.job_id IS NULL THEN j.last_ts ELSE o.last_ts END,
           CASE WHEN o.job_id IS NULL THEN j.last_ok ELSE o.ok END
         FROM jobs j LEFT JOIN open_runs o ON o.job_id = j.id",
    )?;
    for r in st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, Option<bool>>(2)?,
        ))
    })? {
        if let (id, Some(last), Some(false)) = r? {
            open.insert(id, last);
        }
    }
    let mut out = Vec::new();
    for (id, name) in wanted {
        let a = sums.get(&id).cloned().unwrap_or_default();
        let ongoing = open
            .get(&id)
            .map(|&last| (now - last.max(window_start)).max(0) as u64)
            .unwrap_or(0);
        out.push(JobFigures {
            job: name,
            attempts: a.attempts,
            successes: a.successes,
            failures: a.failures(),
            uptime_percent: (a.attempts > 0)
                .then(|| a.successes as f64 * 100.0 / a.attempts as f64),
            incidents: a.incidents,
            downtime_ms: a.down_ms.saturating_add(ongoing),
            mean_response_ms: a.mean_ms(),
            p95_response_ms: a.percentile_ms(0.95),
        });
    }
    Ok(out)
}
