//! `/jobs.json` (SPEC §12), both ways: what this instance answers (`serve`'s
//! `GET /jobs.json` and `checker jobs-json` print the same [`JobsJson`]), and reading a
//! peer's answer, which is hostile input: at most [`MAX_ANSWER`] bytes, read as a stream
//! (nothing the size of the answer is built), every field optional and of any type, an
//! entry that makes no sense skipped, and only the jobs asked about kept.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::state::{JobStatus, State};
use crate::text::truncate;

/// The most of a peer's answer that is read; a longer one counts as no answer.
pub const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// The longest message kept of an entry, in bytes (what is sent and what is read).
pub const MESSAGE_CAP: usize = 300;
/// The longest job name or server name read from a peer.
const NAME_CAP: usize = 1024;
/// The longest interval a peer may claim for a job (ten years).
const MAX_INTERVAL_SECS: u64 = 10 * 366 * 86_400;

/// This instance's answer.
#[derive(Debug, Clone, Serialize)]
pub struct JobsJson {
    pub servername: String,
    pub generated_at: DateTime<Utc>,
    pub jobs: Vec<JobEntry>,
}

/// One job in the answer: SPEC §12's fields, and how often the job runs here
/// (`interval_seconds`), by which an asker judges whether `last_run` is recent.
#[derive(Debug, Clone, Serialize)]
pub struct JobEntry {
    pub job: String,
    /// `ok`, `failing`, `pending` (no result yet) or `disabled`.
    pub state: &'static str,
    /// `null` while pending or disabled.
    pub ok: Option<bool>,
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
    /// The last error while failing, else the last message.
    pub message: Option<String>,
    pub interval_seconds: u64,
}

/// What the answer lists of each configured job, taken from the configuration once
/// (`serve` answers many requests with one configuration).
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub enabled: bool,
    pub interval: Duration,
}

pub fn listing(config: &Config) -> Vec<Listed> {
    config
        .jobs
        .iter()
        .map(|j| Listed {
            name: j.name.clone(),
            enabled: j.enabled,
            interval: j.schedule.period(),
        })
        .collect()
}

/// The answer for `state` at `now`, in configuration order. Messages are masked (no
/// configured secret leaves) and shortened.
pub fn build(servername: &str, listing: &[Listed], state: &State, now: DateTime<Utc>) -> JobsJson {
    let pending = crate::state::JobState::default();
    let jobs = listing
        .iter()
        .map(|l| {
            let js = state.jobs.get(&l.name).unwrap_or(&pending);
            let (state, ok) = match (l.enabled, js.status) {
                (false, _) => ("disabled", None),
                (true, JobStatus::Pending) => ("pending", None),
                (true, JobStatus::Ok) => ("ok", Some(true)),
                (true, JobStatus::Failing) => ("failing", Some(false)),
            };
            let message = if js.status == JobStatus::Failing {
                js.last_error.as_deref()
            } else {
                js.last_message.as_deref()
            };
            JobEntry {
                job: l.name.clone(),
                state,
                ok,
                consecutive_failures: js.consecutive_failures,
                failing_since: (js.status == JobStatus::Failing)
                    .then_some(js.first_failure)
                    .flatten(),
                last_run: js.last_run,
                message: message.map(|m| truncate(&crate::redact::text(m), MESSAGE_CAP)),
                interval_seconds: l.interval.as_secs().max(1),
            }
        })
        .collect();
    JobsJson {
        servername: servername.to_string(),
        generated_at: now,
        jobs,
    }
}

/// A peer's answer, as far as it could be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerJobs {
    pub servername: Option<String>,
    pub generated_at: Option<DateTime<Utc>>,
    /// By job name: the jobs asked about that it lists (the first entry of each name).
    pub jobs: HashMap<String, PeerJob>,
}

/// One entry of a peer's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerJob {
    pub state: PeerState,
    pub consecutive_failures: Option<u32>,
    pub last_run: Option<DateTime<Utc>>,
    pub interval: Option<Duration>,
    pub message: Option<String>,
}

/// What a peer says of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerState {
    Failing,
    Ok,
    /// Anything else (`pending`, `disabled`, a state this version does not know, none):
    /// what it said, shortened.
    Other(String),
}

