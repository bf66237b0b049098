//! The jobs of the state file, read by the fast reader: each job is read whole, to check
//! it as serde would, and kept as where its object lies in the text, with what every tick
//! asks of it noted (see `state::jobs`).
//!
//! A large state is read in two halves at once: a second thread starts at a place in the
//! middle of the text that looks like the start of a job, and its reading is used only if
//! the first thread, reading on from the start, arrives exactly there at the start of a
//! job. Otherwise (the place was inside a string, say) the first thread reads on alone, so
//! what is read is always what one thread reading from the start reads.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use super::Reader;
use crate::state::jobs::{Noted, Read};
use crate::state::JobState;

/// Below this many bytes of jobs, one thread reads them all.
const SPLIT_FROM: usize = 1 << 20;

/// The job files jobs were loaded from, each once, in the order first met.
#[derive(Default)]
struct Sources {
    list: Vec<PathBuf>,
    known: HashMap<PathBuf, u32>,
    /// The one found last.
    last: Option<u32>,
}

impl Sources {
    fn index(&mut self, p: Cow<'_, str>) -> Option<u32> {
        // Most jobs come from the file the one before came from.
        if let Some(i) = self.last {
            if self
                .list
                .get(i as usize)
                .is_some_and(|s| s.as_os_str() == &*p)
            {
                return Some(i);
            }
        }
        let p = PathBuf::from(p.into_owned());
        let i = match self.known.get(&p) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.list.len()).ok()?;
                self.known.insert(p.clone(), i);
                self.list.push(p);
                i
            }
        };
        self.last = Some(i);
        Some(i)
    }
}

/// Where a reading of entries ended.
enum Ended {
    /// Past the `}` that closes the jobs.
    Closed,
    /// At the start of an entry, at the place it was asked to stop at.
    AtStop,
}

impl<'a> Reader<'a> {
    /// The jobs object, from its `{`: the jobs in file order, and the job files they name.
    pub(super) fn jobs(&mut self) -> Option<(Vec<Read>, Vec<PathBuf>)> {
        let mut read = Vec::with_capacity(self.b.len() / 384);
        let mut sources = Sources::default();
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some((read, sources.list));
        }
        match self.split_point() {
            None => {
                self.entries(usize::MAX, &mut read, &mut sources)?;
            }
            Some(at) => self.in_halves(at, &mut read, &mut sources)?,
        }
        Some((read, sources.list))
    }

    /// The entries read by this thread up to `at` and by a second one from `at`, or by
    /// this one alone when `at` turns out not to be the start of an entry.
    fn in_halves(&mut self, at: usize, read: &mut Vec<Read>, sources: &mut Sources) -> Option<()> {
        let text = self.text;
        std::thread::scope(|scope| {
            let second = std::thread::Builder::new().spawn_scoped(scope, move || {
                let mut r = Reader::at(text, at);
                let (mut read, mut sources) = (Vec::new(), Sources::default());
                match r.entries(usize::MAX, &mut read, &mut sources)? {
                    Ended::Closed => Some((read, sources, r.i)),
                    Ended::AtStop => None,
                }
            });
            let ended = match &second {
                Ok(_) => self.entries(at, read, sources)?,
                Err(_) => self.entries(usize::MAX, read, sources)?,
            };
            let Ended::AtStop = ended else {
                return Some(());
            };
            match second.ok().map(|h| h.join()) {
                Some(Ok(Some((more, theirs, end)))) => {
                    let map: Vec<Option<u32>> = theirs
                        .list
                        .into_iter()
                        .map(|p| sources.index(Cow::Owned(p.into_os_string().into_string().ok()?)))
                        .collect();
                    read.extend(more.into_iter().map(|mut r| {
                        r.noted.source = r
                            .noted
                            .source
                            .and_then(|i| map.get(i as usize).copied().flatten());
                        r
                    }));
                    self.i = end;
                    Some(())
                }
                // The second half is not what serde reads: this thread finds out why.
                _ => self.entries(usize::MAX, read, sources).map(|_| ()),
            }
        })
    }

    /// Where a second thread may start: the first place after the middle of what is left
    /// that looks like the start of a job (`},"` ahead of it), for a large state only.
    pub(super) fn split_point(&mut self) -> Option<usize> {
        self.ws();
        let left = self.b.len().checked_sub(self.i)?;
        if left < SPLIT_FROM {
            return None;
        }
        let mid = self.i + left / 2;
        let found = self.b.get(mid..)?.windows(3).position(|w| w == b"},\"")?;
        Some(mid + found + 2)
    }

    /// Entries (`"name":{...}`, `,` between them) until the `}` that closes the jobs, or
    /// until the start of an entry at `stop`.
    fn entries(
        &mut self,
        stop: usize,
        read: &mut Vec<Read>,
        sources: &mut Sources,
    ) -> Option<Ended> {
        loop {
            let name = self.string()?.into_owned();
            self.eat(b':')?;
            self.ws();
            let start = self.i;
            let (mut js, mut source) = (JobState::default(), None);
            self.job(&mut js, true, &mut source)?;
            let source = match source {
                None => None,
                Some(p) => Some(sources.index(p)?),
            };
            read.push(Read {
                name,
                at: start..self.i,
                noted: Noted {
                    status: js.status,
                    notified: js.notified,
                    last_started: js.last_started,
                    left_config: js.left_config,
                    resent: !js.resent.is_empty(),
                    source,
                },
            });
            if self.next_or_end(b'}')? {
                return Some(Ended::Closed);
            }
            self.ws();
            if self.i == stop {
                return Some(Ended::AtStop);
            }
        }
    }
}
