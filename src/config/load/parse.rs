//! Reading a configuration file and parsing it so that every bad key is reported, not only
//! the first, in time linear in the file: unknown keys are found in one walk over the
//! parsed tables, then each table is deserialized on its own, so a key of the wrong type
//! costs one table's parse rather than the whole file's.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::{nearest, Problem};
use crate::config::channels::{RawPushover, RawWebhook};
use crate::config::raw::{
    RawCommandChannel, RawDefaults, RawEmail, RawGeneral, RawJob, RawLogging, RawPeer, RawServe,
    RawSettings,
};

/// The largest settings or job file read (10 MiB): far more than any real configuration,
/// small enough that a wrong `-f` (a device, a log file) cannot eat the machine's memory.
pub const MAX_CONFIG_BYTES: u64 = 10 * 1024 * 1024;
/// The largest secret read from a `<key>_file`.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A FIFO, a device, a directory, a socket: never read.
    NotRegular(&'static str),
    TooBig {
        max: u64,
    },
    NotText,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooBig { max } => write!(f, "it is larger than {}", size(*max)),
            ReadError::NotText => f.write_str("it is not UTF-8 text"),
        }
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a regular file of at most `max` bytes as text. It is opened without blocking (a
/// FIFO must not hang the command), checked to be a regular file, and read through a
/// limit, so neither `/dev/zero` nor a file that grows while it is read can exhaust memory.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        }));
    }
    if meta.len() > max {
        return Err(ReadError::TooBig { max });
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooBig { max });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

/// Where each line of a file starts, so that an offset becomes a line number without
/// rescanning the file: a file of thousands of problems must not cost a scan per problem.
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(src: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

/// What the tables of a file may hold: the keys of each and the tables inside it, so
/// unknown keys are found in one walk instead of one full parse each.
pub struct Schema {
    /// For messages: "[general]", "[[job]]", "the top level".
    name: &'static str,
    /// Serde's field names of the struct the table becomes.
    pub(super) keys: fn() -> &'static [&'static str],
    /// Deserializes one such table alone.
    check: fn(Spanned<DeTable<'_>>) -> Result<(), toml::de::Error>,
    /// Tables (or arrays of tables) under a key.
    pub(super) children: &'static [(&'static str, &'static Schema)],
}

fn check_as<T: DeserializeOwned>(table: Spanned<DeTable<'_>>) -> Result<(), toml::de::Error> {
    T::deserialize(toml::de::Deserializer::from(table)).map(drop)
}

/// The field names a serde-derived struct declares, asked of the struct itself so they
/// can never drift from it.
pub(super) fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    use serde::forward_to_deserialize_any;

    struct Probe {
        fields: &'static [&'static str],
    }
    impl<'de> serde::Deserializer<'de> for &mut Probe {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.fields = fields;
            Err(Self::Error::custom("probed"))
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut probe = Probe { fields: &[] };
    let _ = T::deserialize(&mut probe);
    probe.fields
}

macro_rules! schema {
    ($name:expr, $ty:ty, [$(($key:expr, $child:expr)),* $(,)?]) => {
        Schema {
            name: $name,
            keys: fields_of::<$ty>,
            check: check_as::<$ty>,
            children: &[$(($key, $child)),*],
        }
    };
}

/// The `jobs_dir` files: `[[job]]` tables.
pub static JOB_FILE: Schema = schema!("the top level", super::RawJobFile, [("job", &JOB)]);
static JOB: Schema = schema!("[[job]]", RawJob, []);

/// The settings file.
pub static SETTINGS: Schema = schema!(
    "the top level",
    RawSettings,
    [
        ("general", &GENERAL),
        ("logging", &LOGGING),
        ("email", &EMAIL),
        ("defaults", &DEFAULTS),
        ("commands", &COMMANDS),
        ("peers", &PEERS),
        ("serve", &SERVE),
        ("pushover", &PUSHOVER),
        ("webhooks", &WEBHOOKS),
    ]
);
static GENERAL: Schema = schema!("[general]", RawGeneral, []);
static LOGGING: Schema = schema!("[logging]", RawLogging, []);
static EMAIL: Schema = schema!("[email]", RawEmail, []);
static DEFAULTS: Schema = schema!("[defaults]", RawDefaults, []);
static COMMANDS: Schema = schema!("[[commands]]", RawCommandChannel, []);
static PEERS: Schema = schema!("[[peers]]", RawPeer, []);
static SERVE: Schema = schema!("[serve]", RawServe, []);
static PUSHOVER: Schema = schema!("[pushover]", RawPushover, []);
static WEBHOOKS: Schema = schema!("[[webhooks]]", RawWebhook, []);

