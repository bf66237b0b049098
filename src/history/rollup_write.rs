//! Writing the rollups: the figures of a batch's results are summed in memory per (job,
//! hour) first, then each key's stored row is read, added to here and written back as
//! plain values, one write per key, in key order. A tick's worth reads the period's
//! stored rows in one scan instead of one lookup per key. Finished hours are folded into
//! the daily rollups once, by the first batch after them.

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::{Connection, OptionalExtension};

use super::rollup::{add_stored, folded_through, hist_encode, read_sums, Acc, FIELDS, HOUR_MS};

/// One of the two rollup tables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub name: &'static str,
    pub key: &'static str,
    sql: &'static OnceLock<Sql>,
}

/// A table's statements, built once.
#[derive(Debug)]
struct Sql {
    all: String,
    one: String,
    insert: String,
    update: String,
}

static HOUR_SQL: OnceLock<Sql> = OnceLock::new();
static DAY_SQL: OnceLock<Sql> = OnceLock::new();

pub(crate) const HOURS: Table = Table {
    name: "rollup_hour",
    key: "hour",
    sql: &HOUR_SQL,
};
pub(crate) const DAYS: Table = Table {
    name: "rollup_day",
    key: "day",
    sql: &DAY_SQL,
};

/// From this many keys of one period on, its stored rows are read in one scan.
const SCAN_FROM: usize = 64;

impl Table {
    fn sql(&self) -> &'static Sql {
        let (t, k) = (self.name, self.key);
        self.sql.get_or_init(|| {
            let cols = format!("{}, hist", FIELDS.join(", "));
            let marks = vec!["?"; FIELDS.len() + 3].join(", ");
            let sets: Vec<String> = FIELDS
                .iter()
                .chain(std::iter::once(&"hist"))
                .enumerate()
                .map(|(i, c)| format!("{c} = ?{}", i + 3))
                .collect();
            Sql {
                all: format!("SELECT {k}, job_id, {cols} FROM {t} WHERE {k} = ?1 ORDER BY job_id"),
                one: format!("SELECT {k}, job_id, {cols} FROM {t} WHERE {k} = ?1 AND job_id = ?2"),
                insert: format!("INSERT INTO {t} ({k}, job_id, {cols}) VALUES ({marks})"),
                update: format!(
                    "UPDATE {t} SET {} WHERE {k} = ?1 AND job_id = ?2",
                    sets.join(", ")
                ),
            }
        })
    }
}

/// Adds each `(job, period) → figures` of `adds` into `table`: the stored row read, the
/// sum (saturating) written back, or a new row.
pub(crate) fn merge(
    conn: &Connection,
    table: Table,
    adds: &HashMap<(i64, i64), Acc>,
) -> rusqlite::Result<()> {
    if adds.is_empty() {
        return Ok(());
    }
    let sql = table.sql();
    let mut keys: Vec<(i64, i64, &Acc)> = adds
        .iter()
        .map(|(&(job, period), a)| (period, job, a))
        .collect();
    keys.sort_unstable_by_key(|&(period, job, _)| (period, job));
    // The stored rows of each period with enough keys, in key order: joined with `keys`
    // as both are walked.
    let mut stored: Vec<((i64, i64), Acc)> = Vec::new();
    let mut scanned: Vec<i64> = Vec::new();
    for w in keys.chunk_by(|x, y| x.0 == y.0) {
        let period = w[0].0;
        if w.len() < SCAN_FROM {
            continue;
        }
        scanned.push(period);
        let mut st = conn.prepare_cached(&sql.all)?;
        let mut rows = st.query([period])?;
        while let Some(r) = rows.next()? {
            let mut a = Acc::default();
            add_stored(&mut a, r, true)?;
            stored.push(((period, r.get(1)?), a));
        }
    }
    let mut next = stored.into_iter().peekable();
    let mut one = conn.prepare_cached(&sql.one)?;
    let mut insert = conn.prepare_cached(&sql.insert)?;
    let mut update = conn.prepare_cached(&sql.update)?;
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    for (period, job, add) in keys {
        let found = if scanned.binary_search(&period).is_ok() {
            while next.next_if(|(k, _)| *k < (period, job)).is_some() {}
            next.next_if(|(k, _)| *k == (period, job)).map(|(_, a)| a)
        } else {
            one.query_row([period, job], |r| {
                let mut a = Acc::default();
                add_stored(&mut a, r, true)?;
                Ok(a)
            })
            .optional()?
        };
        let (st, a) = match found {
            Some(mut a) => {
                a.add(add);
                (&mut update, a)
            }
            None => (&mut insert, add.clone()),
        };
        st.execute(rusqlite::params![
            period,
            job,
            i(a.attempts),
            i(a.successes),
            i(a.count_sum),
            i(a.rt_n),
            i(a.rt_sum),
            a.rt_min.map(i),
            a.rt_max.map(i),
            i(a.incidents),
            i(a.down_ms),
            hist_encode(&a.hist),
        ])?;
    }
    Ok(())
}

