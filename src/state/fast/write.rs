//! Writing the state: the bytes `serde_json::to_vec(&state)` gives, the jobs by hand.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::plain;
use crate::state::jobs::Written;
use crate::state::{timestamp, JobState, State};

/// About how much [`write_in_pieces`] makes before it hands it over.
pub const PIECE: usize = 64 * 1024;

/// `state` as `serde_json::to_vec` writes it, appended to `out`.
pub fn write(state: &State, out: &mut Vec<u8>) -> std::io::Result<()> {
    write_in_pieces(state, out, &mut |_| Ok(()))
}

/// [`write`], handing `out` to `flush` whenever it holds [`PIECE`] bytes or more (`flush`
/// empties it, or lets it grow); the end is left in `out`.
pub fn write_in_pieces(
    state: &State,
    out: &mut Vec<u8>,
    flush: &mut dyn FnMut(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut flush = |out: &mut Vec<u8>| {
        if out.len() >= PIECE {
            flush(out)
        } else {
            Ok(())
        }
    };
    out.extend_from_slice(b"{\"version\":");
    uint(out, u64::from(state.version));
    out.extend_from_slice(b",\"jobs\":{");
    for (i, (name, js)) in state.jobs.for_writing().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        match js {
            // A job nothing changed: the text it was read from.
            Written::Text(text) => out.extend_from_slice(text.as_bytes()),
            Written::State(js) => job(out, js)?,
        }
        flush(out)?;
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
