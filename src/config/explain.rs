//! Serde's and the TOML parser's wording, in this project's: what was written, what the
//! key takes, and what to write instead.

use super::context::nearest;

/// "duplicate key `x` in [general]": the parser says only "duplicate key"; its span
/// covers the key as written.
pub(super) fn duplicate_key(
    src: &str,
    span: Option<std::ops::Range<usize>>,
    table: &str,
) -> String {
    let key = span
        .and_then(|s| src.get(s))
        .map(|k| {
            k.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
        })
        .filter(|k| !k.is_empty() && !k.contains('\n'));
    match key {
        Some(k) => format!(
            "duplicate key `{k}` in {table}: a key can be set only once per table (remove one, or use [[...]] for a list of tables)"
        ),
        None => "duplicate key: a key can be set only once per table".to_string(),
    }
}

/// Keys whose value is a duration written as text.
const DURATION_KEYS: &[&str] = &[
    "timeout",
    "max_response_time",
    "tick_deadline",
    "lock_timeout",
    "self_check_wait",
    "header_timeout",
    "delivery_retry",
    "retry_backoff",
    "every",
    "expect_every",
    "grace",
    "failing_for",
    "stale_after",
    "max_age",
];

/// Serde's "invalid type: integer `10`, expected a string" about `key`, in people's words:
/// "`timeout` must be a duration such as "10s", not a number". `None` for other errors.
pub(super) fn explain_type_error(key: &str, message: &str) -> Option<String> {
    let rest = message.trim_end().strip_prefix("invalid type: ")?;
    let (found, expected) = rest.split_once(", expected ")?;
    let whole = expected.starts_with('i') || expected.starts_with('u');
    let want = if DURATION_KEYS.contains(&key) {
        "a duration such as \"10s\""
    } else if key == "self_check" {
        "a schedule such as \"hour\" or a duration such as \"30m\""
    } else if key == "frequency" {
        "one of \"minute\", \"hour\", \"day\", \"day_noon\""
    } else {
        match expected {
            "a string" => "text in quotes",
            "a boolean" => "true or false",
            "a sequence" => "a list such as [\"a\", \"b\"]",
            "a map" => "a table such as { name = \"value\" }",
            e if e.starts_with("struct ") => "a table",
            _ if whole => "a whole number",
            _ => return None,
        }
    };
    // What was written, as serde shows it: "integer `10`", "string \"80\"", "map"...
    let quoted = found
        .split_once('"')
        .and_then(|(_, t)| t.strip_suffix('"'))
        .map(str::to_string);
    let got = if found.starts_with("integer") || found.starts_with("floating point") {
        "a number".to_string()
    } else if found.starts_with("string") {
        match &quoted {
            Some(t) => format!("text ({t:?})"),
            None => "text".to_string(),
        }
    } else if found.starts_with("boolean") {
        "true or false".to_string()
    } else if found == "sequence" {
        "a list".to_string()
    } else if found == "map" {
        "a table".to_string()
    } else {
        found.to_string()
    };
    let mut m = format!("`{key}` must be {want}, not {got}");
    // The mistake is usually quotes too many or too few: say what to write.
    if let Some(text) = &quoted {
        let t = text.trim();
        if (whole && t.parse::<i64>().is_ok())
            || (expected == "a boolean" && (t == "true" || t == "false"))
        {
            m.push_str(&format!(": write {t} without quotes"));
        } else if expected == "a sequence" {
            m.push_str(&format!(": write [{text:?}]"));
        }
    }
    Some(m)
}

/// "unknown key `urll` in [[job]]; did you mean `url`?", or, when no valid key is near,
/// the list of them.
pub(super) fn unknown_key(key: &str, table: &str, known: &[&str]) -> String {
    match nearest(key, known) {
        Some(n) => format!("unknown key `{key}` in {table}; did you mean `{n}`?"),
        None => format!(
            "unknown key `{key}` in {table} (valid keys: {})",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a message that
/// names the nearest valid key, and other serde wording into this project's words.
pub(super) fn explain_toml_error(message: &str, table: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let words: Vec<&str> = rest
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, w)| w)
            .collect();
        let unknown = words.first().copied().unwrap_or("");
        let expected: Vec<&str> = words
            .iter()
            .skip(1)
            .copied()
            .filter(|w| !w.is_empty())
            .collect();
        return unknown_key(unknown, table, &expected);
    }
    if message.contains("did not match any variant of untagged enum OneOrMany") {
        return "expected an address or a list of addresses, e.g. \"ops@example.com\" or [\"a@example.com\", \"b@example.com\"]".into();
    }
    if message.contains("did not match any variant of untagged enum TextList") {
        return "expected a text or a list of texts, e.g. \"192.0.2.1\" or [\"192.0.2.1\", \"192.0.2.2\"]".into();
    }
    if message.contains("did not match any variant of untagged enum StatusList") {
        return "`expect_status` takes a status code or a list of them, e.g. 200 or [200, 301]"
            .into();
    }
    message.trim_end().to_string()
}

/// Which `[table]` an error offset falls in, for messages: "[email]", "[[job]]".
pub(super) fn table_at(src: &str, offset: usize) -> String {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    // An error in a table header itself (`[emial]`) is about a top-level key.
    if src[line_start..].trim_start().starts_with('[') {
        return "the top level".to_string();
    }
    let head = &src[..line_start];
    head.lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.split(']')
                .next()
                .map(|s| format!("{s}]"))
                .unwrap_or_default()
        })
        .map(|s| {
            if s.starts_with("[[") {
                format!("{s}]")
            } else {
                s
            }
        })
        .unwrap_or_else(|| "the top level".to_string())
}
