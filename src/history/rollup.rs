//! Per-job rollups per hour and per day: attempts, successes, summed counts, response time
//! (count, sum, min, max and a fixed-bucket histogram for percentiles), incidents (failure
//! streaks begun) and downtime. Written in the transaction that records the results;
//! `status` and `uptime` read them, so their cost does not grow with the window.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

/// Upper bounds (milliseconds, inclusive) of the histogram's buckets; one more bucket
/// holds everything slower.
pub const BUCKETS_MS: [u64; 30] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000,
    3_000, 5_000, 7_000, 10_000, 15_000, 20_000, 30_000, 50_000, 70_000, 100_000,
];
pub const NBUCKETS: usize = BUCKETS_MS.len() + 1;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

fn bucket(ms: u64) -> usize {
    BUCKETS_MS.partition_point(|&b| b < ms)
}

/// One rollup's figures (an hour, a day, or a sum of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Acc {
    pub attempts: u64,
    pub successes: u64,
    pub count_sum: u64,
    pub rt_n: u64,
    pub rt_sum: u64,
    pub rt_min: Option<u64>,
    pub rt_max: Option<u64>,
    pub incidents: u64,
    pub down_ms: u64,
    pub hist: [u64; NBUCKETS],
}

impl Acc {
    pub fn failures(&self) -> u64 {
        self.attempts.saturating_sub(self.successes)
    }

    pub(crate) fn result(&mut self, ok: bool, count: Option<u64>, duration_ms: Option<u64>) {
        self.attempts += 1;
        if ok {
            self.successes += 1;
        }
        self.count_sum = self.count_sum.saturating_add(count.unwrap_or(0));
        if let Some(d) = duration_ms {
            self.rt_n += 1;
            self.rt_sum = self.rt_sum.saturating_add(d);
            self.rt_min = Some(self.rt_min.map_or(d, |m| m.min(d)));
            self.rt_max = Some(self.rt_max.map_or(d, |m| m.max(d)));
            self.hist[bucket(d)] += 1;
        }
    }

    /// Adds `o` in, every figure saturating (stored figures may be as large as `u64::MAX`).
    pub fn add(&mut self, o: &Acc) {
        self.attempts = self.attempts.saturating_add(o.attempts);
        self.successes = self.successes.saturating_add(o.successes);
        self.count_sum = self.count_sum.saturating_add(o.count_sum);
        self.rt_n = self.rt_n.saturating_add(o.rt_n);
        self.rt_sum = self.rt_sum.saturating_add(o.rt_sum);
        self.rt_min = match (self.rt_min, o.rt_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.rt_max = match (self.rt_max, o.rt_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.incidents = self.incidents.saturating_add(o.incidents);
        self.down_ms = self.down_ms.saturating_add(o.down_ms);
        for (a, b) in self.hist.iter_mut().zip(o.hist.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.rt_n > 0).then(|| self.rt_sum as f64 / self.rt_n as f64)
    }

    /// The `q` quantile (0..1) of response times, estimated from the histogram: linear
    /// within the bucket it falls in, and never outside the observed min and max.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        if self.rt_n == 0 {
            return None;
        }
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0u64;
        for (i, &c) in self.hist.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (seen + c) as f64 >= rank {
                let lo = if i == 0 { 0 } else { BUCKETS_MS[i - 1] } as f64;
                let hi = BUCKETS_MS
                    .get(i)
                    .map(|&b| b as f64)
                    .unwrap_or_else(|| self.rt_max.unwrap_or(0) as f64);
                let frac = (rank - seen as f64) / c as f64;
                let v = lo + (hi - lo) * frac;
                let min = self.rt_min.unwrap_or(0) as f64;
                let max = self.rt_max.unwrap_or(u64::MAX) as f64;
                return Some(v.clamp(min, max));
            }
            seen += c;
        }
        self.rt_max.map(|m| m as f64)
    }
}

