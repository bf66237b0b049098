//! Prometheus metrics (text exposition format 0.0.4): what `serve` answers at `/metrics`,
//! `checker metrics` prints and `[metrics] textfile_dir` gets at the end of every tick.
//! One renderer for all three: the state (read without the lock), the peer-status word,
//! and the uptime ratios from the history's rollups. `perfdata` turns plugin performance
//! data into series, `textfile` writes the file node_exporter reads.
//!
//! Every family has HELP and TYPE; label values are escaped (backslash, quote, line
//! feed); values that are not numbers are written as Prometheus spells them.

mod perfdata;
pub mod textfile;

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::history::{History, HistoryError};
use crate::peer::status::{self, PeerStatus, Policy, Word};
use crate::state::{JobState, JobStatus, State, StateError, Store};

pub use perfdata::{base_unit, sanitise};

/// The content type of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the metrics need of a configured job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub name: String,
    pub kind: &'static str,
    pub enabled: bool,
}

/// The configured jobs, in configuration order.
pub fn jobs(config: &Config) -> Vec<JobInfo> {
    config
        .jobs
        .iter()
        .map(|j| JobInfo {
            name: j.name.clone(),
            kind: j.kind.name(),
            enabled: j.enabled,
        })
        .collect()
}

/// The windows of `checker_job_uptime_ratio`: label and length in days.
pub const WINDOWS: [(&str, u32); 4] = [("24h", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

/// Per job, the share of successful results in each of [`WINDOWS`] (`None`: no result in
/// that window).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Uptime {
    pub by_job: HashMap<String, [Option<f64>; WINDOWS.len()]>,
}

/// Reads the uptime ratios of the enabled `jobs` from the rollups (whole hours, the
/// current one included, as `checker uptime`): four sums whose cost does not grow with
/// the window.
pub fn uptime(
    history: &History,
    jobs: &[JobInfo],
    now: DateTime<Utc>,
) -> Result<Uptime, HistoryError> {
    let names: Vec<String> = jobs
        .iter()
        .filter(|j| j.enabled)
        .map(|j| j.name.clone())
        .collect();
    let mut out = Uptime::default();
    if names.is_empty() {
        return Ok(out);
    }
    for (i, (_, days)) in WINDOWS.iter().enumerate() {
        for f in history.uptime(*days, now, &names)? {
            if let Some(p) = f.uptime_percent {
                out.by_job.entry(f.job).or_default()[i] = Some(p / 100.0);
            }
        }
    }
    Ok(out)
}

/// Everything one rendering reads.
pub struct Snapshot<'a> {
    /// For what holds alerts back now (silences, maintenance windows).
    pub config: &'a Config,
    pub jobs: &'a [JobInfo],
    /// `None` when the state file could not be read.
    pub state: Option<&'a State>,
    pub status: &'a PeerStatus,
    /// `None` when the history could not be read (the families are then left out).
    pub uptime: Option<&'a Uptime>,
    pub now: DateTime<Utc>,
}

/// The whole exposition for the configuration as it is on disk now: the state read
/// without the lock, the history as a reader. What `checker metrics` prints and the
/// textfile holds. A state or history that cannot be read is said in the metrics
/// (`checker_state_readable`, the uptime families left out) and logged.
pub fn collect(config: &Config, now: DateTime<Utc>) -> String {
    let state = Store::new(&config.general.state_file, config.general.lock_timeout).read();
    collect_from(config, state.as_ref(), now)
}

/// [`collect`] from a state already read (or the reason it could not be).
pub fn collect_from(
    config: &Config,
    state: Result<&State, &StateError>,
    now: DateTime<Utc>,
) -> String {
    let jobs = jobs(config);
    let policy = Policy::from_config(config);
    let status = match state {
        Ok(s) => status::compute(s, &policy, now),
        Err(e) => {
            log::warn!("metrics: the state cannot be read: {e}");
            status::unreadable(&policy, &e.to_string())
        }
    };
    let uptime = match uptime(&History::reader(&config.general), &jobs, now) {
        Ok(u) => Some(u),
        Err(e) => {
            log::warn!("metrics: no uptime ratios: the history cannot be read: {e}");
            None
        }
    };
    render(&Snapshot {
        config,
        jobs: &jobs,
        state: state.ok(),
        status: &status,
        uptime: uptime.as_ref(),
        now,
    })
}