/// Reports problems of one file.
struct Reporter<'a> {
    path: &'a Path,
    src: &'a str,
    lines: &'a Lines,
    problems: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    fn at(&mut self, offset: usize, message: String) {
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line: self.lines.line(offset),
            message,
        });
    }

    /// A serde or syntax error, in this project's words; `key` is the key it was blamed on.
    fn toml_error(&mut self, e: &toml::de::Error, key: Option<&str>) {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let mut message = if e.message().trim_end() == "duplicate key" {
            duplicate_key(self.src, e.span(), &table_at(self.src, offset))
        } else if let Some(m) = key.and_then(|k| explain_type_error(k, e.message())) {
            m
        } else {
            explain_toml_error(e.message(), &table_at(self.src, offset))
        };
        if let Some(key) =
            key.filter(|_| !message.starts_with("unknown key") && !message.starts_with('`'))
        {
            message = format!("`{key}`: {message}");
        }
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line: if e.span().is_some() {
                self.lines.line(offset)
            } else {
                0
            },
            message,
        });
    }
}

/// "duplicate key `x` in [general]": the parser says only "duplicate key"; its span
/// covers the key as written.
fn duplicate_key(src: &str, span: Option<std::ops::Range<usize>>, table: &str) -> String {
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

/// Parses a file, reporting every bad key rather than only the first: a key that is unknown
/// or of the wrong type is reported, set aside, and the rest parsed without it.
/// Returns the value and the offsets of the keys set aside (their tables are incomplete);
/// `None` after a syntax error or a problem no key can be blamed for.
pub fn parse_toml<T: DeserializeOwned>(
    path: &Path,
    src: &str,
    lines: &Lines,
    schema: &Schema,
    problems: &mut Vec<Problem>,
) -> Option<(T, Vec<usize>)> {
    parse_counting(path, src, lines, schema, problems).0
}

/// `parse_toml`, also counting how often the whole file was deserialized: a constant
/// number of times whatever the number of problems, or the cost grows with their square.
fn parse_counting<T: DeserializeOwned>(
    path: &Path,
    src: &str,
    lines: &Lines,
    schema: &Schema,
    problems: &mut Vec<Problem>,
) -> (Option<(T, Vec<usize>)>, usize) {
    // The common case, a good file, parses once without the copies recovery needs.
    let mut whole = 1;
    if let Ok(v) = toml::from_str::<T>(src) {
        return (Some((v, Vec::new())), whole);
    }
    let first = problems.len();
    let mut r = Reporter {
        path,
        src,
        lines,
        problems,
    };
    let mut root = match DeTable::parse(src) {
        Ok(root) => root,
        Err(e) => {
            r.toml_error(&e, None);
            return (None, whole);
        }
    };
    let mut set_aside = Vec::new();
    fix_shapes(&mut r, root.get_mut(), schema, &mut set_aside);
    strip_unknown(&mut r, root.get_mut(), schema, &mut set_aside);
    for (key, child) in schema.children {
        if let Some(v) = root.get_mut().get_mut(*key) {
            strip_mistyped_in(&mut r, v, child, &mut set_aside);
        }
    }
    // What is left is rare and shallow: a section given as a plain value, say.
    let parsed = loop {
        whole += 1;
        match T::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(v) => break Some(v),
            Err(e) => {
                let removed = e
                    .span()
                    .and_then(|s| remove_key_at(root.get_mut(), s.start));
                r.toml_error(&e, removed.as_ref().map(|(key, _)| key.as_str()));
                match removed {
                    Some((_, offset)) => set_aside.push(offset),
                    None => break None,
                }
            }
        }
    };
    // Keys come out in table order, not file order.
    problems[first..].sort_by_key(|p| p.line);
    set_aside.sort_unstable();
    (parsed.map(|v| (v, set_aside)), whole)
}

