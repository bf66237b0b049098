//! The plain TOML most job files are written in, read without the toml crate: `[[job]]`
//! headers, bare keys set to a basic or literal string, a whole number, a boolean or a
//! one-line list of strings or whole numbers, comments and blank lines. For such a piece
//! it gives exactly the [`RawJob`]s the toml crate gives (spans included), several times
//! faster; anything else (a sub-table, an inline table, a multi-line string or list, an
//! escape other than the seven common ones, a dotted or quoted key, a key set twice, a
//! value of the wrong type, a carriage return...) it declines, and the piece is read by
//! the toml crate as before. `proptests` below holds it to the toml crate.

use std::ops::Range;

use toml::Spanned;

use super::raw::{RawJob, StatusList, TextList};
use crate::config::context::OneOrMany;

/// The `[[job]]` tables of `piece`, which starts at byte `offset` of its file, each with
/// the span of its header in the file and, as the toml crate gives them, its values'
/// spans in the piece (only a problem needs them, and a problem has the file read whole
/// again); `None` when the piece is not all plain TOML that reads into [`RawJob`]s.
#[cfg(test)]
pub(super) fn tables(piece: &str, offset: usize) -> Option<Vec<Spanned<RawJob>>> {
    let mut out = Vec::new();
    each_table(piece, offset, |at, job| {
        let at = at..at.saturating_add("[[job]]".len());
        out.push(Spanned::new(at, std::mem::take(job)));
        Some(())
    })?;
    Some(out)
}