/// The exposition text of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out::default();
    out.family(
        "checker_peer_status",
        Type::Gauge,
        "The peer-status word: 1 for the current one, 0 for the others.",
    );
    for w in [Word::True, Word::MailProblem, Word::JobProblem] {
        out.sample(
            "checker_peer_status",
            &[("status", w.as_str())],
            Num::Bool(s.status.status == w),
        );
    }
    out.single(
        "checker_state_readable",
        "1 when the state file could be read.",
        Some(Num::Bool(s.state.is_some())),
    );
    let Some(state) = s.state else {
        return out.text;
    };
    let hb = &state.heartbeat;
    out.single(
        "checker_heartbeat_age_seconds",
        "Seconds since the last cron tick finished.",
        hb.last_tick_finished
            .map(|t| Num::F((s.now - t).num_milliseconds().max(0) as f64 / 1000.0)),
    );
    out.single(
        "checker_last_tick_error",
        "1 when the last tick ended in error.",
        Some(Num::Bool(hb.last_tick_error.is_some())),
    );
    out.single(
        "checker_mail_ok",
        "1 when the last self-check or email delivery worked, 0 when it failed (absent: email off or never tried).",
        s.status.mail_ok.map(Num::Bool),
    );
    out.single(
        "checker_outbox_queued",
        "Notifications waiting to be delivered.",
        Some(Num::U(state.outbox.len() as u64)),
    );
    let pending = JobState::default();
    let jobs: Vec<(&JobInfo, &JobState)> = s
        .jobs
        .iter()
        .filter(|j| j.enabled)
        .map(|j| (j, state.jobs.get(&j.name).unwrap_or(&pending)))
        .collect();
    job_families(&mut out, &jobs);
    silenced(&mut out, &jobs, s.config, state, s.now);
    checks_total(&mut out, &jobs);
    if let Some(uptime) = s.uptime {
        uptime_ratio(&mut out, &jobs, uptime);
    }
    tls_not_after(&mut out, &jobs);
    perfdata::families(&mut out, &jobs);
    out.text
}

/// The gauges every job has, labelled `job` and `kind`.
fn job_families(out: &mut Out, jobs: &[(&JobInfo, &JobState)]) {
    type Pick = fn(&JobState) -> Option<Num>;
    let families: [(&str, &str, Pick); 6] = [
        (
            "checker_job_up",
            "1 when the job's last check passed, 0 when it is failing (absent while pending).",
            |j| match j.status {
                JobStatus::Ok => Some(Num::U(1)),
                JobStatus::Failing => Some(Num::U(0)),
                JobStatus::Pending => None,
            },
        ),
        ("checker_job_failing", "1 when the job is failing.", |j| {
            Some(Num::Bool(j.status == JobStatus::Failing))
        }),
        (
            "checker_job_consecutive_failures",
            "Failures in a row.",
            |j| Some(Num::U(u64::from(j.consecutive_failures))),
        ),
        (
            "checker_job_last_success_timestamp_seconds",
            "Unix time of the last success.",
            |j| j.last_success.map(|t| Num::I(t.timestamp())),
        ),
        (
            "checker_job_last_run_timestamp_seconds",
            "Unix time of the last result.",
            |j| j.last_run.map(|t| Num::I(t.timestamp())),
        ),
        (
            "checker_job_duration_seconds",
            "How long the job's last run took (all its attempts), in seconds.",
            |j| j.last_duration_ms.map(|ms| Num::F(ms as f64 / 1000.0)),
        ),
    ];
    for (name, help, pick) in families {
        out.family(name, Type::Gauge, help);
        for (job, js) in jobs {
            if let Some(v) = pick(js) {
                out.sample(name, &[("job", &job.name), ("kind", job.kind)], v);
            }
        }
    }
}

