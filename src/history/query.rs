//! Reading the history: events newest first (each result of a run given back as its own
//! event) and new events as they are recorded (`--follow`). Figures from the rollups are
//! in `figures`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use rusqlite::{Connection, OptionalExtension};

use super::codec::{self, Elem};
use super::record::{from_ms, kind_from, ms};
use super::rollup::HOUR_MS;
use super::{Event, Extra, History, HistoryError, Query};

const SELECT: &str =
    "SELECT e.id, e.ts, e.last_ts, e.n, j.name, e.kind, e.ok, e.message, e.channel,
    e.duration_ms, e.extra, e.elems FROM events e LEFT JOIN jobs j ON j.id = e.job_id";

/// Open runs in the shape of `SELECT` (and the job id); their id sorts them after every
/// stored row.
pub(super) const SELECT_OPEN: &str =
    "SELECT 9223372036854775807 - o.job_id, o.ts, o.last_ts, o.n, j.name, o.kind, o.ok,
    o.message, NULL, o.duration_ms, NULL, o.elems, o.job_id FROM open_runs o
    JOIN jobs j ON j.id = o.job_id";

pub(super) fn hour_end(ts: i64) -> i64 {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Access, EventKind};
    use chrono::DateTime;
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