/// Reads a peer's answer, keeping the entries of the jobs in `wanted` (all when `None`).
/// `Err` says in a few words why it cannot be used.
pub fn parse(bytes: &[u8], wanted: Option<&HashSet<String>>) -> Result<PeerJobs, String> {
    if bytes.len() > MAX_ANSWER {
        return Err(format!(
            "its answer is larger than {} MiB",
            MAX_ANSWER / (1024 * 1024)
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = DocSeed { wanted }
        .deserialize(&mut de)
        .and_then(|doc| de.end().map(|()| doc))
        .map_err(|e| format!("malformed answer: {}", truncate(&e.to_string(), 120)))?;
    match doc {
        Some(doc) if doc.had_jobs => Ok(doc.jobs),
        Some(_) => Err("malformed answer: no `jobs` list (is it a checker's /jobs.json?)".into()),
        None => Err("malformed answer: not a JSON object".into()),
    }
}

struct Doc {
    jobs: PeerJobs,
    had_jobs: bool,
}

/// Any JSON value, kept only when it is a short scalar: a peer cannot make a field cost
/// more than its own text.
#[derive(Debug)]
enum Scalar {
    Str(String),
    Bool(bool),
    Num(f64),
    Other,
}

impl Scalar {
    fn text(&self, cap: usize) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(truncate(s, cap)),
            _ => None,
        }
    }

    fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Scalar::Str(s) if s.len() <= 64 => DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            _ => None,
        }
    }

    fn whole(&self, max: u64) -> Option<u64> {
        match self {
            Scalar::Num(n)
                if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n <= max as f64 =>
            {
                Some(*n as u64)
            }
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                // Longer than anything kept is never read whole.
                Ok(Scalar::Str(truncate(v, NAME_CAP + 4)))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

struct DocSeed<'w> {
    wanted: Option<&'w HashSet<String>>,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    /// `None`: not an object.
    type Value = Option<Doc>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Option<Doc>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut doc = Doc {
            jobs: PeerJobs::default(),
            had_jobs: false,
        };
        while let Some(key) = map.next_key::<Scalar>()? {
            match key.text(16).as_deref() {
                Some("servername") => {
                    doc.jobs.servername = map.next_value::<Scalar>()?.text(200);
                }
                Some("generated_at") => doc.jobs.generated_at = map.next_value::<Scalar>()?.time(),
                Some("jobs") if !doc.had_jobs => {
                    let list = map.next_value_seed(ListSeed {
                        wanted: self.wanted,
                        into: &mut doc.jobs.jobs,
                    })?;
                    doc.had_jobs = list;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(doc))
    }
    // Anything but an object: read to its end, then refused.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The `jobs` list: each entry that is an object with a `job` name asked about is kept
/// (the first of each name); anything else is read past.
struct ListSeed<'w, 'm> {
    wanted: Option<&'w HashSet<String>>,
    into: &'m mut HashMap<String, PeerJob>,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_> {
    /// Whether it was a list.
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of jobs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(entry) = seq.next_element::<Entry>()? {
            let Entry(Some((name, job))) = entry else {
                continue;
            };
            if self.wanted.is_some_and(|w| !w.contains(&name)) || self.into.contains_key(&name) {
                continue;
            }
            self.into.insert(name, job);
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// One element of the list: `Some` when it is an object with a usable `job` name.
struct Entry(Option<(String, PeerJob)>);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a job entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let (mut name, mut state, mut ok, mut failures) = (None, None, None, None);
                let (mut last_run, mut interval, mut message) = (None, None, None);
                while let Some(key) = map.next_key::<Scalar>()? {
                    let key = key.text(32);
                    if key.is_none() {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    let value = map.next_value::<Scalar>()?;
                    match key.as_deref() {
                        Some("job") => {
                            name = match &value {
                                Scalar::Str(s) if s.len() <= NAME_CAP && !s.is_empty() => {
                                    Some(s.clone())
                                }
                                _ => None,
                            }
                        }
                        Some("state") => state = value.text(40),
                        Some("ok") => {
                            ok = match value {
                                Scalar::Bool(b) => Some(b),
                                _ => None,
                            }
                        }
                        Some("consecutive_failures") => {
                            failures = value.whole(u64::from(u32::MAX)).map(|n| n as u32)
                        }
                        Some("last_run") => last_run = value.time(),
                        Some("interval_seconds") => {
                            interval = value
                                .whole(MAX_INTERVAL_SECS)
                                .filter(|n| *n > 0)
                                .map(Duration::from_secs)
                        }
                        Some("message") => message = value.text(MESSAGE_CAP),
                        _ => {}
                    }
                }
                let Some(name) = name else {
                    return Ok(Entry(None));
                };
                let state = match (state.as_deref().map(str::trim), ok) {
                    (Some(s), _) if s.eq_ignore_ascii_case("failing") => PeerState::Failing,
                    (Some(s), _) if s.eq_ignore_ascii_case("ok") => PeerState::Ok,
                    (Some(s), _) if !s.is_empty() => PeerState::Other(s.to_string()),
                    (_, Some(true)) => PeerState::Ok,
                    (_, Some(false)) => PeerState::Failing,
                    _ => PeerState::Other("no state".into()),
                };
                Ok(Entry(Some((
                    name,
                    PeerJob {
                        state,
                        consecutive_failures: failures,
                        last_run,
                        interval,
                        message,
                    },
                ))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entry, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Entry(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_unit<E>(self) -> Result<Entry, E> {
                Ok(Entry(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests;
