//! A realistic demo installation for the status page's screenshots (scripts/screenshots.sh):
//! settings with a `[status_page]`, nine jobs in three groups, 90 days of history (the last
//! 14 as results every 5 minutes through checker's recording path, the older days as daily
//! rollups) with a few incidents, the state a tick would leave (one job failing now), and
//! a maintenance window open now.
//! Deterministic but for the dates, which end now.
//!
//! cargo run --release --example demo_status -- DIR

mod support;

use std::path::PathBuf;
use std::time::Duration;

use checker::history::{Access, Event, EventKind, History};
use checker::state::{JobState, JobStatus, State};
use chrono::{DateTime, Utc};
use support::Rng;

/// A job: name, group, TOML of its kind, usual response time (ms; 0: none), ok message.
struct Demo {
    name: &'static str,
    group: &'static str,
    toml: &'static str,
    ms: u64,
    ok: &'static str,
}

const JOBS: &[Demo] = &[
    Demo { name: "shop home", group: "Website", toml: "kind = \"http\"\nurl = \"https://shop.example.com/\"", ms: 140, ok: "HTTP 200" },
    Demo { name: "checkout API", group: "Website", toml: "kind = \"http\"\nurl = \"https://api.example.com/health\"", ms: 60, ok: "HTTP 200" },
    Demo { name: "blog", group: "Website", toml: "kind = \"http\"\nurl = \"https://blog.example.com/\"", ms: 220, ok: "HTTP 200" },
    Demo { name: "TLS certificate", group: "Website", toml: "kind = \"tls_cert\"\nhost = \"shop.example.com\"", ms: 35, ok: "expires in 61 days" },
    Demo { name: "database", group: "Infrastructure", toml: "kind = \"tcp\"\nhost = \"db.internal\"\nport = 5432", ms: 3, ok: "connected" },
    Demo { name: "mail server", group: "Infrastructure", toml: "kind = \"tcp\"\nhost = \"mail.example.com\"\nport = 25", ms: 12, ok: "connected" },
    Demo { name: "DNS", group: "Infrastructure", toml: "kind = \"dns\"\nquery = \"example.com\"\nrecord = \"A\"", ms: 8, ok: "A 203.0.113.10" },
    Demo { name: "nightly backup", group: "Scheduled jobs", toml: "kind = \"passive\"\nexpect_every = \"1d\"", ms: 0, ok: "exit 0 in 4m12s" },
    Demo { name: "disk space", group: "Scheduled jobs", toml: "kind = \"command\"\ncommand = [\"/usr/lib/nagios/plugins/check_disk\", \"-w\", \"20%\", \"-p\", \"/\"]", ms: 25, ok: "DISK OK - free space: / 41 GB (52%)" },
];

