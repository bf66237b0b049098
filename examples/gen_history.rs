//! Builds the history benchmark's workload (SPEC §9) through checker's own recording path:
//! JOBS minute-jobs ("job 0", "job 1"...) with DAYS days of results ending now, one append
//! per minute tick as a tick records them, failures in realistic streaks, HTTP-like
//! messages and response times. Then, optionally, daily rollups for older days (what 90
//! days of `uptime` read). Prints what recording one tick's results cost and the size on
//! disk. Used by `scripts/bench.py`; the data is generated, never committed.
//!
//! cargo run --release --example gen_history -- DB [--jobs 1000] [--days 2] [--rollup-days 90]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use checker::history::{Access, Event, EventKind, History};
use chrono::{DateTime, Utc};
use support::{arg, Rng};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(db) = args.first().map(PathBuf::from) else {
        return Err("usage: gen_history DB [--jobs N] [--days N] [--rollup-days N]".into());
    };
    let jobs = arg(&args, "--jobs", 1000usize);
    let days = arg(&args, "--days", 2i64);
    let rollup_days = arg(&args, "--rollup-days", 0i64);
    if jobs == 0 || days <= 0 {
        return Err("--jobs and --days must be at least 1".into());
    }
    let h = History::new(
        &db,
        &db.with_extension("no-legacy"),
        Duration::from_secs(60),
        Access::Writer,
    );
    let names: Vec<String> = (0..jobs).map(|i| format!("job {i}")).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Per job: failing now?, its usual response time, and how flaky it is.
    let mut failing = vec![false; jobs];
    let base: Vec<u64> = (0..jobs).map(|_| rng.range(8, 120)).collect();
    let flaky: Vec<f64> = (0..jobs)
        .map(|i| if i % 50 == 0 { 0.01 } else { 0.0005 })
        .collect();
    let now = Utc::now();
    let minutes = days * 24 * 60;
    let start = now - chrono::Duration::minutes(minutes);
    let mut costs: Vec<Duration> = Vec::with_capacity(minutes as usize);
    let mut hour_ends: Vec<Duration> = Vec::new();
    let mut events = Vec::with_capacity(jobs);
    for m in 0..minutes {
        let tick: DateTime<Utc> = start
            + chrono::Duration::minutes(m)
            + chrono::Duration::milliseconds(rng.range(0, 900) as i64);
        events.clear();
        for (i, name) in names.iter().enumerate() {
            failing[i] = if failing[i] {
                !rng.chance(0.15) // streaks of about 7 minutes
            } else {
                rng.chance(flaky[i])
            };
            let mut e = Event::new(tick, EventKind::Result, Some(name));
            e.ok = Some(!failing[i]);
            let (d, msg) = if !failing[i] {
                let d = base[i] + rng.range(0, base[i] / 2 + 3);
                (d, format!("HTTP 200 in {d} ms"))
            } else if i % 3 == 0 {
                (10_000, "timed out after 10s".to_string())
            } else if i % 3 == 1 {
                (rng.range(1, 3), "connection refused".to_string())
            } else {
                let d = base[i] + rng.range(0, 40);
                (d, "HTTP 503 (expected 200)".to_string())
            };
            e.duration_ms = Some(d);
            e.message = Some(msg);
            events.push(e);
        }
        let t = Instant::now();
        h.append(&events)?;
        let spent = t.elapsed();
        if tick.timestamp() / 3600 != (tick + chrono::Duration::minutes(1)).timestamp() / 3600 {
            hour_ends.push(spent);
        }
        costs.push(spent);
    }
    let conn = rusqlite::Connection::open(&db)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let size = std::fs::metadata(&db)?.len();
    costs.sort();
    let pct = |p: f64| costs[((costs.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
    println!(
        "recorded {} results ({} jobs x {} minute ticks): append of one tick's {} results median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        jobs as i64 * minutes,
        jobs,
        minutes,
        jobs,
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    if !hour_ends.is_empty() {
        hour_ends.sort();
        println!(
            "  of which the last tick of each hour (runs closed and deflated) median {:.2} ms",
            hour_ends[hour_ends.len() / 2].as_secs_f64() * 1000.0
        );
    }
    println!(
        "on disk: {:.1} MB for {days} day(s): {:.1} MB per day",
        size as f64 / 1e6,
        size as f64 / 1e6 / days as f64
    );
    if rollup_days > days {
        // Older days as daily rollups only (their raw events would be pruned by then).
        let tx = conn.unchecked_transaction()?;
        {
            let mut ids = tx.prepare("SELECT id FROM jobs WHERE name = ?1")?;
            let mut ins = tx.prepare(
                "INSERT OR REPLACE INTO rollup_day (day, job_id, attempts, successes, rt_n, rt_sum,
                 rt_min, rt_max, incidents, down_ms, hist)
                 VALUES (?1, ?2, 1440, ?3, 1440, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            // The histogram as stored: bucket 9 (30-50 ms) 400, 10 (50-70 ms) 800, 11
            // (70-100 ms) 240, each count a varint.
            let hist: Vec<u8> = vec![9, 0x90, 0x03, 10, 0xa0, 0x06, 11, 0xf0, 0x01];
            let today = now.timestamp().div_euclid(86_400);
            for name in &names {
                let id: i64 = ids.query_row([name], |r| r.get(0))?;
                for d in (today - rollup_days + 1)..(today - days) {
                    let bad = rng.range(0, 12) as i64;
                    ins.execute(rusqlite::params![
                        d,
                        id,
                        1440 - bad,
                        1440 * 60,
                        20,
                        95,
                        (bad > 0) as i64,
                        bad * 60_000,
                        hist
                    ])?;
                }
            }
        }
        tx.commit()?;
        println!("added daily rollups back to {rollup_days} days");
    }
    Ok(())
}
