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
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{timestamp, JobState, JobStatus, State};

/// How deep a value handed to serde may nest: serde_json refuses more than 128 levels in
/// the whole file, and this stays well below what is left of them.
const MAX_DEPTH: usize = 100;

/// `state` as `serde_json::to_vec` writes it, appended to `out`.
pub fn write(state: &State, out: &mut Vec<u8>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"version\":");
    uint(out, u64::from(state.version));
    out.extend_from_slice(b",\"jobs\":{");
    for (i, (name, js)) in state.jobs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        job(out, js)?;
    }
    out.extend_from_slice(b"},\"heartbeat\":");
    serde(out, &state.heartbeat)?;
    out.extend_from_slice(b",\"mail\":");
    serde(out, &state.mail)?;
    out.extend_from_slice(b",\"outbox\":");
    serde(out, &state.outbox)?;
    if !state.config_problems.is_empty() {
        out.extend_from_slice(b",\"config_problems\":");
        serde(out, &state.config_problems)?;
    }
    if !state.silences.is_empty() {
        out.extend_from_slice(b",\"silences\":");
        serde(out, &state.silences)?;
    }
    out.push(b'}');
    Ok(())
}

fn serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, v)
}

/// One job, its fields in the order of `JobState`'s declaration, skipped as its
/// `skip_serializing_if`s skip them.
fn job(out: &mut Vec<u8>, js: &JobState) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"status\":\"");
    out.extend_from_slice(js.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"consecutive_failures\":");
    uint(out, u64::from(js.consecutive_failures));
    opt_time(out, b",\"first_failure\":", &js.first_failure);
    opt_time(out, b",\"last_notify\":", &js.last_notify);
    out.extend_from_slice(b",\"notified\":");
    out.extend_from_slice(if js.notified { b"true" } else { b"false" });
    opt_time(out, b",\"last_started\":", &js.last_started);
    opt_time(out, b",\"last_run\":", &js.last_run);
    opt_time(out, b",\"last_success\":", &js.last_success);
    opt_string(out, b",\"last_error\":", &js.last_error);
    opt_string(out, b",\"last_message\":", &js.last_message);
    if let Some(ms) = js.last_duration_ms {
        out.extend_from_slice(b",\"last_duration_ms\":");
        uint(out, ms);
    }
    for (key, n) in [
        (&b",\"total_attempts\":"[..], js.total_attempts),
        (b",\"successes\":", js.successes),
        (b",\"failures\":", js.failures),
        (b",\"total_count\":", js.total_count),
    ] {
        out.extend_from_slice(key);
        uint(out, n);
    }
    out.extend_from_slice(b",\"recent\":");
    string(out, &js.recent);
    if !js.perfdata.is_empty() {
        out.extend_from_slice(b",\"perfdata\":");
        serde(out, &js.perfdata)?;
    }
    if js.cert_not_after.is_some() {
        out.extend_from_slice(b",\"cert_not_after\":");
        serde(out, &js.cert_not_after)?;
    }
    if !js.resent.is_empty() {
        out.extend_from_slice(b",\"resent\":");
        serde(out, &js.resent)?;
    }
    opt_time(out, b",\"first_seen\":", &js.first_seen);
    opt_time(out, b",\"last_pushed\":", &js.last_pushed);
    opt_time(out, b",\"left_config\":", &js.left_config);
    if let Some(source) = &js.source {
        out.extend_from_slice(b",\"source\":");
        // A path that is not UTF-8 is serde's error, as before.
        match source.to_str() {
            Some(s) => string(out, s),
            None => serde(out, source)?,
        }
    }
    if js.ack.is_some() {
        out.extend_from_slice(b",\"ack\":");
        serde(out, &js.ack)?;
    }
    if js.held.is_some() {
        out.extend_from_slice(b",\"held\":");
        serde(out, &js.held)?;
    }
    if js.confirmation.is_some() {
        out.extend_from_slice(b",\"confirmation\":");
        serde(out, &js.confirmation)?;
    }
    out.push(b'}');
    Ok(())
}

fn opt_time(out: &mut Vec<u8>, key: &[u8], t: &Option<DateTime<Utc>>) {
    if let Some(t) = t {
        out.extend_from_slice(key);
        let mut buf = [0u8; 30];
        match timestamp::write(t, &mut buf) {
            Some(n) => {
                out.push(b'"');
                out.extend_from_slice(&buf[..n]);
                out.push(b'"');
            }
            None => string(out, &timestamp::format(t)),
        }
    }
}

