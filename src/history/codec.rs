//! How a run of routine results is packed into one row: the first result lives in the
//! row's own columns, every later one in `elems`, a byte stream of (time step, duration,
//! message change) per result. A closed run is deflated. Decoding gives back every
//! result exactly: time (to the millisecond), duration and message.

use std::io::{Read, Write};

/// `elems` starts with one of these bytes.
const RAW: u8 = 0;
const DEFLATED: u8 = 1;

/// One result of a run, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Elem {
    pub ts: i64,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

pub(crate) fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// An empty stream, ready for `push`.
pub(crate) fn empty() -> Vec<u8> {
    vec![RAW]
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The runs of ASCII digits in `s`, as byte ranges.
fn digit_runs(s: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_digit() {
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// When `n` is `p` with one number changed ("HTTP 200 in 35 ms" after "HTTP 200 in 41
/// ms"): which number (by position) and its new value.
fn one_number_changed(p: &[u8], n: &[u8]) -> Option<(usize, u64)> {
    let (rp, rn) = (digit_runs(p), digit_runs(n));
    if rp.len() != rn.len() {
        return None;
    }
    let mut changed = None;
    let (mut pp, mut np) = (0, 0);
    for (k, (a, b)) in rp.iter().zip(&rn).enumerate() {
        if p[pp..a.0] != n[np..b.0] {
            return None;
        }
        if p[a.0..a.1] != n[b.0..b.1] {
            if changed.is_some() {
                return None;
            }
            let digits = &n[b.0..b.1];
            if digits.len() > 1 && digits[0] == b'0' || digits.len() > 19 {
                return None;
            }
            let v: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
            changed = Some((k, v));
        }
        pp = a.1;
        np = b.1;
    }
    if p[pp..] != n[np..] {
        return None;
    }
    changed
}

/// Appends `e`, which follows `prev` (itself `prev_step` ms after the one before it, 0
/// for the first), to a raw stream.
pub(crate) fn push(stream: &mut Vec<u8>, prev: &Elem, prev_step: i64, e: &Elem) {
    let step = e.ts.saturating_sub(prev.ts).max(0);
    put_varint(stream, zigzag(step.saturating_sub(prev_step)));
    put_varint(stream, e.duration_ms.map_or(0, |d| d.saturating_add(1)));
    let (p, n) = (
        prev.message.as_deref().map(str::as_bytes),
        e.message.as_deref().map(str::as_bytes),
    );
    match (p, n) {
        (_, None) => put_varint(stream, 0),
        (Some(p), Some(n)) if p == n => put_varint(stream, 1),
        (p, Some(n)) => {
            if let Some((k, v)) = p.and_then(|p| one_number_changed(p, n)) {
                put_varint(stream, 2);
                put_varint(stream, k as u64);
                put_varint(stream, v);
                return;
            }
            let common = p
                .map(|p| p.iter().zip(n).take_while(|(a, b)| a == b).count())
                .unwrap_or(0);
            put_varint(stream, common as u64 + 3);
            put_varint(stream, (n.len() - common) as u64);
            stream.extend_from_slice(&n[common..]);
        }
    }
}

/// The step (ms) between the last two results of `elems` (0 with fewer than two): what
/// `push` needs to append the next one.
pub(crate) fn last_step(elems: &[Elem]) -> i64 {
    match elems {
        [.., a, b] => b.ts.saturating_sub(a.ts).max(0),
        _ => 0,
    }
}

/// Whether the stream is still raw (an open run that can grow).
pub(crate) fn is_raw(stream: &[u8]) -> bool {
    stream.first() == Some(&RAW)
}

/// Deflates a raw stream (a run that is closed).
pub(crate) fn close(stream: &[u8]) -> Vec<u8> {
    if !is_raw(stream) || stream.len() < 48 {
        return stream.to_vec();
    }
    let mut enc = flate2::write::DeflateEncoder::new(vec![DEFLATED], flate2::Compression::fast());
    if enc.write_all(&stream[1..]).is_err() {
        return stream.to_vec();
    }
    match enc.finish() {
        Ok(out) if out.len() < stream.len() => out,
        _ => stream.to_vec(),
    }
}

/// Every result of a run: `first` and those in `stream`, oldest first. `None` when the
/// stream is damaged.
pub(crate) fn expand(first: Elem, n: u64, stream: Option<&[u8]>) -> Option<Vec<Elem>> {
    decode(first, n, stream, true)
}

/// Like `expand`, without the messages (left `None`): for counting.
pub(crate) fn expand_times(first: Elem, n: u64, stream: Option<&[u8]>) -> Option<Vec<Elem>> {
    decode(first, n, stream, false)
}

fn decode(first: Elem, n: u64, stream: Option<&[u8]>, messages: bool) -> Option<Vec<Elem>> {
    let mut out = Vec::with_capacity(n.min(4096) as usize);
    out.push(first);
    let Some(stream) = stream else {
        return (n == 1).then_some(out);
    };
    let inflated;
    let body: &[u8] = match stream.first() {
        Some(&RAW) => &stream[1..],
        Some(&DEFLATED) => {
            let mut buf = Vec::new();
            flate2::read::DeflateDecoder::new(&stream[1..])
                .take(64 << 20)
                .read_to_end(&mut buf)
                .ok()?;
            inflated = buf;
            &inflated
        }
        _ => return None,
    };
    let mut pos = 0;
    let mut step = 0i64;
    while pos < body.len() {
        let prev = out.last()?;
        step = step
            .checked_add(unzigzag(get_varint(body, &mut pos)?))
            .filter(|s| *s >= 0)?;
        let ts = prev.ts.checked_add(step)?;
        let duration_ms = get_varint(body, &mut pos)?.checked_sub(1);
        let code = get_varint(body, &mut pos)?;
        if !messages {
            match code {
                0 | 1 => {}
                2 => {
                    get_varint(body, &mut pos)?;
                    get_varint(body, &mut pos)?;
                }
                _ => {
                    let len = usize::try_from(get_varint(body, &mut pos)?).ok()?;
                    pos = pos.checked_add(len).filter(|p| *p <= body.len())?;
                }
            }
            out.push(Elem {
                ts,
                duration_ms,
                message: None,
            });
            continue;
        }
        let message = match code {
            0 => None,
            1 => prev.message.clone(),
            2 => {
                let k = usize::try_from(get_varint(body, &mut pos)?).ok()?;
                let v = get_varint(body, &mut pos)?;
                let p = prev.message.as_deref()?;
                let &(a, b) = digit_runs(p.as_bytes()).get(k)?;
                Some(format!("{}{v}{}", &p[..a], &p[b..]))
            }
            c => {
                let common = usize::try_from(c - 3).ok()?;
                let len = usize::try_from(get_varint(body, &mut pos)?).ok()?;
                let tail = body.get(pos..pos.checked_add(len)?)?;
                pos += len;
                let head = prev
                    .message
                    .as_deref()
                    .unwrap_or("")
                    .as_bytes()
                    .get(..common)?;
                let mut bytes = Vec::with_capacity(common + len);
                bytes.extend_from_slice(head);
                bytes.extend_from_slice(tail);
                Some(String::from_utf8(bytes).ok()?)
            }
        };
        out.push(Elem {
            ts,
            duration_ms,
            message,
        });
    }
    (out.len() as u64 == n).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(ts: i64, d: Option<u64>, m: Option<&str>) -> Elem {
        Elem {
            ts,
            duration_ms: d,
            message: m.map(str::to_string),
        }
    }

    #[test]
    fn a_run_round_trips_raw_and_deflated() {
        let elems = vec![
            elem(1_000, Some(35), Some("HTTP 200 in 35 ms")),
            elem(61_000, Some(36), Some("HTTP 200 in 36 ms")),
            elem(121_003, None, Some("HTTP 200 in 36 ms")),
            elem(181_003, Some(0), None),
            elem(241_003, Some(7), Some("é ü — other")),
            elem(241_003, Some(u64::MAX - 1), Some("é ü — otro")),
            elem(301_000, Some(41), Some("HTTP 200 in 41 ms")),
            elem(361_000, Some(9), Some("HTTP 200 in 9 ms")),
            elem(421_000, Some(9), Some("HTTP 200 in 09 ms")),
            elem(481_000, Some(9), Some("HTTP 201 in 10 ms")),
            elem(
                541_000,
                Some(9),
                Some("HTTP 201 in 99999999999999999999 ms"),
            ),
            elem(541_000, Some(9), Some("HTTP 201 in 1 ms")),
        ];
        let mut s = empty();
        for i in 1..elems.len() {
            push(&mut s, &elems[i - 1], last_step(&elems[..i]), &elems[i]);
        }
        let n = elems.len() as u64;
        assert_eq!(expand(elems[0].clone(), n, Some(&s)).unwrap(), elems, "raw");
        let mut long = s.clone();
        for _ in 0..20 {
            push(&mut long, &elems[5], 0, &elems[5]);
        }
        let closed = close(&long);
        assert!(!is_raw(&closed));
        assert!(closed.len() < long.len());
        assert_eq!(
            expand(elems[0].clone(), n + 20, Some(&closed))
                .unwrap()
                .len(),
            elems.len() + 20
        );
    }

    #[test]
    fn a_damaged_stream_is_refused_not_a_panic() {
        let first = elem(0, None, Some("x"));
        assert!(expand(first.clone(), 2, Some(&[RAW, 0x80])).is_none());
        assert!(expand(first.clone(), 2, Some(&[9, 1, 2])).is_none());
        assert!(expand(first.clone(), 2, Some(&[RAW, 1, 0, 200, 5])).is_none());
        assert!(expand(first, 3, Some(&[RAW, 1, 0, 1])).is_none());
    }
}
