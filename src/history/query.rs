//! Reading the history: events newest first (each result of a run given back as its own
//! event), new events as they are recorded (`--follow`), window sums for `status` and
//! per-job uptime figures, both from the rollups.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension};

use super::codec::{self, Elem};
use super::rollup::{self, Acc, HOUR_MS};
use super::store::{from_ms, kind_from, ms};
use super::{Event, EventKind, Extra, History, HistoryError, Query};

const SELECT: &str =
    "SELECT e.id, e.ts, e.last_ts, e.n, j.name, e.kind, e.ok, e.message, e.channel,
    e.duration_ms, e.extra, e.elems FROM events e LEFT JOIN jobs j ON j.id = e.job_id";

/// Open runs in the shape of `SELECT` (and the job id); their id sorts them after every
/// stored row.
const SELECT_OPEN: &str =
    "SELECT 9223372036854775807 - o.job_id, o.ts, o.last_ts, o.n, j.name, o.kind, o.ok,
    o.message, NULL, o.duration_ms, NULL, o.elems, o.job_id FROM open_runs o
    JOIN jobs j ON j.id = o.job_id";

fn hour_end(ts: i64) -> i64 {
    ts.div_euclid(HOUR_MS)
        .saturating_mul(HOUR_MS)
        .saturating_add(HOUR_MS)
}

/// One stored row: a single event, or a run of routine results.
pub(crate) struct Row {
    pub id: i64,
    pub ts: i64,
    pub last_ts: i64,
    pub n: i64,
    pub job: Option<String>,
    pub kind: i64,
    pub ok: Option<bool>,
    pub message: Option<String>,
    pub channel: Option<String>,
    pub duration_ms: Option<u64>,
    pub extra: Option<String>,
    pub elems: Option<Vec<u8>>,
}

impl Row {
    pub(crate) fn read(r: &rusqlite::Row) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            ts: r.get(1)?,
            last_ts: r.get(2)?,
            n: r.get(3)?,
            job: r.get(4)?,
            kind: r.get(5)?,
            ok: r.get(6)?,
            message: r.get(7)?,
            channel: r.get(8)?,
            duration_ms: r.get::<_, Option<i64>>(9)?.map(|d| d.max(0) as u64),
            extra: r.get(10)?,
            elems: r.get(11)?,
        })
    }

    /// Every result or event the row stands for, oldest first. A damaged run gives back
    /// its first result only (logged).
    pub(crate) fn events(&self) -> Vec<Event> {
        let first = Elem {
            ts: self.ts,
            duration_ms: self.duration_ms,
            message: self.message.clone(),
        };
        let elems = match self.elems.as_deref() {
            None => vec![first],
            Some(s) => match codec::expand(first.clone(), self.n.max(1) as u64, Some(s)) {
                Some(all) => all,
                None => {
                    log::warn!(
                        "history row {} is damaged: only its first result is shown",
                        self.id
                    );
                    vec![first]
                }
            },
        };
        let extra: Extra = self
            .extra
            .as_deref()
            .and_then(|x| serde_json::from_str(x).ok())
            .unwrap_or_default();
        let kind = kind_from(self.kind);
        let mut out: Vec<Event> = elems
            .into_iter()
            .map(|el| {
                let mut e = Event::new(from_ms(el.ts), kind, self.job.as_deref());
                e.ok = self.ok;
                e.message = el.message;
                e.channel = self.channel.clone();
                e.duration_ms = el.duration_ms;
                e
            })
            .collect();
        if let [only] = out.as_mut_slice() {
            extra.apply(only);
        }
        out
    }
}

fn matches(q: &Query, e: &Event) -> bool {
    if q.failures_only && e.ok != Some(false) {
        return false;
    }
    if q.since.is_some_and(|s| e.ts < s) || q.until.is_some_and(|u| e.ts > u) {
        return false;
    }
    match &q.job {
        Some(j) => e.job.as_deref() == Some(j.as_str()),
        None => true,
    }
}

fn job_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM jobs WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

/// Keeps the newest `limit` events offered: a heap of their keys (time, row, index).
struct Newest {
    limit: usize,
    kept: BinaryHeap<Reverse<(i64, i64, usize)>>,
    found: HashMap<(i64, usize), Event>,
}

impl Newest {
    fn offer(&mut self, q: &Query, row: &Row) {
        for (i, e) in row.events().into_iter().enumerate() {
            if !matches(q, &e) {
                continue;
            }
            let key = (ms(e.ts), row.id, i);
            if self.kept.len() < self.limit {
                self.kept.push(Reverse(key));
                self.found.insert((row.id, i), e);
            } else if let Some(Reverse(low)) = self.kept.peek().copied() {
                if key > low {
                    self.kept.pop();
                    self.found.remove(&(low.1, low.2));
                    self.kept.push(Reverse(key));
                    self.found.insert((row.id, i), e);
                }
            }
        }
    }

    /// The oldest time kept, once the limit is reached.
    fn floor(&self) -> Option<i64> {
        if self.kept.len() < self.limit {
            return None;
        }
        self.kept.peek().map(|Reverse(k)| k.0)
    }

