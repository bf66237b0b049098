//! The event log: JSON Lines, one file per UTC day (`YYYY-MM-DD.jsonl`), appended under
//! the state lock, read newest first, pruned by deleting whole days.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::check::PerfDatum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A check's result.
    Result,
    /// A failure notification delivered (ok) or attempted (not ok).
    Notify,
    /// A recovery notification delivered or attempted.
    Recover,
    /// A result pushed by `report` or `wrap`.
    Report,
    /// Something went wrong in checker itself (state, delivery given up, deadline).
    Error,
    /// A queued failure alert dropped unsent because the job recovered before it could be
    /// delivered (the recovery goes out instead).
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub ts: DateTime<Utc>,
    pub job: Option<String>,
    pub event: EventKind,
    pub ok: Option<bool>,
    pub message: Option<String>,
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Which attempt of a retried check this result is (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `false` on an attempt that was retried: not the run's verdict, so not counted as
    /// a result. Absent (or `true`) on every result that is one.
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perfdata: Vec<PerfDatum>,
}

impl Event {
    /// Whether this event is a retried attempt rather than a result that counts.
    pub fn is_retried_attempt(&self) -> bool {
        self.is_final == Some(false)
    }

    pub fn new(ts: DateTime<Utc>, event: EventKind, job: Option<&str>) -> Self {
        Event {
            ts,
            job: job.map(str::to_string),
            event,
            ok: None,
            message: None,
            channel: None,
            duration_ms: None,
            attempts: None,
            attempt: None,
            is_final: None,
            count: None,
            perfdata: Vec::new(),
        }
    }

    pub fn error(ts: DateTime<Utc>, job: Option<&str>, message: impl Into<String>) -> Self {
        let mut e = Event::new(ts, EventKind::Error, job);
        e.ok = Some(false);
        e.message = Some(message.into());
        e
    }
}

/// Filters for reading.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub job: Option<String>,
    pub failures_only: bool,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<usize>,
}

impl Query {
    fn matches(&self, e: &Event) -> bool {
        if let Some(j) = &self.job {
            if e.job.as_deref() != Some(j.as_str()) {
                return false;
            }
        }
        if self.failures_only && e.ok != Some(false) {
            return false;
        }
        if let Some(since) = self.since {
            if e.ts < since {
                return false;
            }
        }
        true
    }
}