/// [`tables`] one at a time: each table of `piece` is handed to `take` (with where its
/// header starts in the file; the span of a table as the toml crate gives it is its
/// `[[job]]`) as soon as the next header (or the end) closes it, so no list of tables
/// is built, and the table is not moved: `take` may take what it keeps out of it. `None`
/// when the piece is not all plain TOML that reads into [`RawJob`]s or `take` gives
/// `None`; the tables handed over until then are those the toml crate gives first, but
/// the caller must not keep what it made of them unless it sees the piece through.
pub(super) fn each_table(
    piece: &str,
    offset: usize,
    mut take: impl FnMut(usize, &mut RawJob) -> Option<()>,
) -> Option<()> {
    // Control characters other than tab and newline: TOML refuses most, a carriage
    // return ends a line; either way not plain.
    // (A fold rather than `any`: without the early exit the loop is vectorized.)
    let odd = |c: u8| (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f;
    if piece.bytes().fold(false, |seen, c| seen | odd(c)) {
        return None;
    }
    // The table being read and where its header starts; one `RawJob`, emptied for each.
    let mut job = RawJob::default();
    let mut current: Option<usize> = None;
    let mut c = Cursor { s: piece, at: 0 };
    while c.at < piece.len() {
        c.blank();
        match c.peek() {
            None | Some(b'\n' | b'#') => {}
            Some(b'[') => {
                let start = offset.checked_add(c.at)?;
                c.word("[[job]]")?;
                // Only a whole header line closes the table before it.
                c.end_of_line()?;
                if let Some(at) = current.replace(start) {
                    take(at, &mut job)?;
                    job = RawJob::default();
                }
                continue;
            }
            Some(_) => {
                current?;
                let key = c.key()?;
                c.blank();
                c.word("=")?;
                c.blank();
                let from = c.at;
                let value = c.value()?;
                set(&mut job, key, value, from..c.at)?;
            }
        }
        c.end_of_line()?;
    }
    match current {
        Some(at) => take(at, &mut job),
        None => Some(()),
    }
}

/// A value as written.
#[derive(Debug)]
enum Value {
    Text(String),
    Number(i64),
    Flag(bool),
    Texts(Vec<String>),
    Numbers(Vec<i64>),
    /// `[]`: a list of anything.
    Empty,
}

impl Value {
    fn text(self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    fn number(self) -> Option<i64> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    fn flag(self) -> Option<bool> {
        match self {
            Value::Flag(b) => Some(b),
            _ => None,
        }
    }
    fn texts(self) -> Option<Vec<String>> {
        match self {
            Value::Texts(v) => Some(v),
            Value::Empty => Some(Vec::new()),
            _ => None,
        }
    }
    fn numbers(self) -> Option<Vec<i64>> {
        match self {
            Value::Numbers(v) => Some(v),
            Value::Empty => Some(Vec::new()),
            _ => None,
        }
    }
    fn one_or_many(self) -> Option<OneOrMany> {
        match self {
            Value::Text(s) => Some(OneOrMany::One(s)),
            v => v.texts().map(OneOrMany::Many),
        }
    }
    fn text_list(self) -> Option<TextList> {
        match self {
            Value::Text(s) => Some(TextList::One(s)),
            v => v.texts().map(TextList::Many),
        }
    }
    fn status_list(self) -> Option<StatusList> {
        match self {
            Value::Number(n) => Some(StatusList::One(n)),
            v => v.numbers().map(StatusList::Many),
        }
    }
}

/// Sets `key` of `job`; `None` when the key is not one of [`RawJob`]'s plain keys, is set
/// already, or `value` is not of its type.
fn set(job: &mut RawJob, key: &str, value: Value, span: Range<usize>) -> Option<()> {
    fn put<T>(slot: &mut Option<Spanned<T>>, span: Range<usize>, v: T) -> Option<()> {
        if slot.is_some() {
            return None;
        }
        *slot = Some(Spanned::new(span, v));
        Some(())
    }
    macro_rules! keys {
        ($($as:ident: $($field:ident)*;)*) => {
            match key {
                $($(stringify!($field) => put(&mut job.$field, span, value.$as()?),)*)*
                _ => None,
            }
        };
    }
    // `headers`, `env` and `json` are tables: never plain.
    // The keys are compared in this order: those of most tables first.
    keys! {
        text: name kind host url frequency timeout every;
        number: port;
        texts: notify;
        text: description group notify_every failing_for retry_backoff confirm_job
            confirm_unknown method body contains max_response_time not_contains sni
            ca_file cwd path max_age query record server expect_every grace;
        flag: enabled notify_recovery public follow_redirects accept_invalid_certs verify
            warning_is_failure;
        number: failures_before_notify retries confirm_min warn_days min_size;
        texts: depends_on targets confirm_with command;
        one_or_many: contact;
        status_list: expect_status;
        text_list: expect;
    }
}

/// Reading one piece, a line at a time: no step goes past a newline except
/// [`Cursor::end_of_line`].
struct Cursor<'s> {
    s: &'s str,
    at: usize,
}

impl<'s> Cursor<'s> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    /// Spaces and tabs.
    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        let rest = self.s.as_bytes().get(self.at..)?;
        rest.starts_with(w.as_bytes()).then(|| self.at += w.len())
    }

    /// What may end a line: blanks, a comment, then a newline or the end of the piece.
    fn end_of_line(&mut self) -> Option<()> {
        self.blank();
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), None | Some(b'\n')) {
                self.at += 1;
            }
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n') => {
                self.at += 1;
                Some(())
            }
            Some(_) => None,
        }
    }

    /// A bare key: ASCII letters, digits, `_` and `-`.
    fn key(&mut self) -> Option<&'s str> {
        let from = self.at;
        while matches!(
            self.peek(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')
        ) {
            self.at += 1;
        }
        (self.at > from).then(|| &self.s[from..self.at])
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' | b'\'' => self.string().map(Value::Text),
            b't' => self.word("true").map(|()| Value::Flag(true)),
            b'f' => self.word("false").map(|()| Value::Flag(false)),
            b'[' => self.list(),
            _ => self.number().map(Value::Number),
        }
    }

    /// A one-line list of strings or of whole numbers, not both.
    fn list(&mut self) -> Option<Value> {
        self.word("[")?;
        let (mut texts, mut numbers) = (Vec::new(), Vec::new());
        loop {
            self.blank();
            if self.word("]").is_some() {
                break;
            }
            if matches!(self.peek()?, b'"' | b'\'') {
                texts.push(self.string()?);
            } else {
                numbers.push(self.number()?);
            }
            self.blank();
            if self.word(",").is_none() {
                self.word("]")?;
                break;
            }
        }
        match (texts.is_empty(), numbers.is_empty()) {
            (true, true) => Some(Value::Empty),
            (false, true) => Some(Value::Texts(texts)),
            (true, false) => Some(Value::Numbers(numbers)),
            (false, false) => None,
        }
    }

    /// A basic string (`"..."`, escapes `\" \\ \n \t \r \b \f` only) or a literal one
    /// (`'...'`), on one line.
    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        let b = self.s.as_bytes();
        if b.get(self.at..self.at + 3) == Some(&[quote; 3]) {
            return None; // multi-line
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let from = self.at;
            let rest = b.get(from..).unwrap_or_default();
            self.at += rest
                .iter()
                .position(|c| matches!(c, b'\n' | b'"' | b'\'' | b'\\'))
                .unwrap_or(rest.len());
            let text = &self.s[from..self.at];
            let c = self.peek()?;
            self.at += 1;
            match (quote, c) {
                (_, b'\n') => return None,
                // Most strings: one run of text, copied once at its size.
                (q, c) if q == c && out.is_empty() => return Some(text.to_owned()),
                _ => out.push_str(text),
            }
            match (quote, c) {
                (q, c) if q == c => return Some(out),
                (b'"', b'\\') => {
                    out.push(match self.peek()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        _ => return None,
                    });
                    self.at += 1;
                }
                // The other quote, or a backslash in a literal string: text.
                (_, c) => out.push(char::from(c)),
            }
        }
    }

    /// A decimal whole number: an optional sign, then `0` or digits not starting with 0
    /// (no `_`), within i64.
    fn number(&mut self) -> Option<i64> {
        let from = self.at;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.at += 1;
        }
        let digits = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let n = self.at - digits;
        if n == 0 || (n > 1 && self.s.as_bytes()[digits] == b'0') {
            return None;
        }
        self.s[from..self.at].parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use toml::Spanned;

    use super::tables;
    use crate::config::jobs::pieces::{piece_tables, read_table};
    use crate::config::jobs::raw::RawJob;
    use crate::config::parse::fields_of;

    /// What the toml crate reads of `piece` (at `offset`): the tables, or `None`.
    fn by_the_crate(piece: &str, offset: usize) -> Option<Vec<Spanned<RawJob>>> {
        piece_tables(piece, offset)?
            .into_iter()
            .map(read_table)
            .collect()
    }

    /// Both readings, spans and all, as text (`Spanned` compares values only).
    fn both(piece: &str, offset: usize) -> (Option<String>, Option<String>) {
        let show = |t: Vec<Spanned<RawJob>>| format!("{t:?}");
        (
            tables(piece, offset).map(show),
            by_the_crate(piece, offset).map(show),
        )
    }

    #[test]
    fn a_plain_file_of_every_kind_reads_as_the_toml_crate_reads_it() {
        let text = "# shop\n\n[[job]]\nname = \"front page\"  # the shop\nkind = 'http'\n\
            url = \"https://shop.example/\\\"q\\\"\\\\\\t\"\nexpect_status = [200, 301,]\n\
            contains = \"Welcome, ünïcode 'quoted'\"\nfollow_redirects = false\nretries = +2\n\
            notify = [\"email\", 'ops']\ncontact = \"a@b.c\"\n\n  [[job]]\n\tname='db'\n\
            kind=\"tcp\"\nhost = \"db\"\nport = 5432\nenabled = true\ntargets = []\n\
            expect = \"x\"\n[[job]]\nname = \"n\"\nexpect_status = 204\nexpect = [\"a\", \"b\"]\n\
            contact = [\"x\"]\ncommand = [ \"/bin/true\" , \"-\" ]\nmin_size = -0\n\
            confirm_min = -9223372036854775808";
        for offset in [0, 12345] {
            let (plain, toml) = both(text, offset);
            assert!(plain.is_some(), "plain TOML is read the fast way");
            assert_eq!(plain, toml);
        }
    }

    #[test]
    fn what_is_not_plain_is_left_to_the_toml_crate() {
        for text in [
            "[[job]]\nheaders = { a = \"b\" }\n",
            "[[job]]\n[job.headers]\na = \"b\"\n",
            "[[job]]\nname = \"\"\"x\"\"\"\n",
            "[[job]]\nname = \"\\u0041\"\n",
            "[[job]]\nname = \"x\"\r\n",
            "[[job]]\nname = \"x\"\nname = \"y\"\n",
            "[[job]]\nport = \"1\"\n",
            "[[job]]\nport = 1_000\n",
            "[[job]]\nport = 1.5\n",
            "[[job]]\nport = 9223372036854775808\n",
            "[[job]]\nexpect_status = [1, \"a\"]\n",
            "[[job]]\nnotify = [\n\"a\"]\n",
            "[[job]]\n\"name\" = \"x\"\n",
            "[[job]]\nname.first = \"x\"\n",
            "[[job]]\nnamex = \"x\"\n",
            "name = \"x\"\n[[job]]\n",
            "[[ job ]]\n",
            "\u{feff}[[job]]\n",
        ] {
            assert_eq!(tables(text, 0).map(|t| t.len()), None, "{text:?}");
        }
    }

    /// Text of the sorts a job file's values are written in, plain or nearly so.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            "\"([a-z #'{}=\\[\\],.é\t]|\\\\[\"\\\\ntrbfeux0]|\\\\u00e9){0,8}\"?\"?",
            "'([a-z #\"\\\\=\\[\\],.é\t]){0,8}'?'?",
            "[+-]?[0-9_]{1,20}([.e:-][0-9]{1,2})?",
            "(true|false|True|tru|falsey|inf|nan|-inf|1979-05-27|07:32:00)",
            "\\{ ?a ?= ?1 ?\\}",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => token(),
            1 => (prop::collection::vec(token(), 0..4), "(, ?| ,|,,|\n)", "(,)? ?\\]?")
                .prop_map(|(items, sep, end)| format!("[{}{end}", items.join(&sep))),
        ]
    }

    /// A line a job file may hold, plain or nearly so.
    fn line() -> impl Strategy<Value = String> {
        let mut keys: Vec<&'static str> = fields_of::<RawJob>().to_vec();
        keys.extend(["Name", "name.x", "\"name\"", "x-y", "1", ""]);
        let select = |keys: &'static [&'static str]| prop::sample::select(keys);
        let list = |item: BoxedStrategy<String>| {
            (prop::collection::vec(item, 0..4), "(, |,| ,)", "(,)? ?")
                .prop_map(|(items, sep, end)| format!("[{}{end}]", items.join(&sep)))
        };
        let text = || {
            prop_oneof![
                4 => "[a-z0-9 :/.{}é-]{0,12}".prop_map(|s| format!("\"{s}\"")),
                1 => "[a-z0-9 :/.{}\"\\\\é-]{0,12}".prop_map(|s| format!("'{s}'")),
                1 => token(),
            ]
            .boxed()
        };
        let number =
            || prop_oneof![4 => any::<i64>().prop_map(|n| n.to_string()), 1 => token()].boxed();
        let typed = prop_oneof![
            4 => (select(&["name", "kind", "url", "host", "timeout", "frequency", "path", "contains"]), text()),
            2 => (select(&["enabled", "verify", "public"]), "(true|false|tru)".boxed()),
            2 => (select(&["port", "retries", "min_size", "confirm_min"]), number()),
            1 => (select(&["notify", "targets", "command", "depends_on"]), list(text()).boxed()),
            1 => (select(&["contact", "expect"]), prop_oneof![text(), list(text()).boxed()].boxed()),
            1 => (select(&["expect_status"]), prop_oneof![number(), list(number()).boxed()].boxed()),
        ];
        prop_oneof![
            3 => Just("[[job]]".to_string()),
            1 => "[ \t]?\\[\\[ ?jobs? ?\\]\\]( ?#.{0,4}| x)?",
            1 => "[ \t]?\\[(job|job\\.headers|general)\\]",
            2 => "[ \t]*(#[^\n]{0,12})?",
            12 => ("[ \t]{0,2}", typed, "( = |=| =\t)", "( #[^\n]{0,6})?")
                .prop_map(|(indent, (k, v), eq, end)| format!("{indent}{k}{eq}{v}{end}")),
            2 => (prop::sample::select(keys), "( = |=| =\t| == |\t= )", value(), "( #[^\n]{0,6}| x| ,)?")
                .prop_map(|(k, eq, v, end)| format!("{k}{eq}{v}{end}")),
            1 => "\\PC{0,12}",
        ]
    }

    /// A job file's text, its first line a header or not, some lines ended by CRLF.
    fn file() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(
                (line(), prop_oneof![30 => Just("\n"), 1 => Just("\r\n")]),
                0..12,
            ),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(lines, header_first)| {
                let body: String = lines.into_iter().map(|(l, nl)| l + nl).collect();
                if header_first {
                    format!("[[job]]\n{body}")
                } else {
                    body
                }
            })
    }

    #[test]
    fn job_file_like_text_the_crate_reads_is_mostly_read_the_plain_way_and_alike() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut plain, mut by_crate) = (0, 0);
        for _ in 0..1000 {
            let text = file().new_tree(&mut runner).expect("a file").current();
            let (fast, toml) = both(&text, 0);
            by_crate += usize::from(toml.is_some());
            if fast.is_some() {
                plain += 1;
                assert_eq!(fast, toml, "{text:?}");
            }
        }
        assert!(by_crate > 100, "only {by_crate} of 1000 read by the crate");
        assert!(
            plain * 10 > by_crate * 8,
            "{plain} of {by_crate} read the plain way"
        );
    }

    proptest! {
        #![proptest_config(crate::config::proptest_config(512))]

        #[test]
        fn job_file_like_text_is_read_as_the_toml_crate_reads_it_or_declined(
            text in file(), offset in 0usize..100_000
        ) {
            let (plain, toml) = both(&text, offset);
            if plain.is_some() {
                prop_assert_eq!(plain, toml, "{:?}", text);
            }
        }

        #[test]
        fn any_text_is_read_as_the_toml_crate_reads_it_or_declined(text in any::<String>()) {
            let (plain, toml) = both(&text, 0);
            if plain.is_some() {
                prop_assert_eq!(plain, toml, "{:?}", text);
            }
        }
    }
}