pub(crate) const FIELDS: [&str; 9] = [
    "attempts",
    "successes",
    "count_sum",
    "rt_n",
    "rt_sum",
    "rt_min",
    "rt_max",
    "incidents",
    "down_ms",
];

/// The histogram as stored: (bucket, count) pairs for the buckets that are not empty.
pub(crate) fn hist_encode(h: &[u64; NBUCKETS]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &c) in h.iter().enumerate() {
        if c > 0 {
            out.push(i as u8);
            super::codec::put_varint(&mut out, c);
        }
    }
    out
}

/// Adds a stored histogram into `h`; damaged bytes are ignored from where they start.
pub(crate) fn hist_add(h: &mut [u64; NBUCKETS], blob: &[u8]) {
    let mut pos = 0;
    while pos < blob.len() {
        let b = blob[pos] as usize;
        pos += 1;
        let Some(c) = super::codec::get_varint(blob, &mut pos) else {
            return;
        };
        if let Some(slot) = h.get_mut(b) {
            *slot = slot.saturating_add(c);
        }
    }
}

/// `hist_add(a, b)` in SQL: the sum of two stored histograms, for the upserts.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "hist_add",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut h = [0u64; NBUCKETS];
            for i in 0..2 {
                if let Ok(Some(b)) = ctx.get::<Option<Vec<u8>>>(i) {
                    hist_add(&mut h, &b);
                }
            }
            Ok(hist_encode(&h))
        },
    )
}

/// `CREATE TABLE` for both rollup tables (schema version 1).
pub(crate) fn create_tables() -> String {
    let mut sql = String::new();
    for (table, key) in [("rollup_hour", "hour"), ("rollup_day", "day")] {
        sql.push_str(&format!(
            "CREATE TABLE {table} (\n    {key} INTEGER NOT NULL,\n    job_id INTEGER NOT NULL,\n"
        ));
        for f in FIELDS {
            let t = if f.starts_with("rt_m") {
                "INTEGER"
            } else {
                "INTEGER NOT NULL DEFAULT 0"
            };
            sql.push_str(&format!("    {f} {t},\n"));
        }
        sql.push_str(&format!(
            "    hist BLOB,\n    PRIMARY KEY ({key}, job_id)\n) WITHOUT ROWID;\n"
        ));
    }
    sql
}

/// A stored figure as a count: negative or missing is 0, and a float (an overflowed sum
/// written by an earlier version) saturates.
pub(crate) fn figure(v: rusqlite::types::ValueRef<'_>) -> u64 {
    match v {
        rusqlite::types::ValueRef::Integer(i) => i.max(0) as u64,
        rusqlite::types::ValueRef::Real(f) if f >= u64::MAX as f64 => u64::MAX,
        rusqlite::types::ValueRef::Real(f) if f > 0.0 => f as u64,
        _ => 0,
    }
}

/// The last hour whose rollups are in `rollup_day` (`None` on a new database).
pub(crate) fn folded_through(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'days_folded_through'")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|v| v.parse().ok()))
}

/// Adds one stored rollup row into `a`: the figures from column 2 on, in `FIELDS` order
/// and then `hist` (`full`), or only attempts, successes and counts.
pub(crate) fn add_stored(a: &mut Acc, r: &rusqlite::Row, full: bool) -> rusqlite::Result<()> {
    let g = |i: usize| -> rusqlite::Result<u64> { Ok(figure(r.get_ref(i)?)) };
    a.attempts = a.attempts.saturating_add(g(2)?);
    a.successes = a.successes.saturating_add(g(3)?);
    a.count_sum = a.count_sum.saturating_add(g(4)?);
    if full {
        let o = |i: usize| -> rusqlite::Result<Option<u64>> {
            Ok(match r.get_ref(i)? {
                rusqlite::types::ValueRef::Null => None,
                v => Some(figure(v)),
            })
        };
        a.rt_n = a.rt_n.saturating_add(g(5)?);
        a.rt_sum = a.rt_sum.saturating_add(g(6)?);
        a.rt_min = match (a.rt_min, o(7)?) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.rt_max = match (a.rt_max, o(8)?) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        a.incidents = a.incidents.saturating_add(g(9)?);
        a.down_ms = a.down_ms.saturating_add(g(10)?);
        if let rusqlite::types::ValueRef::Blob(b) = r.get_ref(11)? {
            hist_add(&mut a.hist, b);
        }
    }
    Ok(())
}

