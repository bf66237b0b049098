//! Records ticks of HTTP-like results through `History::append`, one append per tick, for
//! profiling the recording path (issue 12): JOBS jobs ("job 0"...), TICKS minute ticks
//! from minute FROM of the current hour, a few jobs failing. Prints each append's time.
//!
//! cargo build --profile profiling --example append_tick
//! target/profiling/examples/append_tick DB --jobs 10000 --ticks 3            # warm up
//! valgrind --tool=callgrind target/profiling/examples/append_tick DB --jobs 10000 --from 3

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use checker::history::{Access, Event, EventKind, History};
use support::arg;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(db) = args.first().map(PathBuf::from) else {
        return Err("usage: append_tick DB [--jobs N] [--ticks N] [--from MINUTE]".into());
    };
    let jobs = arg(&args, "--jobs", 10_000i64).max(1);
    let ticks = arg(&args, "--ticks", 1).max(1);
    let from = arg(&args, "--from", 0);
    let h = History::new(
        &db,
        &db.with_extension("no-legacy"),
        Duration::from_secs(60),
        Access::Writer,
    );
    h.prepare()?;
    let now = chrono::Utc::now().timestamp_millis();
    let hour = now - now.rem_euclid(3_600_000);
    let names: Vec<String> = (0..jobs).map(|i| format!("job {i}")).collect();
    for k in from..from + ticks {
        let tick = hour + k * 60_000;
        let events: Vec<Event> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let ts = chrono::DateTime::from_timestamp_millis(tick + (i as i64 % 700))
                    .unwrap_or_default();
                let mut e = Event::new(ts, EventKind::Result, Some(name));
                let ok = (i as i64 + k) % 97 != 0;
                let d = 3 + (i as u64 * 7 + k as u64 * 13) % 40;
                e.ok = Some(ok);
                e.duration_ms = Some(d);
                e.message = Some(if ok {
                    format!("HTTP 200 in {d} ms")
                } else {
                    "HTTP 503 (expected 200)".to_string()
                });
                e
            })
            .collect();
        let t = Instant::now();
        h.append(&events)?;
        println!(
            "tick {k}: append of {jobs} results {:.2} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
