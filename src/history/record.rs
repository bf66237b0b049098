//! Recording events: each event (or a run of routine results) as rows, the open runs,
//! the jobs table, and the hourly rollups written in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::codec::{self, Elem};
use super::rollup::HOUR_MS;
use super::rollup_write::Pending;
use super::{Event, EventKind, Extra};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn kind_code(k: EventKind) -> i64 {
    match k {
        EventKind::Result => 0,
        EventKind::Notify => 1,
        EventKind::Recover => 2,
        EventKind::Report => 3,
        EventKind::Error => 4,
        EventKind::Superseded => 5,
        EventKind::Suppressed => 6,
        EventKind::Silence => 7,
        EventKind::Ack => 8,
        // Codes are stored and never reused; 6 to 8 are taken by #14 (silences) on its
        // branch.
        EventKind::Confirmation => 9,
    }
}

pub(crate) fn kind_from(code: i64) -> EventKind {
    match code {
        0 => EventKind::Result,
        1 => EventKind::Notify,
        2 => EventKind::Recover,
        3 => EventKind::Report,
        5 => EventKind::Superseded,
        6 => EventKind::Suppressed,
        7 => EventKind::Silence,
        8 => EventKind::Ack,
        9 => EventKind::Confirmation,
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
    // A tick's hot statement, prepared once for the batch.
    let mut extend = tx.prepare_cached(
        "UPDATE open_runs SET last_ts = ?1, n = ?2, elems = ?3, last_message = ?4,
         last_step = ?5 WHERE job_id = ?6",
    )?;
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
                extend.execute(params![
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
    drop(extend);
    rollups.flush(tx, ms(Utc::now()))
}
