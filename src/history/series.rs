//! Per-job series from the rollups, for the status page: results per UTC day (bars and
//! the 7/30/90-day figures) and per hour over the last 24 hours (the 24-hour figure and
//! the response-time sparkline), and the last failure message of chosen days. One read of
//! each rollup table, whatever the number of jobs; nothing decoded from the events but the
//! few rows `failure_notes` asks for.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::record::{from_ms, ms};
use super::rollup::{figure, folded_through, Acc, DAY_MS, HOUR_MS};
use super::{History, HistoryError};

/// A job's figures per day and per hour. Days and hours are numbers since the epoch
/// (UTC); only those with rollups are present.
#[derive(Debug, Default, Clone)]
pub struct JobSeries {
    /// Attempts, successes, incidents and downtime per day.
    pub days: BTreeMap<i64, Acc>,
    /// Attempts, successes and response times per hour, over the last 24 hours.
    pub hours: BTreeMap<i64, Acc>,
}

/// The last failing result of a job on a day: when, and what it said.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureNote {
    pub at: DateTime<Utc>,
    pub message: Option<String>,
}

impl History {
    /// Per job (by name): `days` UTC days ending today, and the 24 hours ending with the
    /// current one.
    pub fn series(
        &self,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, JobSeries>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            series(&tx, days, ms(now)).map_err(|e| h.err(e))
        })
    }

    /// For each (job, day): its last failing result that day, where the events still hold
    /// one (retention may have pruned them; the rollups stay longer).
    pub fn failure_notes(
        &self,
        wanted: &[(String, i64)],
    ) -> Result<HashMap<(String, i64), FailureNote>, HistoryError> {
        self.with_conn(|h, conn| {
            let tx = conn.transaction().map_err(|e| h.err(e))?;
            failure_notes(&tx, wanted).map_err(|e| h.err(e))
        })
    }
}