/// `checker_job_silenced`: 1 while a silence or a maintenance window covers the job.
fn silenced(
    out: &mut Out,
    jobs: &[(&JobInfo, &JobState)],
    config: &Config,
    state: &State,
    now: DateTime<Utc>,
) {
    const NAME: &str = "checker_job_silenced";
    out.family(
        NAME,
        Type::Gauge,
        "1 while a silence or a maintenance window holds back the job's failure alerts.",
    );
    let viewer = crate::engine::quiet::Viewer::new(config, state, now);
    for (job, _) in jobs {
        out.sample(
            NAME,
            &[("job", &job.name), ("kind", job.kind)],
            Num::Bool(viewer.silenced(&job.name)),
        );
    }
}

fn checks_total(out: &mut Out, jobs: &[(&JobInfo, &JobState)]) {
    const NAME: &str = "checker_job_checks_total";
    out.family(
        NAME,
        Type::Counter,
        "Results recorded for the job, by outcome (the state's totals: they start again from 0 if the state file is lost).",
    );
    for (job, js) in jobs {
        for (result, n) in [("ok", js.successes), ("failed", js.failures)] {
            out.sample(
                NAME,
                &[("job", &job.name), ("kind", job.kind), ("result", result)],
                Num::U(n),
            );
        }
    }
}

fn uptime_ratio(out: &mut Out, jobs: &[(&JobInfo, &JobState)], uptime: &Uptime) {
    const NAME: &str = "checker_job_uptime_ratio";
    out.family(
        NAME,
        Type::Gauge,
        "Share of successful results over the window (whole hours, the current one included), from 0 to 1; absent without results in it.",
    );
    for (job, _) in jobs {
        let Some(ratios) = uptime.by_job.get(&job.name) else {
            continue;
        };
        for ((window, _), ratio) in WINDOWS.iter().zip(ratios) {
            if let Some(r) = ratio {
                out.sample(
                    NAME,
                    &[("job", &job.name), ("kind", job.kind), ("window", window)],
                    Num::F(*r),
                );
            }
        }
    }
}

fn tls_not_after(out: &mut Out, jobs: &[(&JobInfo, &JobState)]) {
    const NAME: &str = "checker_tls_cert_not_after_timestamp_seconds";
    out.family(
        NAME,
        Type::Gauge,
        "Unix time at which the certificate a tls_cert job last read expires (its notAfter).",
    );
    for (job, js) in jobs {
        if let Some(t) = js.cert_not_after {
            out.sample(
                NAME,
                &[("job", &job.name), ("kind", job.kind)],
                Num::I(t.timestamp()),
            );
        }
    }
}

// ----------------------------------------------------------------------- the format

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Gauge,
    Counter,
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    F(f64),
    U(u64),
    I(i64),
    Bool(bool),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Num::F(v) if v.is_nan() => f.write_str("NaN"),
            Num::F(v) if v == f64::INFINITY => f.write_str("+Inf"),
            Num::F(v) if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            Num::F(v) => write!(f, "{v}"),
            Num::U(v) => write!(f, "{v}"),
            Num::I(v) => write!(f, "{v}"),
            Num::Bool(b) => f.write_str(if b { "1" } else { "0" }),
        }
    }
}

/// The text being written.
#[derive(Debug, Default)]
struct Out {
    text: String,
}

impl Out {
    /// A family's HELP and TYPE lines: once, before its samples.
    fn family(&mut self, name: &str, kind: Type, help: &str) {
        let kind = match kind {
            Type::Gauge => "gauge",
            Type::Counter => "counter",
        };
        let _ = writeln!(
            self.text,
            "# HELP {name} {}\n# TYPE {name} {kind}",
            escape_help(help)
        );
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Num) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A gauge of one unlabelled sample; left out entirely without a value.
    fn single(&mut self, name: &str, help: &str, value: Option<Num>) {
        if let Some(v) = value {
            self.family(name, Type::Gauge, help);
            self.sample(name, &[], v);
        }
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
