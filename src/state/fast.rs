//! The state file read and written without serde's generic machinery for the part that
//! grows with the configuration: the jobs. A tick with 10,000 jobs reads and writes all of
//! them, and through `serde_json`'s derive that cost some 20,000 instructions a job.
//!
//! Writing gives exactly the bytes `serde_json::to_vec(&state)` gives (the jobs by hand,
//! the rest through serde). Reading is a fast path that either returns exactly what
//! `serde_json::from_str::<State>` returns or gives up (`None`), and the caller then takes
//! the general path: anything it does not know (an unknown or repeated field, a number
//! written as `1.0`, a value of the wrong type, nesting deeper than it follows) is left to
//! serde, so errors, and the corrupt files moved aside, are serde's as before. The parts
//! that are rare or small (the heartbeat, the outbox, a job's perfdata, acknowledgement,
//! confirmation...) are cut out of the text and handed to serde as they are.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::jobs::JobMap;
use super::{timestamp, JobState, JobStatus, State};

/// How deep a value handed to serde may nest: serde_json refuses more than 128 levels in
/// the whole file, and this stays well below what is left of them.
const MAX_DEPTH: usize = 100;

mod jobs;
mod write;
pub use write::{write, write_in_pieces, PIECE};

/// What `serde_json::from_str::<State>(text)` returns when it returns a state, or `None`
/// when this reader leaves the text to it (see the module's header). The jobs are read
/// and checked, and kept as their text (see [`JobMap`]).
pub fn parse(whole: Arc<String>) -> Option<State> {
    let mut p = Reader::at(&whole, 0);
    let mut state = State::default();
    let (mut version, mut seen) = (None, 0u32);
    p.eat(b'{')?;
    if p.peek()? == b'}' {
        return None; // no version: serde's error
    }
    loop {
        let key = p.string()?;
        p.eat(b':')?;
        let bit = match &*key {
            "version" => {
                version = Some(u32::try_from(p.uint()?).ok()?);
                0
            }
            "jobs" => {
                let (read, sources) = p.jobs()?;
                state.jobs = JobMap::from_read(Arc::clone(&whole), sources, read);
                1
            }
            "heartbeat" => {
                state.heartbeat = p.serde()?;
                2
            }
            "mail" => {
                state.mail = p.serde()?;
                3
            }
            "outbox" => {
                state.outbox = p.serde()?;
                4
            }
            "config_problems" => {
                state.config_problems = p.serde()?;
                5
            }
            "silences" => {
                state.silences = p.serde()?;
                6
            }
            _ => return None,
        };
        p.once(&mut seen, bit)?;
        if p.next_or_end(b'}')? {
            break;
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return None;
    }
    state.version = version?;
    Some(state)
}

/// One job's state from its JSON object (exactly: nothing before or after but blanks), as
/// serde reads it, or `None` when this reader leaves it to serde.
pub fn job(text: &str) -> Option<JobState> {
    let mut p = Reader::at(text, 0);
    let mut js = JobState::default();
    p.job(&mut js, false, &mut None)?;
    p.ws();
    (p.i == p.b.len()).then_some(js)
}

/// The index of the first byte at or after `from` that ends the plain part of a string:
/// `"`, `\\` or a control character (or the length). Eight bytes at a time.
fn plain_until(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        // Bytes below 0x20 (`v - 0x20` borrows), and bytes equal to `"` or `\\`; the
        // lowest flagged byte is exact (a borrow only spreads upwards).
        let hits = (v.wrapping_sub(ONES * 0x20) & !v & HIGH)
            | zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// Whether `s` is written as it is inside a JSON string (nothing to escape).
fn plain(s: &str) -> bool {
    plain_until(s.as_bytes(), 0) == s.len()
}

struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `text` from byte `i`.
    fn at(text: &'a str, i: usize) -> Reader<'a> {
        Reader {
            text,
            b: text.as_bytes(),
            i,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Marks field `bit` as read; `None` the second time (serde's "duplicate field").
    fn once(&mut self, seen: &mut u32, bit: u32) -> Option<()> {
        let mask = 1u32 << bit;
        (*seen & mask == 0).then(|| *seen |= mask)
    }

    /// Field `next` if its key comes next, written as the writer writes it (`"key":`),
    /// read past; else nothing read.
    fn expected_key(&mut self, next: usize) -> Option<usize> {
        let key = FIELDS.get(next)?.as_bytes();
        let rest = self.b.get(self.i..)?;
        let [b'"', rest @ ..] = rest else {
            return None;
        };
        let [b'"', b':', ..] = rest.strip_prefix(key)? else {
            return None;
        };
        self.i += key.len() + 3;
        Some(next)
    }

    /// After a member: `,` (`false`, another follows) or `close` (`true`).
    fn next_or_end(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(false)
            }
            c if c == close => {
                self.i += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// `null`, consumed, or nothing consumed.
    fn null(&mut self) -> bool {
        self.ws();
        let is = self.b.get(self.i..self.i + 4) == Some(b"null");
        if is {
            self.i += 4;
        }
        is
    }

    /// A string; borrowed from the text unless it has escapes (then serde reads it).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        self.i = plain_until(self.b, self.i);
        match *self.b.get(self.i)? {
            b'"' => {
                let s = self.text.get(start..self.i)?;
                self.i += 1;
                Some(Cow::Borrowed(s))
            }
            b'\\' => {
                self.skip_string_rest()?;
                let quoted = self.text.get(start - 1..self.i)?;
                serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
            }
            _ => None, // a control character: serde's error
        }
    }

    /// From inside a string to just past its closing quote.
    fn skip_string_rest(&mut self) -> Option<()> {
        loop {
            self.i = plain_until(self.b, self.i);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => self.i += 2,
                _ => return None,
            }
        }
    }

    /// An unsigned integer written plainly (no sign, fraction or exponent).
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut n = 0u64;
        while let Some(&c) = self.b.get(self.i).filter(|c| c.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let len = self.i - start;
        let leading_zero = len > 1 && self.b[start] == b'0';
        let more = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        (len > 0 && !leading_zero && !more).then_some(n)
    }

    fn bool(&mut self) -> Option<bool> {
        self.ws();
        let rest = self.b.get(self.i..)?;
        if rest.starts_with(b"true") {
            self.i += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.i += 5;
            Some(false)
        } else {
            None
        }
    }

    fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(self.string()?))
    }

    fn opt_time(&mut self) -> Option<Option<DateTime<Utc>>> {
        if self.null() {
            return Some(None);
        }
        timestamp::parse(&self.string()?).ok().map(Some)
    }

    /// The next value, cut out of the text whole and read by serde.
    fn serde<T: DeserializeOwned>(&mut self) -> Option<T> {
        serde_json::from_str(self.skip()?).ok()
    }

    /// The text of the next value (checked by whoever reads it).
    fn skip(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        match *self.b.get(self.i)? {
            b'"' => {
                self.i += 1;
                self.skip_string_rest()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.i)? {
                        b'"' => {
                            self.i += 1;
                            self.skip_string_rest()?;
                            continue;
                        }
                        b'{' | b'[' => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return None;
                            }
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
            }
        }
        self.text.get(start..self.i).filter(|s| !s.is_empty())
    }

    /// One job's fields into `js` (a default one). With `only_check`, its strings are
    /// checked and not kept (the job is kept as its text), except its source, left in
    /// `source`.
    fn job(
        &mut self,
        js: &mut JobState,
        only_check: bool,
        source: &mut Option<Cow<'a, str>>,
    ) -> Option<()> {
        let mut seen = 0u32;
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        // As written, the fields come in declaration order: each is looked for first
        // where the one before it was found.
        let mut next = 0;
        loop {
            let bit = match self.expected_key(next) {
                Some(bit) => bit,
                None => {
                    let key = self.string()?;
                    self.eat(b':')?;
                    field(&key, next)?
                }
            };
            next = bit + 1;
            match bit {
                0 => {
                    js.status = match &*self.string()? {
                        "pending" => JobStatus::Pending,
                        "ok" => JobStatus::Ok,
                        "failing" => JobStatus::Failing,
                        _ => return None,
                    }
                }
                1 => js.consecutive_failures = u32::try_from(self.uint()?).ok()?,
                2 => js.first_failure = self.opt_time()?,
                3 => js.last_notify = self.opt_time()?,
                4 => js.notified = self.bool()?,
                5 => js.last_started = self.opt_time()?,
                6 => js.last_run = self.opt_time()?,
                7 => js.last_success = self.opt_time()?,
                8 => {
                    let s = self.opt_string()?;
                    if !only_check {
                        js.last_error = s.map(Cow::into_owned);
                    }
                }
                9 => {
                    let s = self.opt_string()?;
                    if !only_check {
                        js.last_message = s.map(Cow::into_owned);
                    }
                }
                10 => {
                    js.last_duration_ms = if self.null() {
                        None
                    } else {
                        Some(self.uint()?)
                    }
                }
                11 => js.total_attempts = self.uint()?,
                12 => js.successes = self.uint()?,
                13 => js.failures = self.uint()?,
                14 => js.total_count = self.uint()?,
                15 => {
                    let s = self.string()?;
                    if !only_check {
                        js.recent = s.into_owned();
                    }
                }
                16 => js.perfdata = self.serde()?,
                17 => js.cert_not_after = self.serde()?,
                18 => js.resent = self.serde()?,
                19 => js.first_seen = self.opt_time()?,
                20 => js.last_pushed = self.opt_time()?,
                21 => js.left_config = self.opt_time()?,
                22 => {
                    let s = self.opt_string()?;
                    if only_check {
                        *source = s;
                    } else {
                        js.source = s.map(|s| std::path::PathBuf::from(s.into_owned()));
                    }
                }
                23 => js.ack = self.serde()?,
                24 => js.held = self.serde()?,
                _ => js.confirmation = self.serde()?,
            }
            self.once(&mut seen, u32::try_from(bit).ok()?)?;
            if self.next_or_end(b'}')? {
                return Some(());
            }
        }
    }
}

/// A job's fields, in the order `JobState` declares (and the writer writes) them.
const FIELDS: [&str; 26] = [
    "status",
    "consecutive_failures",
    "first_failure",
    "last_notify",
    "notified",
    "last_started",
    "last_run",
    "last_success",
    "last_error",
    "last_message",
    "last_duration_ms",
    "total_attempts",
    "successes",
    "failures",
    "total_count",
    "recent",
    "perfdata",
    "cert_not_after",
    "resent",
    "first_seen",
    "last_pushed",
    "left_config",
    "source",
    "ack",
    "held",
    "confirmation",
];

/// The index of the field `key` names, looked for from `from` on (then from the start);
/// `None` for an unknown one.
fn field(key: &str, from: usize) -> Option<usize> {
    let from = from.min(FIELDS.len());
    (from..FIELDS.len())
        .chain(0..from)
        .find(|&i| FIELDS.get(i).is_some_and(|f| *f == key))
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
