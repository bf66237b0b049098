//! Monitoring-plugin performance data (`label=value[UOM];[warn];[crit];[min];[max]`):
//! the parser for the text a plugin prints after `|`. Plugin output is untrusted, so a
//! malformed item is skipped and parsing carries on with the next one.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfDatum {
    pub label: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// Parses the text after `|`: items separated by whitespace, labels optionally in single
/// quotes (with `''` for a quote inside). Items that do not parse are left out.
pub fn parse(text: &str) -> Vec<PerfDatum> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        let (label, after_label) = match split_label(rest) {
            Some(split) => split,
            None => {
                // Unusable label: skip to the next whitespace and try again from there.
                rest = skip_token(rest);
                continue;
            }
        };
        let value_end = after_label
            .find(char::is_whitespace)
            .unwrap_or(after_label.len());
        let (spec, tail) = after_label.split_at(value_end);
        rest = tail;
        if let Some(datum) = parse_spec(label, spec) {
            out.push(datum);
        }
    }
}

/// Splits `label=rest` at the `=`, unquoting a quoted label. `None` when there is no
/// usable label; the caller then skips the token.
fn split_label(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('\'') {
        let mut label = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                label.push(c);
                continue;
            }
            // `''` inside quotes is a literal quote.
            if quoted[i + 1..].starts_with('\'') {
                label.push('\'');
                chars.next();
                continue;
            }
            let after = quoted[i + 1..].strip_prefix('=')?;
            return (!label.is_empty()).then_some((label, after));
        }
        None
    } else {
        let token_end = s.find(char::is_whitespace).unwrap_or(s.len());
        let eq = s[..token_end].find('=')?;
        let label = &s[..eq];
        (!label.is_empty()).then(|| (label.to_string(), &s[eq + 1..]))
    }
}

/// Skips one whitespace-separated token, stepping over a quoted label as a whole.
fn skip_token(s: &str) -> &str {
    let start = if let Some(quoted) = s.strip_prefix('\'') {
        match quoted.find('\'') {
            Some(i) => i + 2,
            None => return "",
        }
    } else {
        0
    };
    match s[start..].find(char::is_whitespace) {
        Some(i) => &s[start + i..],
        None => "",
    }
}