    fn into_events(mut self) -> Vec<Event> {
        let mut keys: Vec<(i64, i64, usize)> = self.kept.into_iter().map(|Reverse(k)| k).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.into_iter()
            .filter_map(|(_, id, i)| self.found.remove(&(id, i)))
            .collect()
    }
}

/// Reads matching events, newest first, up to the limit: the open runs, then stored rows
/// newest first, stopping once no further row can hold an event newer than those kept (a
/// run never outlasts the hour it began in).
fn read(conn: &Connection, q: &Query) -> rusqlite::Result<Vec<Event>> {
    let mut conds: Vec<String> = Vec::new();
    let mut open_conds: Vec<String> = Vec::new();
    let mut args: Vec<i64> = Vec::new();
    if let Some(j) = &q.job {
        match job_id(conn, j)? {
            Some(id) => {
                args.push(id);
                conds.push(format!("e.job_id = ?{}", args.len()));
                open_conds.push(format!("o.job_id = {id}"));
            }
            None => return Ok(Vec::new()),
        }
    }
    if q.failures_only {
        conds.push("e.ok = 0".into());
        open_conds.push("o.ok = 0".into());
    }
    if let Some(s) = q.since {
        args.push(ms(s).div_euclid(HOUR_MS).saturating_mul(HOUR_MS));
        conds.push(format!("e.ts >= ?{}", args.len()));
    }
    if let Some(u) = q.until {
        args.push(ms(u));
        conds.push(format!("e.ts <= ?{}", args.len()));
    }
    let mut newest = Newest {
        limit: q.limit.unwrap_or(usize::MAX),
        kept: BinaryHeap::new(),
        found: HashMap::new(),
    };
    if newest.limit == 0 {
        return Ok(Vec::new());
    }
    let where_ = |c: &[String]| {
        if c.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", c.join(" AND "))
        }
    };
    // Open runs newest first (ties: higher row id first, as the keys order them), so
    // that once the limit is reached the rest cannot hold anything newer.
    let mut st = conn.prepare_cached(&format!(
        "{SELECT_OPEN}{} ORDER BY o.last_ts DESC, o.job_id ASC",
        where_(&open_conds)
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let row = Row::read(r)?;
        if let Some(Reverse(low)) = newest.kept.peek() {
            if newest.kept.len() >= newest.limit && (row.last_ts, row.id, usize::MAX) <= *low {
                break;
            }
        }
        newest.offer(q, &row);
    }
    let sql = format!("{SELECT}{} ORDER BY e.ts DESC, e.id DESC", where_(&conds));
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let row = Row::read(r)?;
        if let Some(floor) = newest.floor() {
            if hour_end(row.ts) <= floor {
                break;
            }
            if row.last_ts < floor {
                // Nothing in it is new enough: not worth decoding.
                continue;
            }
        }
        newest.offer(q, &row);
    }
    Ok(newest.into_events())
}

/// Where `history --follow` is.
pub struct Follow {
    q: Query,
    /// The newest stored row already seen.
    max_id: i64,
    /// Open runs, by (job, first time, kind, outcome): how many of their results are out.
    seen: HashMap<RunKey, i64>,
}

type RunKey = (i64, i64, i64, Option<bool>);