/// Failure windows: job, days ago, start minute of that day, length in minutes, message.
const INCIDENTS: &[(&str, i64, i64, i64, &str)] = &[
    (
        "blog",
        3,
        14 * 60 + 5,
        40,
        "HTTP 502 (expected 200): Bad Gateway",
    ),
    ("mail server", 6, 2 * 60 + 30, 15, "connection refused"),
    ("shop home", 9, 18 * 60, 8, "timed out after 10s"),
    ("database", 12, 3 * 60 + 10, 5, "connection refused"),
    ("shop home", 12, 9 * 60 + 45, 22, "HTTP 503 (expected 200)"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: demo_status DIR")?);
    std::fs::create_dir_all(dir.join("jobs"))?;
    // A maintenance window open now: the blog's platform upgrade, begun half an hour ago.
    let window_start = (Utc::now() - chrono::Duration::minutes(30)).format("%H:%M");
    std::fs::write(
        dir.join("settings.toml"),
        format!(
            "[general]\nservername = \"demo\"\nalertcontact = \"ops@example.com\"\n\
             state_file = \"state.json\"\njobs_dir = \"jobs\"\nhistory_dir = \"history\"\n\n\
             [status_page]\npath = \"status.html\"\ntitle = \"Example Ltd status\"\n\n\
             [defaults]\nnotify = [\"email\"]\n\n[email]\nenabled = false\n\
             from = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
             [[maintenance]]\nname = \"blog platform upgrade\"\njobs = [\"blog\"]\n\
             start = \"{window_start}\"\nduration = \"2h\"\n"
        ),
    )?;
    let mut jobs = String::new();
    for j in JOBS {
        jobs.push_str(&format!(
            "[[job]]\nname = \"{}\"\ngroup = \"{}\"\n{}\nenabled = true\n\n",
            j.name, j.group, j.toml
        ));
    }
    std::fs::write(dir.join("jobs/demo.toml"), jobs)?;

    let now = Utc::now();
    let h = History::new(
        &dir.join("history.db"),
        &dir.join("no-legacy"),
        Duration::from_secs(60),
        Access::Writer,
    );
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let today = now.timestamp().div_euclid(86_400);
    let failing = |name: &str, t: DateTime<Utc>| -> Option<&'static str> {
        let day = t.timestamp().div_euclid(86_400);
        let minute = t.timestamp().rem_euclid(86_400) / 60;
        // The checkout API has been failing for the last 25 minutes.
        if name == "checkout API" && now.signed_duration_since(t) <= chrono::Duration::minutes(25) {
            return Some("HTTP 503 (expected 200): upstream connect error");
        }
        INCIDENTS
            .iter()
            .find(|(j, ago, start, len, _)| {
                *j == name && day == today - ago && minute >= *start && minute < start + len
            })
            .map(|i| i.4)
    };
    // 14 days of results every 5 minutes (the backup once a night, at 02:00).
    let start = now - chrono::Duration::days(14);
    let mut t = start;
    let mut state = State::default();
    while t <= now {
        let mut events = Vec::new();
        for j in JOBS {
            let backup = j.ms == 0;
            if backup && t.timestamp().rem_euclid(86_400) / 300 != 24 {
                continue;
            }
            let bad = failing(j.name, t);
            let mut e = Event::new(t, EventKind::Result, Some(j.name));
            e.ok = Some(bad.is_none());
            e.message = Some(bad.unwrap_or(j.ok).to_string());
            if !backup {
                // Slower in the European afternoon, as traffic grows.
                let hour = (t.timestamp().rem_euclid(86_400) / 3600) as u64;
                let busy = if (12..20).contains(&hour) {
                    j.ms / 3
                } else {
                    0
                };
                e.duration_ms = Some(j.ms + busy + rng.range(0, j.ms / 4 + 1));
            }
            if backup {
                e.event = EventKind::Report;
                e.duration_ms = Some(252_000);
            }
            let js = state.jobs.entry(j.name.to_string()).or_default();
            record(js, &e, t);
            events.push(e);
        }
        h.append(&events)?;
        t += chrono::Duration::minutes(5);
    }
    // Older days: daily rollups (their events would have been pruned by now).
    let conn = rusqlite::Connection::open(dir.join("history.db"))?;
    for (i, j) in JOBS.iter().enumerate() {
        let id: i64 = conn.query_row("SELECT id FROM jobs WHERE name = ?1", [j.name], |r| {
            r.get(0)
        })?;
        let per_day: i64 = if j.ms == 0 { 1 } else { 288 };
        for back in 15..90 {
            let bad = match (i as i64 + back) % 23 {
                0 => rng.range(1, 6) as i64,
                5 if back % 2 == 0 => rng.range(7, 30) as i64,
                _ => 0,
            }
            .min(per_day);
            conn.execute(
                "INSERT OR REPLACE INTO rollup_day (day, job_id, attempts, successes, rt_n, rt_sum,
                 rt_min, rt_max, incidents, down_ms) VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    today - back,
                    id,
                    per_day,
                    per_day - bad,
                    per_day * j.ms.max(1) as i64,
                    j.ms.max(1) as i64,
                    (j.ms.max(1) * 2) as i64,
                    (bad > 0) as i64,
                    bad * 300_000
                ],
            )?;
        }
    }
    state.heartbeat.last_tick = Some("minute".into());
    state.heartbeat.last_tick_started = Some(now);
    state.heartbeat.last_tick_finished = Some(now);
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&state)?)?;
    println!("demo installation in {}", dir.display());
    Ok(())
}

/// What recording a result does to a job's state, in short: enough for the page.
fn record(js: &mut JobState, e: &Event, t: DateTime<Utc>) {
    let ok = e.ok == Some(true);
    js.last_run = Some(t);
    js.last_message = e.message.clone();
    js.last_duration_ms = e.duration_ms;
    js.total_attempts += 1;
    if ok {
        js.status = JobStatus::Ok;
        js.successes += 1;
        js.last_success = Some(t);
        js.consecutive_failures = 0;
        js.first_failure = None;
        js.last_error = None;
    } else {
        if js.status != JobStatus::Failing {
            js.first_failure = Some(t);
        }
        js.status = JobStatus::Failing;
        js.failures += 1;
        js.consecutive_failures += 1;
        js.last_error = e.message.clone();
    }
}
