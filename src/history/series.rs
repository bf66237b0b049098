//! Per-job series from the rollups, for the status page: results per UTC day (bars and
//! the 7/30/90-day figures) and per hour over the last 24 hours (the 24-hour figure and
//! the response-time sparkline), and the last failure message of chosen days. One read of
//! each rollup table, whatever the number of jobs; nothing decoded from the events but the
//! few rows `failure_notes` asks for.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::record::{from_ms, ms};
use super::rollup::{figure, folded_through, DAY_MS, HOUR_MS};
use super::{History, HistoryError};

/// A day's results of a job (or of several, summed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DayFigures {
    pub attempts: u64,
    pub successes: u64,
    /// Failure streaks begun.
    pub incidents: u64,
    /// Time spent failing, in milliseconds.
    pub down_ms: u64,
}

impl DayFigures {
    pub fn add(&mut self, o: &DayFigures) {
        self.attempts = self.attempts.saturating_add(o.attempts);
        self.successes = self.successes.saturating_add(o.successes);
        self.incidents = self.incidents.saturating_add(o.incidents);
        self.down_ms = self.down_ms.saturating_add(o.down_ms);
    }

    pub fn failures(&self) -> u64 {
        self.attempts.saturating_sub(self.successes)
    }

    /// Successful results in per cent of all; `None` without results.
    pub fn percent(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.successes as f64 * 100.0 / self.attempts as f64)
    }
}

/// An hour's results of a job: for the 24-hour figure and the response-time sparkline.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HourFigures {
    pub attempts: u64,
    pub successes: u64,
    /// Results with a response time, and their sum in milliseconds.
    pub rt_n: u64,
    pub rt_sum: u64,
}

impl HourFigures {
    pub fn mean_ms(&self) -> Option<f64> {
        (self.rt_n > 0).then(|| self.rt_sum as f64 / self.rt_n as f64)
    }
}

/// Per job: its figures for each of the series' days and hours.
#[derive(Debug, Default, Clone)]
pub struct JobSeries {
    /// One per day from `Series::first_day`, oldest first.
    pub days: Vec<DayFigures>,
    /// One per hour from `Series::first_hour`, oldest first: the 24 ending with the
    /// current one.
    pub hours: Vec<HourFigures>,
}

/// Figures per job (by name) for `days` UTC days ending today and the 24 hours ending
/// with the current one. Days and hours are numbers since the epoch (UTC).
#[derive(Debug, Default, Clone)]
pub struct Series {
    pub first_day: i64,
    pub first_hour: i64,
    pub jobs: HashMap<String, JobSeries>,
}