fn open_runs_seen(conn: &Connection) -> rusqlite::Result<HashMap<RunKey, i64>> {
    conn.prepare_cached("SELECT job_id, ts, kind, ok, n FROM open_runs")?
        .query_map([], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?))
        })?
        .collect()
}

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
    /// Events matching `q`, newest first.
    pub fn read(&self, q: &Query) -> Result<Vec<Event>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            read(&tx, q).map_err(|e| h.err(e))
        })
    }

    /// Starts following: the last events as `read` gives them, and a position from which
    /// `poll` gives every event recorded afterwards, each exactly once.
    pub fn follow(&self, q: &Query) -> Result<(Vec<Event>, Follow), HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            let go = || -> rusqlite::Result<(Vec<Event>, Follow)> {
                let max_id: i64 =
                    tx.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
                let seen = open_runs_seen(&tx)?;
                let first = read(&tx, q)?;
                Ok((
                    first,
                    Follow {
                        q: Query {
                            limit: None,
                            ..q.clone()
                        },
                        max_id,
                        seen,
                    },
                ))
            };
            go().map_err(|e| h.err(e))
        })
    }

    /// Events recorded since the last call: new stored rows (singles, and runs that
    /// closed, minus what was printed of them while open), then what open runs grew by.
    pub fn poll(&self, f: &mut Follow) -> Result<Vec<Event>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            let mut go = || -> rusqlite::Result<Vec<Event>> {
                let mut out = Vec::new();
                let mut st = tx.prepare_cached(
                    "SELECT e.id, e.ts, e.last_ts, e.n, j.name, e.kind, e.ok, e.message, e.channel,
                     e.duration_ms, e.extra, e.elems, e.job_id FROM events e
                     LEFT JOIN jobs j ON j.id = e.job_id WHERE e.id > ?1 ORDER BY e.id",
                )?;
                let mut rows = st.query([f.max_id])?;
                while let Some(r) = rows.next()? {
                    let row = Row::read(r)?;
                    f.max_id = f.max_id.max(row.id);
                    let job: Option<i64> = r.get(12)?;
                    // Only a run that was open can have been printed in part.
                    let done = job
                        .filter(|_| row.elems.is_some())
                        .and_then(|j| f.seen.remove(&(j, row.ts, row.kind, row.ok)))
                        .unwrap_or(0)
                        .max(0) as usize;
                    out.extend(
                        row.events()
                            .into_iter()
                            .skip(done)
                            .filter(|e| matches(&f.q, e)),
                    );
                }
                let mut st = tx.prepare_cached(SELECT_OPEN)?;
                let mut rows = st.query([])?;
                let mut seen = HashMap::new();
                while let Some(r) = rows.next()? {
                    let row = Row::read(r)?;
                    let job: i64 = r.get(12)?;
                    let key = (job, row.ts, row.kind, row.ok);
                    let done = f.seen.get(&key).copied().unwrap_or(0).max(0);
                    if row.n > done {
                        out.extend(
                            row.events()
                                .into_iter()
                                .skip(done as usize)
                                .filter(|e| matches(&f.q, e)),
                        );
                    }
                    seen.insert(key, row.n);
                }
                f.seen = seen;
                Ok(out)
            };
            go().map_err(|e| h.err(e))
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Access, EventKind};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn following_gives_every_recorded_result_exactly_once(
            steps in proptest::collection::vec((0i64..3, any::<bool>(), 0u8..3, any::<bool>()), 1..60),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let h = History::new(&dir.path().join("h.db"), &dir.path().join("none"),
                std::time::Duration::from_secs(5), Access::Writer);
            let mut e0 = Event::new(DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(), EventKind::Report, Some("m"));
            e0.ok = Some(true);
            h.append(&[e0]).unwrap();
            let (_, mut f) = h.follow(&Query::default()).unwrap();
            let mut seen = Vec::new();
            let mut t = 1_700_000_000_000i64;
            for (i, (step, ok, back, poll)) in steps.iter().enumerate() {
                // Times mostly forward, sometimes equal, sometimes a little back.
                t += step * 1000;
                let ts = t - i64::from(*back) * 700;
                let mut e = Event::new(DateTime::from_timestamp_millis(ts).unwrap(), EventKind::Report, Some("j"));
                e.ok = Some(*ok);
                e.message = Some(format!("r{i}"));
                h.append(&[e]).unwrap();
                if *poll {
                    seen.extend(h.poll(&mut f).unwrap().into_iter().filter_map(|e| e.message));
                }
            }
            seen.extend(h.poll(&mut f).unwrap().into_iter().filter_map(|e| e.message));
            seen.sort();
            let mut want: Vec<String> = (0..steps.len()).map(|i| format!("r{i}")).collect();
            want.sort();
            prop_assert_eq!(seen, want);
        }
    }
    /// Eight writers with clashing and out-of-order times, and a follower polling as fast
    /// as it can: every result once (a single event with the same time as an open run was
    /// once taken for that run).
    #[test]
    fn following_while_eight_writers_record_gives_each_result_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let none = dir.path().join("none");
        let h = History::new(
            &path,
            &none,
            std::time::Duration::from_secs(30),
            Access::Reader,
        );
        let w = History::new(
            &path,
            &none,
            std::time::Duration::from_secs(30),
            Access::Writer,
        );
        let mut e0 = Event::new(chrono::Utc::now(), EventKind::Report, Some("m"));
        e0.ok = Some(true);
        w.append(&[e0]).unwrap();
        let (_, mut f) = h.follow(&Query::default()).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|k| {
                let path = path.clone();
                let none = none.clone();
                std::thread::spawn(move || {
                    let w = History::new(
                        &path,
                        &none,
                        std::time::Duration::from_secs(30),
                        Access::Writer,
                    );
                    for i in 0..200 {
                        let mut e = Event::new(
                            chrono::Utc::now() - chrono::Duration::milliseconds((i * 7 % 5) as i64),
                            EventKind::Report,
                            Some("j"),
                        );
                        e.ok = Some((i + k) % 5 != 0);
                        e.message = Some(format!("r{k}-{i}"));
                        w.append(&[e]).unwrap();
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        while !threads.iter().all(|t| t.is_finished()) {
            seen.extend(
                h.poll(&mut f)
                    .unwrap()
                    .into_iter()
                    .filter_map(|e| e.message),
            );
        }
        for t in threads {
            t.join().unwrap();
        }
        seen.extend(
            h.poll(&mut f)
                .unwrap()
                .into_iter()
                .filter_map(|e| e.message),
        );
        let mut all: Vec<String> = h
            .read(&Query {
                job: Some("j".into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .filter_map(|e| e.message)
            .collect();
        let an = all.len();
        all.sort();
        all.dedup();
        assert_eq!((an, all.len()), (1600, 1600), "database");
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!((n, seen.len()), (1600, 1600));
    }
}
