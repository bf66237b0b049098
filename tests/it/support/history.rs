//! History fixtures: events written as the JSON-lines day files of earlier versions (a
//! command imports them into history.db on first use), and time passing for history.db.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::Fixture;

/// Jobs the status and history tests seed results for: web, db, fresh, retired (disabled).
pub const STATUS_JOBS: &str = r#"
[[job]]
name = "web"
kind = "http"
url = "http://127.0.0.1:9/"

[[job]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = 5432

[[job]]
name = "fresh"
kind = "command"
command = ["true"]

[[job]]
name = "retired"
kind = "command"
command = ["true"]
enabled = false
"#;

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One history event in the format of the JSON-lines day files.
pub fn event(ts: DateTime<Utc>, job: &str, kind: &str, ok: Option<bool>, message: &str) -> Value {
    json!({
        "ts": rfc3339(ts),
        "job": job,
        "event": kind,
        "ok": ok,
        "message": message,
        "channel": if kind == "notify" || kind == "recover" { json!("capture") } else { Value::Null },
    })
}

/// Writes events into `history/YYYY-MM-DD.jsonl`, each in the file of its own UTC day.
pub fn seed_history(f: &Fixture, events: &[Value]) {
    let mut days: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        let ts: DateTime<Utc> = e["ts"].as_str().unwrap().parse().unwrap();
        let text = days.entry(ts.format("%Y-%m-%d").to_string()).or_default();
        text.push_str(&e.to_string());
        text.push('\n');
    }
    for (day, text) in days {
        f.write(&format!("history/{day}.jsonl"), &text);
    }
}

/// A day file holding one event at noon of the day `days_ago` days back.
pub fn day_file(f: &Fixture, now: DateTime<Utc>, days_ago: i64) -> PathBuf {
    let day = (now - chrono::Duration::days(days_ago)).date_naive();
    let noon = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
    seed_history(f, &[event(noon, "web", "result", Some(true), "200 OK")]);
    f.path()
        .join("history")
        .join(format!("{}.jsonl", day.format("%Y-%m-%d")))
}

/// Moves every event and open run of the database `by` into the past (times are
/// milliseconds since the epoch), as if `by` had passed since they were written. The
/// hourly and daily rollups keep their buckets.
pub fn age(db: &Path, by: Duration) {
    let ms = i64::try_from(by.as_millis()).expect("a short duration");
    let conn = rusqlite::Connection::open(db).expect("open history.db");
    conn.busy_timeout(Duration::from_secs(60))
        .expect("busy timeout");
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         UPDATE events SET ts = ts - {ms}, last_ts = last_ts - {ms};
         UPDATE open_runs SET ts = ts - {ms}, last_ts = last_ts - {ms};
         UPDATE jobs SET last_ts = last_ts - {ms} WHERE last_ts IS NOT NULL;
         COMMIT;"
    ))
    .expect("age history.db");
}