/// Parses `value[UOM];[warn];[crit];[min];[max]`.
fn parse_spec(label: String, spec: &str) -> Option<PerfDatum> {
    let mut fields = spec.split(';');
    let value_uom = fields.next()?;
    let number_len = value_uom
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(value_uom.len());
    // A unit never starts with `e`, but a number can end with one ("5e" is not a number):
    // give back trailing exponent characters until the number parses.
    let mut end = number_len;
    let value = loop {
        if end == 0 {
            return None;
        }
        if let Some(v) = number(&value_uom[..end]) {
            break v;
        }
        end -= 1;
    };
    let uom = &value_uom[end..];
    let warn = fields.next().and_then(non_empty);
    let crit = fields.next().and_then(non_empty);
    let min = fields.next().and_then(number);
    let max = fields.next().and_then(number);
    Some(PerfDatum {
        label,
        value,
        uom: (!uom.is_empty()).then(|| uom.to_string()),
        warn,
        crit,
        min,
        max,
    })
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Some plugins print a decimal comma; NaN and infinities are not measurements.
fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.replace(',', ".")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(label: &str, value: f64) -> PerfDatum {
        PerfDatum {
            label: label.into(),
            value,
            uom: None,
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }

    #[test]
    fn a_full_item_keeps_every_field() {
        let got = parse("load1=0.52;1.0;2.0;0;8");
        assert_eq!(
            got,
            vec![PerfDatum {
                warn: Some("1.0".into()),
                crit: Some("2.0".into()),
                min: Some(0.0),
                max: Some(8.0),
                ..datum("load1", 0.52)
            }]
        );
    }

    #[test]
    fn units_are_split_from_the_value() {
        let got = parse("time=0.035s size=1024B used=91% count=12c");
        let units: Vec<_> = got.iter().map(|d| d.uom.as_deref()).collect();
        assert_eq!(units, vec![Some("s"), Some("B"), Some("%"), Some("c")]);
        assert_eq!(got[0].value, 0.035);
        assert_eq!(got[1].value, 1024.0);
    }

    #[test]
    fn quoted_labels_may_hold_spaces_and_quotes() {
        let got = parse("'free space /var'=12GB;;;0;100 'it''s'=1");
        assert_eq!(got[0].label, "free space /var");
        assert_eq!(got[0].uom.as_deref(), Some("GB"));
        assert_eq!(got[0].max, Some(100.0));
        assert_eq!(got[1].label, "it's");
    }

    #[test]
    fn ranges_are_kept_as_written() {
        let got = parse("temp=40;@10:20;~:50");
        assert_eq!(got[0].warn.as_deref(), Some("@10:20"));
        assert_eq!(got[0].crit.as_deref(), Some("~:50"));
    }

    #[test]
    fn empty_thresholds_are_none() {
        let got = parse("x=1;;;;");
        assert_eq!(got, vec![datum("x", 1.0)]);
    }

    #[test]
    fn negative_exponent_and_comma_values_parse() {
        let got = parse("a=-3.5 b=1e3ms c=2,5");
        assert_eq!(got[0].value, -3.5);
        assert_eq!(got[1].value, 1000.0);
        assert_eq!(got[1].uom.as_deref(), Some("ms"));
        assert_eq!(got[2].value, 2.5);
    }

    #[test]
    fn malformed_items_are_skipped_and_the_rest_kept() {
        let got = parse("garbage =5 x=U 'unterminated=3 y=abc ok=1 z=");
        let labels: Vec<_> = got.iter().map(|d| d.label.as_str()).collect();
        // The unterminated quote swallows the rest of the text: nothing after it is
        // trusted, but nothing panics either.
        assert!(labels.is_empty(), "{labels:?}");
        let got = parse("garbage =5 x=U y=abc ok=1 z= 'q'x=2 e=e");
        let labels: Vec<_> = got.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, vec!["ok"]);
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            " ",
            "=",
            "'",
            "''",
            "'a'",
            "'a'=",
            "a==1",
            "é=1€",
            "=;;;;",
            "a=1;;;;;;;;",
        ] {
            let _ = parse(text);
        }
        assert_eq!(parse("é=1€")[0].uom.as_deref(), Some("€"));
    }
}

#[cfg(test)]
mod properties {
    //! Plugin output is untrusted: whatever it is, parsing never panics, and what it keeps
    //! can be stored (JSON has no NaN or infinity).
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str) {
        let got = parse(text);
        for d in &got {
            assert!(!d.label.is_empty(), "{text:?}: {d:?}");
            assert!(d.value.is_finite(), "{text:?}: {d:?}");
            assert!(d.min.is_none_or(f64::is_finite) && d.max.is_none_or(f64::is_finite));
        }
        assert!(serde_json::to_string(&got).is_ok(), "{text:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_parses_without_panicking(text in any::<String>()) {
            check(&text);
        }

        #[test]
        fn perfdata_like_text_parses_without_panicking(
            text in "[ \t'=;.,%+eEU0-9a-z\\-€é~@:]{0,120}"
        ) {
            check(&text);
        }

        #[test]
        fn items_built_from_parts_parse_without_panicking(
            items in proptest::collection::vec(
                ("'?[a-z' é]{0,6}'?", "[-+]?[0-9.,eE]{0,8}", "[a-zA-Z%€]{0,3}", "(;[-0-9.:~@]{0,5}){0,5}"),
                0..6,
            )
        ) {
            let text: Vec<String> = items
                .iter()
                .map(|(l, v, u, rest)| format!("{l}={v}{u}{rest}"))
                .collect();
            check(&text.join(" "));
        }
    }
}
