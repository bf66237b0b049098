//! The jobs' state, by name, read lazily: a job's state is taken from the state file's
//! text only when something asks for it, and a job nothing changed is written back as the
//! very text it was read from. A tick with 10,000 jobs and nothing due then neither builds
//! nor writes 10,000 job states, only copies their text.
//!
//! What a tick asks of every job (is it firing, when did it start, where was it loaded
//! from...) is noted when the file is read, as a [`Glance`], so asking it takes nothing
//! apart. The text a job is kept as was read through [`super::fast`] when the file was
//! loaded, so reading it again later gives the same state; a job changed through
//! [`JobMap::get_mut`] (or any other `mut` way in) is written from its state.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{JobState, JobStatus};

/// Every job's state by name, in name order (as a `BTreeMap`, which it stands in for).
#[derive(Clone, Default)]
pub struct JobMap {
    /// The state file's text, which the jobs still as read are parts of.
    text: Arc<String>,
    /// The job files the jobs still as read were loaded from (most share one).
    sources: Vec<PathBuf>,
    slots: BTreeMap<String, Slot>,
}

#[derive(Clone)]
struct Slot {
    /// While the job is as read: its JSON object in the text, and what was noted of it.
    raw: Option<(Range<usize>, Noted)>,
    /// The job's state as read, once asked for.
    read: OnceLock<Box<JobState>>,
    /// The job's state once taken to be changed (or made here): then `raw` is gone.
    owned: Option<Box<JobState>>,
}

/// What was noted of a job as it was read (see [`Glance`]).
#[derive(Clone, Copy)]
pub(super) struct Noted {
    pub status: JobStatus,
    pub notified: bool,
    pub last_started: Option<DateTime<Utc>>,
    pub left_config: Option<DateTime<Utc>>,
    pub resent: bool,
    /// An index in `JobMap::sources`.
    pub source: Option<u32>,
}

/// What each tick asks of every job, known without reading the job's state whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glance<'a> {
    pub status: JobStatus,
    pub notified: bool,
    pub last_started: Option<DateTime<Utc>>,
    pub left_config: Option<DateTime<Utc>>,
    /// Whether a firing alert was repeated to some channel in this streak.
    pub resent: bool,
    pub source: Option<&'a Path>,
}

impl<'a> Glance<'a> {
    pub(crate) fn of(js: &'a JobState) -> Glance<'a> {
        Glance {
            status: js.status,
            notified: js.notified,
            last_started: js.last_started,
            left_config: js.left_config,
            resent: !js.resent.is_empty(),
            source: js.source.as_deref(),
        }
    }
}

/// A job read by the fast reader: name, its object's place in the text, and what was noted.
pub(super) struct Read {
    pub name: String,
    pub at: Range<usize>,
    pub noted: Noted,
}

impl Slot {
    fn owned(js: JobState) -> Slot {
        Slot {
            raw: None,
            read: OnceLock::new(),
            owned: Some(Box::new(js)),
        }
    }

    fn at(&self) -> Range<usize> {
        self.raw.as_ref().map_or(0..0, |(at, _)| at.clone())
    }

    fn get(&self, text: &str) -> &JobState {
        match &self.owned {
            Some(js) => js,
            None => self.read.get_or_init(|| Box::new(reread(text, self.at()))),
        }
    }

    fn get_mut(&mut self, text: &str) -> &mut JobState {
        let at = self.at();
        self.raw = None;
        let read = &mut self.read;
        self.owned.get_or_insert_with(|| {
            std::mem::take(read)
                .into_inner()
                .unwrap_or_else(|| Box::new(reread(text, at)))
        })
    }

    fn into_state(self, text: &str) -> JobState {
        let at = self.at();
        match self.owned.or_else(|| self.read.into_inner()) {
            Some(js) => *js,
            None => reread(text, at),
        }
    }
}

/// A job's state from its text, read by the fast reader once already when the file was
/// loaded (so it reads again). Should it not, the job starts afresh, and says so.
fn reread(text: &str, at: Range<usize>) -> JobState {
    match text.get(at).and_then(super::fast::job) {
        Some(js) => js,
        None => {
            log::error!(
                "a job's state could not be read again from the state file: it starts afresh"
            );
            JobState::default()
        }
    }
}

impl JobMap {
    pub fn new() -> JobMap {
        JobMap::default()
    }

