//! Parsing a configuration file so that every bad key is reported, not only the first, in
//! time linear in the file: unknown keys are found in one walk over the parsed tables,
//! then each table is deserialized on its own, so a key of the wrong type costs one
//! table's parse rather than the whole file's. What each file holds is its [`Schema`]
//! (`files.rs`).

use std::path::Path;

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::explain::{
    duplicate_key, explain_toml_error, explain_type_error, table_at, unknown_key,
};
use super::problem::Problem;
use super::read::Lines;

/// What the tables of a file may hold: the keys of each and the tables inside it, so
/// unknown keys are found in one walk instead of one full parse each.
pub struct Schema {
    /// For messages: "[general]", "[[job]]", "the top level".
    pub(super) name: &'static str,
    /// Serde's field names of the struct the table becomes.
    pub(super) keys: fn() -> &'static [&'static str],
    /// Deserializes one such table alone.
    pub(super) check: fn(Spanned<DeTable<'_>>) -> Result<(), toml::de::Error>,
    /// Tables (or arrays of tables) under a key.
    pub(super) children: &'static [(&'static str, &'static Schema)],
}

pub(super) fn check_as<T: DeserializeOwned>(
    table: Spanned<DeTable<'_>>,
) -> Result<(), toml::de::Error> {
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

/// Parses a file, reporting every bad key rather than only the first: a key that is unknown
/// or of the wrong type is reported, set aside, and the rest parsed without it.
/// Returns the value and the offsets of the keys set aside (their tables are incomplete);
/// `None` after a syntax error or a problem no key can be blamed for.
pub(super) fn parse_toml<T: DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::files::{RawJobFile, RawSettings, JOB_FILE, SETTINGS};

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
        let (parsed, whole) = parse_counting::<RawJobFile>(
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
}