fn opt_string(out: &mut Vec<u8>, key: &[u8], s: &Option<String>) {
    if let Some(s) = s {
        out.extend_from_slice(key);
        string(out, s);
    }
}

fn uint(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control characters as
/// `\b \t \n \f \r` or `\u00xx`, everything else as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    if plain(s) {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// What `serde_json::from_str::<State>(text)` returns when it returns a state, or `None`
/// when this reader leaves the text to it (see the module's header).
pub fn parse(text: &str) -> Option<State> {
    let mut p = Reader {
        text,
        b: text.as_bytes(),
        i: 0,
    };
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
                state.jobs = p.jobs()?;
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

    fn opt_string(&mut self) -> Option<Option<String>> {
        if self.null() {
            return Some(None);
        }
        Some(Some(self.string()?.into_owned()))
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

    fn jobs(&mut self) -> Option<BTreeMap<String, JobState>> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(BTreeMap::new());
        }
        let mut jobs: Vec<(String, JobState)> = Vec::with_capacity(self.b.len() / 512);
        loop {
            let name = self.string()?.into_owned();
            self.eat(b':')?;
            jobs.push((name, JobState::default()));
            let (_, js) = jobs.last_mut()?;
            self.job(js)?;
            if self.next_or_end(b'}')? {
                break;
            }
        }
        // As written, the names are in order and the map is built at once; otherwise
        // one by one, a repeated name's last value winning as with serde.
        if jobs.windows(2).all(|w| w[0].0 < w[1].0) {
            Some(jobs.into_iter().collect())
        } else {
            let mut map = BTreeMap::new();
            for (name, js) in jobs {
                map.insert(name, js);
            }
            Some(map)
        }
    }

    /// One job's fields into `js` (a default one).
    fn job(&mut self, js: &mut JobState) -> Option<()> {
        let mut seen = 0u32;
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            let bit = match &*key {
                "status" => {
                    js.status = match &*self.string()? {
                        "pending" => JobStatus::Pending,
                        "ok" => JobStatus::Ok,
                        "failing" => JobStatus::Failing,
                        _ => return None,
                    };
                    0
                }
                "consecutive_failures" => {
                    js.consecutive_failures = u32::try_from(self.uint()?).ok()?;
                    1
                }
                "first_failure" => {
                    js.first_failure = self.opt_time()?;
                    2
                }
                "last_notify" => {
                    js.last_notify = self.opt_time()?;
                    3
                }
                "notified" => {
                    js.notified = self.bool()?;
                    4
                }
                "last_started" => {
                    js.last_started = self.opt_time()?;
                    5
                }
                "last_run" => {
                    js.last_run = self.opt_time()?;
                    6
                }
                "last_success" => {
                    js.last_success = self.opt_time()?;
                    7
                }
                "last_error" => {
                    js.last_error = self.opt_string()?;
                    8
                }
                "last_message" => {
                    js.last_message = self.opt_string()?;
                    9
                }
                "last_duration_ms" => {
                    js.last_duration_ms = if self.null() {
                        None
                    } else {
                        Some(self.uint()?)
                    };
                    10
                }
                "total_attempts" => {
                    js.total_attempts = self.uint()?;
                    11
                }
                "successes" => {
                    js.successes = self.uint()?;
                    12
                }
                "failures" => {
                    js.failures = self.uint()?;
                    13
                }
                "total_count" => {
                    js.total_count = self.uint()?;
                    14
                }
                "recent" => {
                    js.recent = self.string()?.into_owned();
                    15
                }
                "perfdata" => {
                    js.perfdata = self.serde()?;
                    16
                }
                "cert_not_after" => {
                    js.cert_not_after = self.serde()?;
                    17
                }
                "resent" => {
                    js.resent = self.serde()?;
                    18
                }
                "first_seen" => {
                    js.first_seen = self.opt_time()?;
                    19
                }
                "last_pushed" => {
                    js.last_pushed = self.opt_time()?;
                    20
                }
                "left_config" => {
                    js.left_config = self.opt_time()?;
                    21
                }
                "source" => {
                    js.source = self.opt_string()?.map(std::path::PathBuf::from);
                    22
                }
                "ack" => {
                    js.ack = self.serde()?;
                    23
                }
                "held" => {
                    js.held = self.serde()?;
                    24
                }
                "confirmation" => {
                    js.confirmation = self.serde()?;
                    25
                }
                _ => return None,
            };
            self.once(&mut seen, bit)?;
            if self.next_or_end(b'}')? {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;