/// Rollup changes gathered while recording a batch, written at its end.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) hours: HashMap<(i64, i64), Acc>,
}

impl Pending {
    pub fn hour(&mut self, job: i64, ts_ms: i64) -> &mut Acc {
        self.hours
            .entry((job, ts_ms.div_euclid(HOUR_MS)))
            .or_default()
    }

    /// Downtime from `from` to `to` (ms), split over the hours it spans (at most 400
    /// days' worth: a longer silence is not counted further).
    pub fn down(&mut self, job: i64, from: i64, to: i64) {
        let mut t = from;
        let mut steps = 0;
        while t < to && steps < 24 * 400 {
            let end = (t.div_euclid(HOUR_MS) + 1) * HOUR_MS;
            let part = end.min(to) - t;
            self.hour(job, t).down_ms += part as u64;
            t = end;
            steps += 1;
        }
    }

    /// Writes the hourly rollups; hours already folded into their days (a late result)
    /// go into the daily rollup too. First folds every finished hour not folded yet.
    pub fn flush(self, conn: &Connection, now_ms: i64) -> rusqlite::Result<()> {
        let folded = fold(conn, now_ms.div_euclid(HOUR_MS) - 1)?;
        let mut days: HashMap<(i64, i64), Acc> = HashMap::new();
        for ((job, hour), a) in &self.hours {
            if *hour <= folded {
                days.entry((*job, hour.div_euclid(24))).or_default().add(a);
            }
        }
        merge(conn, HOURS, &self.hours)?;
        merge(conn, DAYS, &days)
    }
}