#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(dir: &Path) -> Self {
        History {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_for(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(format!("{}.jsonl", day.format("%Y-%m-%d")))
    }

    /// Appends events, one write per day file. Callers hold the state lock, so lines
    /// from concurrent processes never interleave within a batch.
    pub fn append(&self, events: &[Event]) -> std::io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut i = 0;
        while i < events.len() {
            let day = events[i].ts.date_naive();
            let mut buf = Vec::new();
            while i < events.len() && events[i].ts.date_naive() == day {
                serde_json::to_writer(&mut buf, &events[i]).map_err(std::io::Error::other)?;
                buf.push(b'\n');
                i += 1;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(self.file_for(day))?;
            // A crash mid-write can leave a last line without its newline; start on a
            // fresh line so only the torn event is lost, not this batch's first one.
            if ends_without_newline(&mut f)? {
                buf.insert(0, b'\n');
            }
            f.write_all(&buf)?;
        }
        Ok(())
    }

    /// The day files present, oldest first.
    pub fn days(&self) -> std::io::Result<Vec<(NaiveDate, PathBuf)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut days: Vec<(NaiveDate, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                let day =
                    NaiveDate::parse_from_str(name.strip_suffix(".jsonl")?, "%Y-%m-%d").ok()?;
                Some((day, e.path()))
            })
            .collect();
        days.sort();
        Ok(days)
    }

    /// Events matching `q`, newest first. Reads only the day files `q.since` needs and
    /// stops as soon as `q.limit` events are found. Lines that do not parse (a torn
    /// write from a crash) are skipped and counted in the second value.
    pub fn read(&self, q: &Query) -> std::io::Result<(Vec<Event>, usize)> {
        let mut out = Vec::new();
        let mut bad = 0;
        let since_day = q.since.map(|s| s.date_naive());
        for (day, path) in self.days()?.into_iter().rev() {
            if since_day.is_some_and(|s| day < s) {
                break;
            }
            let f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut day_events = Vec::new();
            for line in BufReader::new(f).lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Event>(&line) {
                    Ok(e) if q.matches(&e) => day_events.push(e),
                    Ok(_) => {}
                    Err(_) => bad += 1,
                }
            }
            // Within a day lines are in append order; a stable sort keeps ties in it.
            day_events.sort_by_key(|e| e.ts);
            for e in day_events.into_iter().rev() {
                out.push(e);
                if q.limit.is_some_and(|l| out.len() >= l) {
                    return Ok((out, bad));
                }
            }
        }
        Ok((out, bad))
    }

    /// Drops events older than `cutoff`: whole day files before its day are deleted, and
    /// the file of its own day is rewritten without the older lines (atomically).
    /// Returns (files deleted, events dropped from the boundary file).
    pub fn prune(&self, cutoff: DateTime<Utc>) -> std::io::Result<(usize, usize)> {
        let cut_day = cutoff.date_naive();
        let mut files = 0;
        let mut dropped = 0;
        for (day, path) in self.days()? {
            if day < cut_day {
                match std::fs::remove_file(&path) {
                    Ok(()) => files += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            } else if day == cut_day {
                let text = std::fs::read_to_string(&path)?;
                let mut kept = String::with_capacity(text.len());
                for line in text.lines() {
                    let old = serde_json::from_str::<Event>(line)
                        .map(|e| e.ts < cutoff)
                        .unwrap_or(false);
                    if old {
                        dropped += 1;
                    } else if !line.trim().is_empty() {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
                if dropped > 0 {
                    let tmp = path.with_extension("jsonl.tmp");
                    std::fs::write(&tmp, kept)?;
                    std::fs::rename(&tmp, &path)?;
                }
            }
        }
        Ok((files, dropped))
    }

    /// Retention as applied on ticks: delete day files entirely older than `days` days.
    /// Cheap (one directory listing), so it runs every tick.
    pub fn apply_retention(&self, now: DateTime<Utc>, days: u32) -> std::io::Result<usize> {
        let oldest_kept = (now - chrono::Duration::days(i64::from(days))).date_naive();
        let mut removed = 0;
        for (day, path) in self.days()? {
            if day < oldest_kept {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}

fn ends_without_newline(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ev(ts: DateTime<Utc>, job: &str, ok: bool) -> Event {
        let mut e = Event::new(ts, EventKind::Result, Some(job));
        e.ok = Some(ok);
        e
    }

    #[test]
    fn reads_newest_first_across_days_with_filters_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 0).unwrap();
        let events: Vec<Event> = (0..6)
            .map(|i| {
                ev(
                    t0 + chrono::Duration::minutes(i),
                    if i % 2 == 0 { "a" } else { "b" },
                    i != 3,
                )
            })
            .collect();
        h.append(&events).unwrap();
        assert_eq!(h.days().unwrap().len(), 2);
        let (all, bad) = h.read(&Query::default()).unwrap();
        assert_eq!(bad, 0);
        assert_eq!(all.len(), 6);
        assert!(all.windows(2).all(|w| w[0].ts >= w[1].ts));
        let (b, _) = h
            .read(&Query {
                job: Some("b".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(b.len(), 3);
        let (f, _) = h
            .read(&Query {
                failures_only: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(f.len(), 1);
        let (l, _) = h
            .read(&Query {
                limit: Some(2),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            l.iter().map(|e| e.ts).collect::<Vec<_>>(),
            vec![events[5].ts, events[4].ts]
        );
    }

    #[test]
    fn prune_deletes_old_days_and_trims_the_boundary_day() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let events: Vec<Event> = (0..4)
            .map(|d| ev(t0 + chrono::Duration::days(d), "a", true))
            .collect();
        h.append(&events).unwrap();
        let (files, dropped) = h
            .prune(t0 + chrono::Duration::days(2) + chrono::Duration::hours(1))
            .unwrap();
        assert_eq!((files, dropped), (2, 1));
        let (left, _) = h.read(&Query::default()).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].ts, events[3].ts);
    }

    #[test]
    fn retention_keeps_the_configured_days() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        let events: Vec<Event> = (0..40)
            .rev()
            .map(|d| ev(now - chrono::Duration::days(d), "a", true))
            .collect();
        h.append(&events).unwrap();
        assert_eq!(h.apply_retention(now, 30).unwrap(), 9);
        assert_eq!(h.days().unwrap().len(), 31);
    }

    #[test]
    fn a_torn_line_is_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        h.append(&[ev(t0, "a", true)]).unwrap();
        let path = h.days().unwrap()[0].1.clone();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"ts\": \"2026-03-01T12:00:01Z\", \"jo")
            .unwrap();
        h.append(&[ev(t0 + chrono::Duration::seconds(2), "a", true)])
            .unwrap();
        let (events, bad) = h.read(&Query::default()).unwrap();
        assert_eq!((events.len(), bad), (2, 1));
    }
}