impl Series {
    /// A job's figures on day `d` (zero outside the series or without results).
    pub fn day(&self, job: &str, d: i64) -> DayFigures {
        self.jobs
            .get(job)
            .and_then(|s| {
                usize::try_from(d - self.first_day)
                    .ok()
                    .and_then(|i| s.days.get(i))
            })
            .copied()
            .unwrap_or_default()
    }
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
    pub fn series(&self, days: u32, now: DateTime<Utc>) -> Result<Series, HistoryError> {
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

fn series(conn: &Connection, days: u32, now: i64) -> rusqlite::Result<Series> {
    let now_hour = now.div_euclid(HOUR_MS);
    let today = now.div_euclid(DAY_MS);
    let ndays = i64::from(days.max(1));
    let first_day = today - ndays + 1;
    let first_hour = now_hour - 23;
    let names: HashMap<i64, String> = conn
        .prepare_cached("SELECT id, name FROM jobs")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut by_id: HashMap<i64, JobSeries> = HashMap::with_capacity(names.len());
    let new = || JobSeries {
        days: vec![DayFigures::default(); ndays as usize],
        hours: vec![HourFigures::default(); 24],
    };
    let mut st = conn.prepare_cached(
        "SELECT day, job_id, attempts, successes, incidents, down_ms FROM rollup_day
         WHERE day BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query([first_day, today])?;
    while let Some(r) = rows.next()? {
        let day: i64 = r.get(0)?;
        let s = by_id.entry(r.get(1)?).or_insert_with(new);
        if let Some(d) = s.days.get_mut((day - first_day) as usize) {
            d.add(&DayFigures {
                attempts: figure(r.get_ref(2)?),
                successes: figure(r.get_ref(3)?),
                incidents: figure(r.get_ref(4)?),
                down_ms: figure(r.get_ref(5)?),
            });
        }
    }
    // Hours not folded into their day yet count towards it from the hourly rollups; the
    // last 24 hours are read from there in any case.
    let folded = folded_through(conn)?.unwrap_or(i64::MIN);
    let first_unfolded = folded.saturating_add(1).max(first_day * 24);
    let lo = first_unfolded.min(first_hour);
    let mut st = conn.prepare_cached(
        "SELECT hour, job_id, attempts, successes, incidents, down_ms, rt_n, rt_sum
         FROM rollup_hour WHERE hour BETWEEN ?1 AND ?2",
    )?;
    let mut rows = st.query([lo, now_hour])?;
    while let Some(r) = rows.next()? {
        let hour: i64 = r.get(0)?;
        let s = by_id.entry(r.get(1)?).or_insert_with(new);
        let (attempts, successes) = (figure(r.get_ref(2)?), figure(r.get_ref(3)?));
        if hour >= first_unfolded {
            if let Some(d) = s.days.get_mut((hour.div_euclid(24) - first_day) as usize) {
                d.add(&DayFigures {
                    attempts,
                    successes,
                    incidents: figure(r.get_ref(4)?),
                    down_ms: figure(r.get_ref(5)?),
                });
            }
        }
        if hour >= first_hour {
            if let Some(h) = s.hours.get_mut((hour - first_hour) as usize) {
                *h = HourFigures {
                    attempts,
                    successes,
                    rt_n: figure(r.get_ref(6)?),
                    rt_sum: figure(r.get_ref(7)?),
                };
            }
        }
    }
    Ok(Series {
        first_day,
        first_hour,
        jobs: by_id
            .into_iter()
            .filter_map(|(id, s)| names.get(&id).map(|n| (n.clone(), s)))
            .collect(),
    })
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
        let id: Option<i64> =
            id_of
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
            let down =
                t >= day0 + chrono::Duration::hours(34) && t < day0 + chrono::Duration::hours(35);
            h.append(&[
                result(t, "web", !down, 40, if down { "HTTP 503" } else { "200" }),
                result(t, "db", true, 5, "ok"),
            ])
            .unwrap();
            t += chrono::Duration::minutes(30);
        }
        let now = end + chrono::Duration::minutes(10);
        let s = h.series(90, now).unwrap();
        let d0 = day0.timestamp().div_euclid(86_400);
        let day = |d: i64| s.day("web", d);
        assert_eq!(
            s.jobs["web"].days.iter().filter(|d| d.attempts > 0).count(),
            3
        );
        assert_eq!((day(d0).attempts, day(d0).successes), (48, 48));
        assert_eq!(
            day(d0 + 1),
            DayFigures {
                attempts: 48,
                successes: 46,
                incidents: 1,
                down_ms: 3_600_000
            }
        );
        assert_eq!(day(d0 + 3), DayFigures::default(), "after the series");
        assert_eq!(s.day("nobody", d0), DayFigures::default());
        let hours = &s.jobs["web"].hours;
        assert_eq!(hours.len(), 24);
        assert!(
            hours.iter().all(|a| a.rt_n == 2 && a.rt_sum == 80),
            "{hours:?}"
        );
        assert_eq!(hours[23].mean_ms(), Some(40.0));
        assert_eq!(s.day("db", d0 + 2).attempts, 48);
        // Two days only: the first is left out.
        let two = h.series(2, now).unwrap();
        assert_eq!(two.jobs["web"].days.len(), 2);
        assert_eq!(two.day("web", d0), DayFigures::default());

        let notes = h
            .failure_notes(&[
                ("web".into(), d0 + 1),
                ("web".into(), d0),
                ("nobody".into(), d0),
            ])
            .unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        let n = &notes[&("web".to_string(), d0 + 1)];
        assert_eq!(
            n.at,
            day0 + chrono::Duration::hours(34) + chrono::Duration::minutes(30)
        );
        assert_eq!(n.message.as_deref(), Some("HTTP 503"));
    }
}