/// `[job]` where `[[job]]` is meant, or `[[general]]` for `[general]`: reported in
/// people's words and mended where it can be, so the rest of the file is still checked.
fn fix_shapes(
    r: &mut Reporter<'_>,
    table: &mut DeTable<'_>,
    schema: &Schema,
    set_aside: &mut Vec<usize>,
) {
    let mut remove = Vec::new();
    for (k, v) in table.iter_mut() {
        let key = k.get_ref().to_string();
        let Some((_, child)) = schema.children.iter().find(|(c, _)| *c == key) else {
            continue;
        };
        let offset = k.span().start;
        let many = child.name.starts_with("[[");
        let span = v.span();
        match v.get_mut() {
            DeValue::Table(_) if many => {
                r.at(
                    offset,
                    format!("`[{key}]` must be `[[{key}]]`: each entry is one table of a list, so write [[{key}]] (two brackets) above each one"),
                );
                let one = std::mem::replace(v.get_mut(), DeValue::Boolean(false));
                let mut list = DeArray::new();
                list.push(Spanned::new(span, one));
                *v.get_mut() = DeValue::Array(list);
            }
            DeValue::Array(items)
                if !many
                    && items
                        .iter()
                        .any(|i| matches!(i.get_ref(), DeValue::Table(_))) =>
            {
                r.at(
                    offset,
                    format!("`[[{key}]]` must be `[{key}]`: there is one such section, written with one bracket on each side"),
                );
                if items.len() == 1 {
                    let one =
                        std::mem::replace(items.as_mut()[0].get_mut(), DeValue::Boolean(false));
                    *v.get_mut() = one;
                } else {
                    remove.push(key);
                    set_aside.push(offset);
                }
            }
            _ => {}
        }
    }
    for key in remove {
        table.remove(key.as_str());
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
fn explain_type_error(key: &str, message: &str) -> Option<String> {
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

/// Reports and removes every key `schema` does not know, in this table and the known
/// tables under it.
fn strip_unknown(
    r: &mut Reporter<'_>,
    table: &mut DeTable<'_>,
    schema: &Schema,
    set_aside: &mut Vec<usize>,
) {
    let known = (schema.keys)();
    // Serde's list is empty only for a struct it could not probe: leave it to serde.
    if known.is_empty() {
        return;
    }
    let unknown: Vec<(String, usize)> = table
        .iter()
        .filter(|(k, _)| !known.contains(&k.get_ref().as_ref()))
        .map(|(k, _)| (k.get_ref().to_string(), k.span().start))
        .collect();
    for (key, offset) in unknown {
        r.at(offset, unknown_key(&key, schema.name, known));
        table.remove(key.as_str());
        set_aside.push(offset);
    }
    for (key, child) in schema.children {
        let Some(v) = table.get_mut(*key) else {
            continue;
        };
        match v.get_mut() {
            DeValue::Table(t) => strip_unknown(r, t, child, set_aside),
            DeValue::Array(a) => {
                for item in a.iter_mut() {
                    if let DeValue::Table(t) = item.get_mut() {
                        strip_unknown(r, t, child, set_aside);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Deserializes each table under a key (one, or each of an array of tables) on its own,
/// removing and reporting each key of the wrong type.
fn strip_mistyped_in(
    r: &mut Reporter<'_>,
    v: &mut Spanned<DeValue<'_>>,
    schema: &Schema,
    set_aside: &mut Vec<usize>,
) {
    let span = v.span();
    match v.get_mut() {
        DeValue::Table(t) => strip_mistyped(r, t, span, schema, set_aside),
        DeValue::Array(a) => {
            for item in a.iter_mut() {
                let span = item.span();
                if let DeValue::Table(t) = item.get_mut() {
                    strip_mistyped(r, t, span, schema, set_aside);
                }
            }
        }
        _ => {}
    }
}

fn strip_mistyped(
    r: &mut Reporter<'_>,
    table: &mut DeTable<'_>,
    span: std::ops::Range<usize>,
    schema: &Schema,
    set_aside: &mut Vec<usize>,
) {
    // Each round removes a key, so this ends; the whole-file pass reports what is left.
    for _ in 0..=table.len() {
        let Err(e) = (schema.check)(Spanned::new(span.clone(), table.clone())) else {
            return;
        };
        let Some((key, offset)) = e.span().and_then(|s| remove_key_at(table, s.start)) else {
            return;
        };
        r.toml_error(&e, Some(&key));
        set_aside.push(offset);
    }
}

/// Removes the key whose name or (non-table) value holds `at`, the innermost first;
/// returns the key and where it was.
fn remove_key_at(table: &mut DeTable<'_>, at: usize) -> Option<(String, usize)> {
    for (_, v) in table.iter_mut() {
        let inner = match v.get_mut() {
            DeValue::Table(t) => remove_key_at(t, at),
            DeValue::Array(a) => a.iter_mut().find_map(|item| match item.get_mut() {
                DeValue::Table(t) => remove_key_at(t, at),
                _ => None,
            }),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
    }
    let is_table = |v: &DeValue<'_>| match v {
        DeValue::Table(_) => true,
        DeValue::Array(a) => a.iter().any(|i| matches!(i.get_ref(), DeValue::Table(_))),
        _ => false,
    };
    let key = table
        .iter()
        .find(|(k, v)| k.span().contains(&at) || (!is_table(v.get_ref()) && v.span().contains(&at)))
        .map(|(k, _)| (k.get_ref().to_string(), k.span().start))?;
    table.remove(key.0.as_str());
    Some(key)
}

/// "unknown key `urll` in [[job]]; did you mean `url`?", or, when no valid key is near,
/// the list of them.
fn unknown_key(key: &str, table: &str, known: &[&str]) -> String {
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
fn explain_toml_error(message: &str, table: &str) -> String {
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
fn table_at(src: &str, offset: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one_and_a_newline_ends_its_line() {
        let src = "a\nbb\n\nc";
        let lines = Lines::new(src);
        let naive = |o: usize| src.as_bytes()[..o].iter().filter(|&&b| b == b'\n').count() + 1;
        for o in 0..=src.len() {
            assert_eq!(lines.line(o), naive(o), "offset {o}");
        }
        assert_eq!(lines.line(usize::MAX), 4);
    }

    #[test]
    fn a_file_full_of_bad_keys_is_parsed_whole_a_constant_number_of_times() {
        // Issue #10, item 6: each problem used to cost a parse of the whole file.
        let mut src = String::new();
        for i in 0..400 {
            src.push_str(&format!(
                "[[job]]\nname = \"u{i}\"\nkind = \"http\"\nurll = \"x\"\n\n\
                 [[job]]\nname = \"t{i}\"\nkind = \"tcp\"\nport = \"80\"\n\n"
            ));
        }
        let lines = Lines::new(&src);
        let mut problems = Vec::new();
        let (parsed, whole) = parse_counting::<super::super::RawJobFile>(
            Path::new("j.toml"),
            &src,
            &lines,
            &JOB_FILE,
            &mut problems,
        );
        let (file, set_aside) = parsed.expect("the rest of the file parses");
        assert_eq!(file.job.len(), 800);
        assert_eq!(problems.len(), 800);
        assert_eq!(set_aside.len(), 800);
        assert!(whole <= 2, "the whole file was parsed {whole} times");
        // In file order, each at its own line.
        assert_eq!(problems[0].line, 4);
        assert!(problems[0]
            .message
            .starts_with("unknown key `urll` in [[job]]; did you mean `url`?"));
        assert_eq!(problems[1].line, 9);
        assert!(
            problems[1].message
                == "`port` must be a whole number, not text (\"80\"): write 80 without quotes",
            "{}",
            problems[1].message
        );
        assert_eq!(problems[799].line, 399 * 10 + 9);
    }

    #[test]
    fn thousands_of_unknown_keys_in_one_table_are_found_in_one_walk() {
        let mut src = String::from("[general]\n");
        for i in 0..4_000 {
            src.push_str(&format!("bogus{i} = 1\n"));
        }
        let lines = Lines::new(&src);
        let mut problems = Vec::new();
        let (parsed, whole) = parse_counting::<RawSettings>(
            Path::new("s.toml"),
            &src,
            &lines,
            &SETTINGS,
            &mut problems,
        );
        assert!(parsed.is_some());
        assert_eq!(problems.len(), 4_000);
        assert!(whole <= 2, "the whole file was parsed {whole} times");
        assert_eq!(problems[0].line, 2);
        assert_eq!(problems[3_999].line, 4_001);
    }

    #[test]
    fn a_duplicate_key_is_named() {
        let mut problems = Vec::new();
        let src = "[general]\nstate_file = \"a\"\nstate_file = \"b\"\n";
        let parsed = parse_toml::<RawSettings>(
            Path::new("s.toml"),
            src,
            &Lines::new(src),
            &SETTINGS,
            &mut problems,
        );
        assert!(parsed.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 3);
        assert!(
            problems[0]
                .message
                .starts_with("duplicate key `state_file` in [general]"),
            "{}",
            problems[0].message
        );
        let mut problems = Vec::new();
        let src = "[general]\n\n[general]\n";
        let _ = parse_toml::<RawSettings>(
            Path::new("s.toml"),
            src,
            &Lines::new(src),
            &SETTINGS,
            &mut problems,
        );
        assert_eq!(problems[0].line, 3);
        assert!(
            problems[0].message.starts_with("duplicate key `general`"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn field_names_come_from_the_structs_themselves() {
        let job = fields_of::<RawJob>();
        assert!(
            job.contains(&"expect_every") && job.contains(&"url"),
            "{job:?}"
        );
        assert!(fields_of::<RawSettings>().contains(&"webhooks"));
        assert!(fields_of::<RawPushover>().contains(&"api_url"));
        assert!(fields_of::<super::super::RawJobFile>() == ["job"]);
    }

    #[test]
    fn every_table_of_the_settings_has_a_schema() {
        let children: Vec<&str> = SETTINGS.children.iter().map(|(k, _)| *k).collect();
        let mut fields: Vec<&str> = fields_of::<RawSettings>().to_vec();
        fields.sort_unstable();
        let mut children_sorted = children.clone();
        children_sorted.sort_unstable();
        assert_eq!(
            children_sorted, fields,
            "a new settings section needs its schema here"
        );
    }
}
