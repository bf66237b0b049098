//! Human durations: parsing `"90s"`, `"5m"`, `"1h30m"`, `"2d"` from configuration and
//! the command line, and printing them back in the same short form.

use std::time::Duration;

/// The longest duration `parse` accepts: 100 years. Configuration keys and command-line
/// options have tighter limits of their own (`checker validate` names them); this one keeps
/// every date computation with a parsed duration far inside what a date can hold.
pub const MAX: Duration = Duration::from_secs(36_500 * 86_400);

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h30m`, `2d` or `1w`.
/// A bare number is refused: the unit is what makes a config readable. So is anything
/// longer than [`MAX`], however many digits it has: nothing overflows or wraps.
pub fn parse(text: &str) -> Result<Duration, String> {
    parse_at_most(text, MAX)
}

/// `parse`, refusing anything longer than `max` (and than [`MAX`]) with a message that
/// names the limit.
pub fn parse_at_most(text: &str, max: Duration) -> Result<Duration, String> {
    let max = max.min(MAX);
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. \"30s\" or \"5m\"".into());
    }
    let max_ms = max.as_millis();
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
        // Leading zeros aside, more than 20 digits is past any limit: no need to parse them.
        let significant = num.trim_start_matches('0');
        let n: u128 = if significant.len() > 20 {
            return Err(too_long(text, max));
        } else {
            significant.parse().unwrap_or(0)
        };
        total_ms = total_ms.saturating_add(n.saturating_mul(factor));
        if total_ms > max_ms {
            return Err(too_long(text, max));
        }
        rest = tail.trim_start();
    }
    let ms = u64::try_from(total_ms).map_err(|_| too_long(text, max))?;
    Ok(Duration::from_millis(ms))
}

fn bad(text: &str) -> String {
    format!("{text:?} is not a duration: use a number and a unit (ms, s, m, h, d, w), e.g. \"30s\", \"5m\", \"1h30m\"")
}

fn too_long(text: &str, max: Duration) -> String {
    format!("duration {text:?} is too long: at most {}", format(max))
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

/// Describes a timeout for messages: "timed out after 10s".
pub fn timed_out(after: Duration) -> String {
    format!("timed out after {}", format(after))
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
    fn overlong_durations_are_refused_as_too_long_not_wrapped() {
        for text in [
            "99999999999d",
            "36501d",
            "5300w",
            "99999999999999999999999999999999999999999999ms",
            "36500d1ms",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.contains("too long") && e.contains("36500d"),
                "{text}: {e}"
            );
        }
        assert_eq!(parse("36500d").unwrap(), MAX);
        assert_eq!(
            parse_at_most("25h", Duration::from_secs(86_400)).unwrap_err(),
            "duration \"25h\" is too long: at most 1d"
        );
        assert_eq!(
            parse_at_most("1d", Duration::from_secs(86_400)).unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            parse("000000000000000000000000000030s").unwrap(),
            Duration::from_secs(30)
        );
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::config::proptest_config(256))]

            #[test]
            fn no_text_makes_parse_panic_and_what_it_accepts_is_bounded(text in any::<String>()) {
                if let Ok(d) = parse(&text) {
                    prop_assert!(d <= MAX);
                }
            }

            #[test]
            fn duration_like_text_parses_within_its_limit_or_says_why(
                text in "([0-9]{0,30}(ms|s|sec|m|min|h|hr|d|day|w|week|x)? ?){0,4}",
                max_secs in 0u64..10_000_000_000,
            ) {
                let max = Duration::from_secs(max_secs);
                match parse_at_most(&text, max) {
                    Ok(d) => prop_assert!(d <= max.min(MAX)),
                    Err(e) => prop_assert!(!e.is_empty()),
                }
            }

            #[test]
            fn every_duration_formats_back_to_itself(ms in 0u64..=36_500 * 86_400_000) {
                let d = Duration::from_millis(ms);
                // `format` drops milliseconds beyond the first second.
                let shown = if ms < 1_000 { d } else { Duration::from_secs(d.as_secs()) };
                prop_assert_eq!(parse(&format(d)), Ok(shown));
            }
        }
    }
}
