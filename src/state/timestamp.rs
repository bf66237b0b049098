//! The state file's times, written and read without chrono's general-purpose formatter
//! and parser: a tick with 10,000 jobs reads and writes some 30,000 of them, and those
//! cost more than the rest of the state together. The text is exactly chrono's own
//! (`2026-03-01T12:00:00.123456789Z`, RFC 3339 in UTC with 0, 3, 6 or 9 decimals), and
//! anything the fast path does not know (another offset, a leap second, a year beyond
//! 9999, lower-case letters) goes through chrono, so every file that read before reads
//! the same. Used with `#[serde(with = "timestamp")]` or `"timestamp::opt"`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The text chrono's `Serialize` writes for `t`.
pub fn format(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        // Only ASCII digits and punctuation were written.
        Some(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        None => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// Writes `t` into `buf`, returning the length; `None` where chrono's writer is needed.
pub(super) fn write(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
    use chrono::Datelike;
    let year = t.year();
    let nano = t.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let two = |buf: &mut [u8; 30], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10 % 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    let year = year as u32;
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, t.month());
    buf[7] = b'-';
    two(buf, 8, t.day());
    buf[10] = b'T';
    two(buf, 11, t.hour());
    buf[13] = b':';
    two(buf, 14, t.minute());
    buf[16] = b':';
    two(buf, 17, t.second());
    let mut n = 19;
    let (digits, value) = if nano == 0 {
        (0, 0)
    } else if nano.is_multiple_of(1_000_000) {
        (3, nano / 1_000_000)
    } else if nano.is_multiple_of(1_000) {
        (6, nano / 1_000)
    } else {
        (9, nano)
    };
    if digits > 0 {
        buf[n] = b'.';
        let mut v = value;
        for i in (0..digits).rev() {
            buf[n + 1 + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        n += 1 + digits;
    }
    buf[n] = b'Z';
    Some(n + 1)
}

/// Reads what [`format`] writes, and through chrono anything else chrono reads.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_fast(s.as_bytes()) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<chrono::FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with 1 to 9 decimals; `None` for anything else.
fn parse_fast(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b.len() > 30 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let num = |at: usize, len: usize| -> Option<u32> {
        let mut v = 0u32;
        for &c in b.get(at..at + len)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    };
    let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punct.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let nano = match b.len() - 1 - 19 {
        0 => 0,
        n if n >= 2 && b[19] == b'.' => {
            let digits = n - 1;
            num(20, digits)? * 10u32.pow(9 - digits as u32)
        }
        _ => return None,
    };
    // A leap second (60) and every out-of-range field are chrono's to judge.
    if second > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    Some(date.and_hms_nano_opt(hour, minute, second, nano)?.and_utc())
}

fn de_error<E: serde::de::Error>(s: &str, e: chrono::ParseError) -> E {
    E::custom(format_args!("{e} (in {s:?})"))
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(n) => match std::str::from_utf8(&buf[..n]) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_str(&format(t)),
        },
        None => s.serialize_str(&format(t)),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse(&s).map_err(|e| de_error(&s, e))
}

/// For `Option<DateTime<Utc>>` fields: `null` (or a missing field, with `default`) is
/// `None`.
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            Some(s) => parse(&s).map(Some).map_err(|e| de_error(&s, e)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn chrono_text(t: &DateTime<Utc>) -> String {
        serde_json::to_string(t).expect("serialises")
    }

    #[test]
    fn times_are_written_exactly_as_chrono_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 3, 1, 9, 5, 7).unwrap();
        for nanos in [
            0,
            1,
            10,
            999,
            1_000,
            120_000,
            123_456,
            5_000_000,
            123_000_000,
            123_456_789,
            999_999_999,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            assert_eq!(format!("\"{}\"", format(&t)), chrono_text(&t), "{nanos}");
        }
        // Years chrono writes with a sign go through chrono.
        let far = Utc.with_ymd_and_hms(12026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format!("\"{}\"", format(&far)), chrono_text(&far));
    }

    #[test]
    fn every_time_chrono_reads_reads_the_same() {
        for text in [
            "2026-03-01T09:05:07Z",
            "2026-03-01T09:05:07.1Z",
            "2026-03-01T09:05:07.123456789Z",
            "2026-03-01T09:05:07.1234567891Z",
            "2026-03-01T09:05:07+02:00",
            "2026-03-01t09:05:07z",
            "2026-03-01 09:05:07Z",
            "2026-06-30T23:59:60Z",
            "+12026-01-01T00:00:00Z",
        ] {
            let ours = parse(text).expect(text);
            let theirs: DateTime<Utc> = serde_json::from_str(&format!("\"{text}\"")).expect(text);
            assert_eq!(ours, theirs, "{text}");
        }
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T09:05:07.Z",
            "2026-03-01T09:05:07",
            "x026-03-01T09:05:07Z",
            "2026-03-01T09:05:07.12a4Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
            assert!(
                serde_json::from_str::<DateTime<Utc>>(&format!("\"{bad}\"")).is_err(),
                "{bad}"
            );
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Stamps {
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(with = "super::opt", default)]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn a_missing_or_null_optional_time_is_none_and_a_bad_one_an_error_naming_it() {
        let s: Stamps = serde_json::from_str(r#"{"at": "2026-03-01T09:05:07Z"}"#).unwrap();
        assert_eq!(s.maybe, None);
        let s: Stamps =
            serde_json::from_str(r#"{"at": "2026-03-01T09:05:07Z", "maybe": null}"#).unwrap();
        assert_eq!(s.maybe, None);
        let e = serde_json::from_str::<Stamps>(r#"{"at": "yesterday"}"#).unwrap_err();
        assert!(e.to_string().contains("yesterday"), "{e}");
    }

    proptest! {
        #![proptest_config(crate::config::proptest_config(256))]
        #[test]
        fn any_time_round_trips_and_matches_chrono(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let text = serde_json::to_string(&Stamps { at: t, maybe: Some(t) }).unwrap();
            let chrono = format!("{{\"at\":{0},\"maybe\":{0}}}", chrono_text(&t));
            prop_assert_eq!(&text, &chrono);
            let back: Stamps = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back.at, t);
            prop_assert_eq!(back.maybe, Some(t));
        }

        #[test]
        fn any_text_reads_as_chrono_reads_it(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,11})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
            let theirs = serde_json::from_str::<DateTime<Utc>>(&format!("\"{s}\"")).ok();
            prop_assert_eq!(parse(&s).ok(), theirs);
        }
    }
}