fn series(conn: &Connection, days: u32, now: i64) -> rusqlite::Result<HashMap<String, JobSeries>> {
    let now_hour = now.div_euclid(HOUR_MS);
    let today = now.div_euclid(DAY_MS);
    let from_day = today - i64::from(days.max(1)) + 1;
    let first_spark_hour = now_hour - 23;
    let names: HashMap<i64, String> = conn
        .prepare_cached("SELECT id, name FROM jobs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut by_id: HashMap<i64, JobSeries> = HashMap::new();

    let mut st = conn.prepare_cached(
        "SELECT day, job_id, attempts, successes, incidents, down_ms FROM rollup_day
         WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query([from_day, today])?;
    while let Some(r) = rows.next()? {
        let a = by_id
            .entry(r.get(1)?)
            .or_default()
            .days
            .entry(r.get(0)?)
            .or_default();
        a.attempts = figure(r.get_ref(2)?);
        a.successes = figure(r.get_ref(3)?);
        a.incidents = figure(r.get_ref(4)?);
        a.down_ms = figure(r.get_ref(5)?);
    }
    // Hours not folded into their day yet count towards it from the hourly rollups; the
    // last 24 hours are read from there in any case.
    let folded = folded_through(conn)?.unwrap_or(i64::MIN);
    let first_unfolded = folded.saturating_add(1).max(from_day * 24);
    let lo = first_unfolded.min(first_spark_hour);
    let mut st = conn.prepare_cached(
        "SELECT hour, job_id, attempts, successes, incidents, down_ms, rt_n, rt_sum, rt_max
         FROM rollup_hour WHERE hour BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query([lo, now_hour])?;
    while let Some(r) = rows.next()? {
        let hour: i64 = r.get(0)?;
        let mut a = Acc {
            attempts: figure(r.get_ref(2)?),
            successes: figure(r.get_ref(3)?),
            incidents: figure(r.get_ref(4)?),
            down_ms: figure(r.get_ref(5)?),
            rt_n: figure(r.get_ref(6)?),
            rt_sum: figure(r.get_ref(7)?),
            ..Acc::default()
        };
        if let rusqlite::types::ValueRef::Integer(_) = r.get_ref(8)? {
            a.rt_max = Some(figure(r.get_ref(8)?));
        }
        let s = by_id.entry(r.get(1)?).or_default();
        if hour >= first_unfolded {
            s.days.entry(hour.div_euclid(24)).or_default().add(&a);
        }
        if hour >= first_spark_hour {
            s.hours.insert(hour, a);
        }
    }
    Ok(by_id
        .into_iter()
        .filter_map(|(id, s)| names.get(&id).map(|n| (n.clone(), s)))
        .collect())
}

fn failure_notes(
    conn: &Connection,
    wanted: &[(String, i64)],
) -> rusqlite::Result<HashMap<(String, i64), FailureNote>> {
    let mut out = HashMap::new();
    let mut id_of = conn.prepare_cached("SELECT id FROM jobs WHERE name = ?1")?;
    // A run's message is its first result's; a failing run is one outcome throughout.
    let mut stored = conn.prepare_cached(
        "SELECT last_ts, message FROM events WHERE job_id = ?1 AND ts >= ?2 AND ts < ?3
         AND kind IN (0, 3) AND ok = 0 ORDER BY ts DESC LIMIT 1",
    )?;
    let mut open = conn.prepare_cached(
        "SELECT last_ts, COALESCE(last_message, message) FROM open_runs
         WHERE job_id = ?1 AND last_ts >= ?2 AND last_ts < ?3 AND kind IN (0, 3) AND ok = 0",
    )?;
    for (job, day) in wanted {
        let id: Option<i64> = id_of
            .query_row([job], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let Some(id) = id else { continue };
        let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
        let mut best: Option<(i64, Option<String>)> = None;
        for st in [&mut open, &mut stored] {
            let mut rows = st.query(rusqlite::params![id, from, to])?;
            if let Some(r) = rows.next()? {
                let at: i64 = r.get(0)?;
                if best.as_ref().is_none_or(|(b, _)| at > *b) {
                    best = Some((at, r.get(1)?));
                }
            }
        }
        if let Some((at, message)) = best {
            out.insert(
                (job.clone(), *day),
                FailureNote {
                    at: from_ms(at),
                    message,
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Access, Event, EventKind};
    use chrono::TimeZone;

    fn result(ts: DateTime<Utc>, job: &str, ok: bool, ms: u64, msg: &str) -> Event {
        let mut e = Event::new(ts, EventKind::Result, Some(job));
        e.ok = Some(ok);
        e.duration_ms = Some(ms);
        e.message = Some(msg.into());
        e
    }

    #[test]
    fn days_and_hours_add_up_the_results_and_the_last_failure_of_a_day_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(
            &dir.path().join("h.db"),
            &dir.path().join("none"),
            std::time::Duration::from_secs(5),
            Access::Writer,
        );
        let day0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        // Three days, a result every 30 minutes, "web" failing from 10:00 to 11:00 on day 1.
        let mut t = day0;
        let end = day0 + chrono::Duration::days(3) - chrono::Duration::minutes(30);
        while t <= end {
            let down = t >= day0 + chrono::Duration::hours(34)
                && t < day0 + chrono::Duration::hours(35);
            h.append(&[
                result(t, "web", !down, 40, if down { "HTTP 503" } else { "200" }),
                result(t, "db", true, 5, "ok"),
            ])
            .unwrap();
            t += chrono::Duration::minutes(30);
        }
        let now = end + chrono::Duration::minutes(10);
        let s = h.series(90, now).unwrap();
        let web = &s["web"];
        let d0 = day0.timestamp().div_euclid(86_400);
        assert_eq!(web.days.len(), 3, "{:?}", web.days.keys());
        assert_eq!(web.days[&d0].attempts, 48);
        assert_eq!(web.days[&d0].successes, 48);
        assert_eq!(web.days[&(d0 + 1)].attempts, 48);
        assert_eq!(web.days[&(d0 + 1)].successes, 46);
        assert_eq!(web.days[&(d0 + 1)].incidents, 1);
        assert_eq!(web.days[&(d0 + 1)].down_ms, 3_600_000);
        assert_eq!(web.hours.len(), 24);
        assert!(web.hours.values().all(|a| a.rt_n == 2 && a.rt_sum == 80));
        assert_eq!(s["db"].days[&(d0 + 2)].attempts, 48);
        // Two days only: the first is left out.
        assert_eq!(h.series(2, now).unwrap()["web"].days.len(), 2);

        let notes = h
            .failure_notes(&[
                ("web".into(), d0 + 1),
                ("web".into(), d0),
                ("nobody".into(), d0),
            ])
            .unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        let n = &notes[&("web".to_string(), d0 + 1)];
        assert_eq!(n.at, day0 + chrono::Duration::hours(34) + chrono::Duration::minutes(30));
        assert_eq!(n.message.as_deref(), Some("HTTP 503"));
    }
}
