//! Human durations: parsing `"90s"`, `"5m"`, `"1h30m"`, `"2d"` from configuration and
//! the command line, and printing them back in the same short form.

use std::time::Duration;

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h30m`, `2d` or `1w`.
/// A bare number is refused: the unit is what makes a config readable.
pub fn parse(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. \"30s\" or \"5m\"".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad(text));
        }
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let (unit, tail) = tail.split_at(unit_len);
        let n: u128 = num.parse().map_err(|_| bad(text))?;
        let factor: u128 = match unit {
            "ms" => 1,
            "s" | "sec" | "secs" => 1_000,
            "m" | "min" | "mins" => 60_000,
            "h" | "hr" | "hrs" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "w" | "week" | "weeks" => 7 * 86_400_000,
            "" => return Err(format!("duration {text:?} has a number without a unit: add one of ms, s, m, h, d, w (e.g. \"{num}s\")")),
            _ => return Err(bad(text)),
        };
        total_ms = total_ms
            .checked_add(n.checked_mul(factor).ok_or_else(|| bad(text))?)
            .ok_or_else(|| bad(text))?;
        rest = tail.trim_start();
    }
    let ms = u64::try_from(total_ms).map_err(|_| bad(text))?;
    Ok(Duration::from_millis(ms))
}

fn bad(text: &str) -> String {
    format!("{text:?} is not a duration: use a number and a unit (ms, s, m, h, d, w), e.g. \"30s\", \"5m\", \"1h30m\"")
}

/// Prints a duration in the short form `parse` reads: `1h30m`, `45s`, `2d3h`, `250ms`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Prints a signed span between two instants the way people say it: "3h 5m", "12s",
/// "2d 4h" (at most two units, rounded down).
pub fn humanize(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0) as u64;
    if secs < 60 {
        return format!("{secs}s");
    }
    let parts = [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut out = Vec::new();
    let mut rest = secs;
    for (unit, size) in parts {
        if rest >= size {
            out.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if out.len() == 2 {
            break;
        }
    }
    // "2h 0m" reads worse than "2h": drop a trailing zero unit (never produced above) and
    // keep at most two units.
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1h 5m").unwrap(), Duration::from_secs(3900));
    }

    #[test]
    fn refuses_numbers_without_units_and_garbage() {
        assert!(parse("30").unwrap_err().contains("without a unit"));
        assert!(parse("5 minutes please").is_err());
        assert!(parse("").is_err());
        assert!(parse("m5").is_err());
        assert!(parse("99999999999999999999999d").is_err());
    }

    #[test]
    fn formats_back_to_the_parsed_form() {
        for s in ["30s", "5m", "1h30m", "2d", "250ms", "1d1h1m1s"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }

    #[test]
    fn humanizes_with_two_units_at_most() {
        assert_eq!(humanize(chrono::Duration::seconds(12)), "12s");
        assert_eq!(
            humanize(chrono::Duration::seconds(3 * 3600 + 5 * 60 + 7)),
            "3h 5m"
        );
        assert_eq!(
            humanize(chrono::Duration::seconds(2 * 86400 + 4 * 3600)),
            "2d 4h"
        );
    }
}
