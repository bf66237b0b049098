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

/// Appends `e`, which follows `prev`, to a raw stream.
pub(crate) fn push(stream: &mut Vec<u8>, prev: &Elem, e: &Elem) {
    put_varint(stream, e.ts.saturating_sub(prev.ts).max(0) as u64);
    put_varint(stream, e.duration_ms.map_or(0, |d| d.saturating_add(1)));
    let (p, n) = (
        prev.message.as_deref().map(str::as_bytes),
        e.message.as_deref().map(str::as_bytes),
    );
    match (p, n) {
        (_, None) => put_varint(stream, 0),
        (Some(p), Some(n)) if p == n => put_varint(stream, 1),
        (p, Some(n)) => {
            let common = p
                .map(|p| p.iter().zip(n).take_while(|(a, b)| a == b).count())
                .unwrap_or(0);
            put_varint(stream, common as u64 + 2);
            put_varint(stream, (n.len() - common) as u64);
            stream.extend_from_slice(&n[common..]);
        }
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
    while pos < body.len() {
        let prev = out.last()?;
        let ts = prev
            .ts
            .saturating_add(i64::try_from(get_varint(body, &mut pos)?).ok()?);
        let duration_ms = get_varint(body, &mut pos)?.checked_sub(1);
        let message = match get_varint(body, &mut pos)? {
            0 => None,
            1 => prev.message.clone(),
            c => {
                let common = usize::try_from(c - 2).ok()?;
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
        ];
        let mut s = empty();
        for w in elems.windows(2) {
            push(&mut s, &w[0], &w[1]);
        }
        let n = elems.len() as u64;
        assert_eq!(expand(elems[0].clone(), n, Some(&s)).unwrap(), elems, "raw");
        let mut long = s.clone();
        for _ in 0..20 {
            push(&mut long, &elems[5], &elems[5]);
        }
        let closed = close(&long);
        assert!(!is_raw(&closed));
        assert!(closed.len() < long.len());
        assert_eq!(
            expand(elems[0].clone(), n + 20, Some(&closed))
                .unwrap()
                .len(),
            26
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