/// Adds the hourly rollups of the finished hours after the last folded one, up to
/// `through`, into the daily rollups: once an hour for every job, instead of a second
/// write per result. Returns the last folded hour.
fn fold(conn: &Connection, through: i64) -> rusqlite::Result<i64> {
    let from = match folded_through(conn)? {
        Some(f) if f >= through => return Ok(f),
        Some(f) => f,
        // A new database: nothing to fold yet.
        None => through,
    };
    if from < through {
        let sums = read_sums(
            conn,
            "rollup_hour",
            "hour",
            from + 1,
            through,
            None,
            true,
            |h| h.div_euclid(24),
        )?;
        merge(conn, DAYS, &sums)?;
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('days_folded_through', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [through.to_string()],
    )?;
    Ok(through)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::rollup::{register, NBUCKETS};
    use crate::history::schema::{migrate, SCHEMA_VERSION};
    use proptest::prelude::*;
    use rusqlite::types::Value;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        migrate(&mut c, SCHEMA_VERSION).unwrap();
        c
    }

    /// The upsert earlier versions wrote rollups with (sums in SQL, `hist_add`): the
    /// reference the merge must agree with, row for row.
    fn upsert_sql(table: &str, key: &str) -> String {
        let marks = vec!["?"; FIELDS.len() + 3].join(", ");
        let sets: Vec<String> = FIELDS
            .iter()
            .map(|c| match *c {
                "rt_min" => {
                    "rt_min = COALESCE(MIN(rt_min, excluded.rt_min), rt_min, excluded.rt_min)"
                        .to_string()
                }
                "rt_max" => {
                    "rt_max = COALESCE(MAX(rt_max, excluded.rt_max), rt_max, excluded.rt_max)"
                        .to_string()
                }
                c => format!(
                    "{c} = CASE WHEN {c} > {max} - excluded.{c} THEN {max} ELSE {c} + excluded.{c} END",
                    max = i64::MAX
                ),
            })
            .collect();
        format!(
            "INSERT INTO {table} ({key}, job_id, {}, hist) VALUES ({marks}) ON CONFLICT ({key}, job_id)
             DO UPDATE SET {}, hist = hist_add(hist, excluded.hist)",
            FIELDS.join(", "),
            sets.join(", ")
        )
    }

    fn upsert_all(c: &Connection, table: Table, adds: &HashMap<(i64, i64), Acc>) {
        let sql = upsert_sql(table.name, table.key);
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for ((job, period), a) in adds {
            c.execute(
                &sql,
                rusqlite::params![
                    period,
                    job,
                    i(a.attempts),
                    i(a.successes),
                    i(a.count_sum),
                    i(a.rt_n),
                    i(a.rt_sum),
                    a.rt_min.map(i),
                    a.rt_max.map(i),
                    i(a.incidents),
                    i(a.down_ms),
                    hist_encode(&a.hist),
                ],
            )
            .unwrap();
        }
    }

    fn rows(c: &Connection, table: Table) -> Vec<Vec<Value>> {
        let mut st = c
            .prepare(&format!(
                "SELECT * FROM {} ORDER BY {}, job_id",
                table.name, table.key
            ))
            .unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// A figure: mostly small, sometimes near or past what a stored integer holds.
    fn figure() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..5_000,
            1 => (i64::MAX as u64 - 3)..=u64::MAX,
        ]
    }

    fn acc() -> impl Strategy<Value = Acc> {
        (
            proptest::collection::vec(figure(), 7),
            proptest::option::of(0u64..100_000),
            proptest::option::of(0u64..100_000),
            proptest::collection::vec((0..NBUCKETS, 0u64..1_000), 0..4),
        )
            .prop_map(|(f, lo, hi, hist)| {
                let mut a = Acc {
                    attempts: f[0],
                    successes: f[1],
                    count_sum: f[2],
                    rt_n: f[3],
                    rt_sum: f[4],
                    rt_min: lo,
                    rt_max: hi,
                    incidents: f[5],
                    down_ms: f[6],
                    ..Acc::default()
                };
                for (b, n) in hist {
                    a.hist[b] += n;
                }
                a
            })
    }

    /// A batch: keys over a few periods, sometimes enough jobs in one to be scanned.
    fn batch() -> impl Strategy<Value = HashMap<(i64, i64), Acc>> {
        prop_oneof![
            proptest::collection::hash_map((0i64..6, 0i64..3), acc(), 0..8),
            proptest::collection::hash_map((0i64..90, 0i64..2), acc(), 60..150),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn merging_writes_the_same_rows_as_the_upsert_of_earlier_versions(
            batches in proptest::collection::vec(batch(), 1..5),
        ) {
            let (old, new) = (db(), db());
            for b in &batches {
                for t in [HOURS, DAYS] {
                    upsert_all(&old, t, b);
                    merge(&new, t, b).unwrap();
                }
            }
            for t in [HOURS, DAYS] {
                prop_assert_eq!(rows(&old, t), rows(&new, t));
            }
        }
    }

    #[test]
    fn a_tick_worth_of_keys_is_read_in_one_scan_and_summed_with_what_is_stored() {
        let c = db();
        let mut first = HashMap::new();
        for job in 0..100 {
            let mut a = Acc::default();
            a.result(job % 2 == 0, Some(1), Some(40));
            first.insert((job, 7), a);
        }
        merge(&c, HOURS, &first).unwrap();
        // A job stored in another period of the same table is left alone.
        merge(
            &c,
            HOURS,
            &HashMap::from([((3, 8), first[&(3, 7)].clone())]),
        )
        .unwrap();
        merge(&c, HOURS, &first).unwrap();
        let sums = read_sums(&c, "rollup_hour", "hour", 7, 8, None, true, |h| h).unwrap();
        assert_eq!(sums.len(), 101);
        let a = &sums[&(4, 7)];
        assert_eq!((a.attempts, a.successes, a.count_sum, a.rt_n), (2, 2, 2, 2));
        assert_eq!(
            (a.rt_min, a.rt_max, a.hist[bucket_of(40)]),
            (Some(40), Some(40), 2)
        );
        assert_eq!(sums[&(5, 7)].successes, 0);
        assert_eq!(sums[&(3, 8)].attempts, 1);
    }

    fn bucket_of(ms: u64) -> usize {
        crate::history::rollup::BUCKETS_MS.partition_point(|&b| b < ms)
    }

    #[test]
    fn downtime_is_split_over_the_hours_it_spans() {
        let mut p = Pending::default();
        p.down(1, HOUR_MS - 1_000, 2 * HOUR_MS + 500);
        assert_eq!(p.hours[&(1, 0)].down_ms, 1_000);
        assert_eq!(p.hours[&(1, 1)].down_ms, HOUR_MS as u64);
        assert_eq!(p.hours[&(1, 2)].down_ms, 500);
    }
}