    /// The jobs the fast reader read from `text`, in file order; a repeated name's last
    /// object wins (as serde's map does).
    pub(super) fn from_read(text: Arc<String>, sources: Vec<PathBuf>, read: Vec<Read>) -> JobMap {
        let slot = |at, noted| Slot {
            raw: Some((at, noted)),
            read: OnceLock::new(),
            owned: None,
        };
        let slots = if read.windows(2).all(|w| w[0].name < w[1].name) {
            read.into_iter()
                .map(|r| (r.name, slot(r.at, r.noted)))
                .collect()
        } else {
            let mut map = BTreeMap::new();
            for r in read {
                map.insert(r.name, slot(r.at, r.noted));
            }
            map
        };
        JobMap {
            text,
            sources,
            slots,
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&JobState> {
        self.slots.get(name).map(|s| s.get(&self.text))
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut JobState> {
        let text = &self.text;
        self.slots.get_mut(name).map(|s| s.get_mut(text))
    }

    /// What each tick asks of a job, without reading its state whole.
    pub fn glance(&self, name: &str) -> Option<Glance<'_>> {
        self.slots.get(name).map(|s| self.glance_of(s))
    }

    fn glance_of<'a>(&'a self, slot: &'a Slot) -> Glance<'a> {
        match &slot.raw {
            Some((_, n)) => Glance {
                status: n.status,
                notified: n.notified,
                last_started: n.last_started,
                left_config: n.left_config,
                resent: n.resent,
                source: n
                    .source
                    .and_then(|i| self.sources.get(i as usize))
                    .map(PathBuf::as_path),
            },
            None => Glance::of(slot.get(&self.text)),
        }
    }

    /// Every job's [`Glance`], in name order.
    pub fn glances(&self) -> impl Iterator<Item = (&String, Glance<'_>)> {
        self.slots.iter().map(|(n, s)| (n, self.glance_of(s)))
    }

    pub fn entry(&mut self, name: String) -> Entry<'_> {
        Entry { map: self, name }
    }

    pub fn insert(&mut self, name: String, js: JobState) -> Option<JobState> {
        let text = &self.text;
        self.slots
            .insert(name, Slot::owned(js))
            .map(|s| s.into_state(text))
    }

    pub fn remove(&mut self, name: &str) -> Option<JobState> {
        let slot = self.slots.remove(name)?;
        Some(slot.into_state(&self.text))
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut JobState) -> bool) {
        let text = &self.text;
        self.slots.retain(|n, s| keep(n, s.get_mut(text)));
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + '_ {
        self.slots.keys()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&String, &JobState)> + '_ {
        self.slots.iter().map(|(n, s)| (n, s.get(&self.text)))
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &JobState> + '_ {
        self.slots.values().map(|s| s.get(&self.text))
    }

    /// Every job, each taken as changed.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut JobState)> + '_ {
        let text = &self.text;
        self.slots
            .iter_mut()
            .map(move |(n, s)| (n, s.get_mut(text)))
    }

    /// Every job, each taken as changed.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut JobState> + '_ {
        let text = &self.text;
        self.slots.values_mut().map(move |s| s.get_mut(text))
    }

    /// Each job for the writer: its text while it is as read, else its state.
    pub(super) fn for_writing(&self) -> impl Iterator<Item = (&String, Written<'_>)> + '_ {
        self.slots.iter().map(|(n, s)| {
            let w = match s.raw.as_ref().and_then(|(at, _)| self.text.get(at.clone())) {
                Some(t) => Written::Text(t),
                None => Written::State(s.get(&self.text)),
            };
            (n, w)
        })
    }
}

/// How a job is written: the text it was read from, unchanged, or its state.
pub(super) enum Written<'a> {
    Text(&'a str),
    State(&'a JobState),
}

pub struct Entry<'a> {
    map: &'a mut JobMap,
    name: String,
}

impl<'a> Entry<'a> {
    pub fn or_default(self) -> &'a mut JobState {
        let text = &self.map.text;
        self.map
            .slots
            .entry(self.name)
            .or_insert_with(|| Slot::owned(JobState::default()))
            .get_mut(text)
    }
}

impl std::ops::Index<&str> for JobMap {
    type Output = JobState;

    /// As a map's: the job must be there.
    fn index(&self, name: &str) -> &JobState {
        match self.get(name) {
            Some(js) => js,
            None => panic!("no state for job {name:?}"),
        }
    }
}

impl std::fmt::Debug for JobMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for JobMap {
    fn eq(&self, other: &JobMap) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl FromIterator<(String, JobState)> for JobMap {
    fn from_iter<I: IntoIterator<Item = (String, JobState)>>(iter: I) -> JobMap {
        JobMap {
            slots: iter
                .into_iter()
                .map(|(n, js)| (n, Slot::owned(js)))
                .collect(),
            ..JobMap::default()
        }
    }
}

impl Serialize for JobMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for JobMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JobMap, D::Error> {
        Ok(BTreeMap::<String, JobState>::deserialize(d)?
            .into_iter()
            .collect())
    }
}