/// Sums rows of `table` with `key` in `[lo, hi]` (one job or all) by (job, `group(key)`).
/// `full`: every figure; else only attempts, successes and counts (what `status` shows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_sums(
    conn: &Connection,
    table: &str,
    key: &str,
    lo: i64,
    hi: i64,
    job: Option<i64>,
    full: bool,
    group: impl Fn(i64) -> i64,
) -> rusqlite::Result<HashMap<(i64, i64), Acc>> {
    let cols = if full {
        format!("{}, hist", FIELDS.join(", "))
    } else {
        "attempts, successes, count_sum".to_string()
    };
    let job_filter = if job.is_some() {
        " AND job_id = ?3"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {key}, job_id, {cols} FROM {table} WHERE {key} BETWEEN ?1 AND ?2{job_filter}"
    );
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = match job {
        Some(j) => st.query(rusqlite::params![lo, hi, j])?,
        None => st.query(rusqlite::params![lo, hi])?,
    };
    let mut out: HashMap<(i64, i64), Acc> = HashMap::new();
    while let Some(r) = rows.next()? {
        let period: i64 = r.get(0)?;
        let id: i64 = r.get(1)?;
        add_stored(out.entry((id, group(period))).or_default(), r, full)?;
    }
    Ok(out)
}

/// Sums per job over whole hours `[from_hour, to_hour]`: daily rollups for the days that
/// lie wholly inside (and are folded), hourly ones for the rest, so the rows read grow
/// with the days, not the hours. Memory is one `Acc` per job.
pub(crate) fn sum_hours(
    conn: &Connection,
    from_hour: i64,
    to_hour: i64,
    job: Option<i64>,
    full: bool,
) -> rusqlite::Result<HashMap<i64, Acc>> {
    let mut out: HashMap<i64, Acc> = HashMap::new();
    if to_hour < from_hour {
        return Ok(out);
    }
    let first_day = (from_hour + 23).div_euclid(24);
    let folded = folded_through(conn)?.unwrap_or(i64::MIN);
    let end_day = (to_hour + 1)
        .div_euclid(24)
        .min(folded.saturating_add(1).div_euclid(24)); // exclusive
    let mut ranges: Vec<(&str, &str, i64, i64)> = Vec::new();
    if first_day < end_day {
        ranges.push(("rollup_hour", "hour", from_hour, first_day * 24 - 1));
        ranges.push(("rollup_day", "day", first_day, end_day - 1));
        ranges.push(("rollup_hour", "hour", end_day * 24, to_hour));
    } else {
        ranges.push(("rollup_hour", "hour", from_hour, to_hour));
    }
    for (table, key, lo, hi) in ranges {
        if hi < lo {
            continue;
        }
        for ((id, _), a) in read_sums(conn, table, key, lo, hi, job, full, |_| 0)? {
            out.entry(id).or_default().add(&a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_buckets_within_min_and_max() {
        let mut a = Acc::default();
        for d in 1..=100u64 {
            a.result(true, None, Some(d));
        }
        assert_eq!(a.mean_ms(), Some(50.5));
        let p50 = a.percentile_ms(0.5).unwrap();
        let p95 = a.percentile_ms(0.95).unwrap();
        assert!((30.0..=70.0).contains(&p50), "{p50}");
        assert!((70.0..=100.0).contains(&p95), "{p95}");
        let mut one = Acc::default();
        one.result(false, None, Some(250));
        assert_eq!(one.percentile_ms(0.95), Some(250.0));
        assert_eq!(Acc::default().percentile_ms(0.5), None);
    }
}
