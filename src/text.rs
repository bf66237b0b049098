//! Text from outside checker (plugin output, `wrap` output tails, `report --message`,
//! servers' answers) made safe to print on a terminal: control characters are shown as
//! escapes, the way peer answers are quoted, so no output can retitle, clear or rewrite
//! the terminal it is printed on. JSON output needs none of this: it escapes them itself.
//!
//! Also the one rule for cutting text short (`truncate`, `truncate_chars`): the limit
//! counts the ellipsis that marks the cut, so what is cut never exceeds it.

use std::borrow::Cow;

/// `s` for one line of a table or log: every control character (C0, DEL, C1) and every
/// bidirectional-text control shown escaped (`\u{1b}`, `\r`, `\n`); tabs kept.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// `printable`, keeping line breaks: for messages printed whole, over several lines.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c != '\t' && !(keep_newlines && c == '\n') && is_unsafe(c);
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The mark put where text was cut.
pub const ELLIPSIS: char = '…';

/// `s` cut to at most `max` bytes on a character boundary, the last of them an ellipsis
/// when anything was cut (whitespace before the cut is dropped). Below the ellipsis's own
/// three bytes the cut is left unmarked.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mark = ELLIPSIS.len_utf8();
    if max < mark {
        return s[..floor_char_boundary(s, max)].to_string();
    }
    let keep = &s[..floor_char_boundary(s, max - mark)];
    format!("{}{ELLIPSIS}", keep.trim_end())
}

/// `truncate` counted in characters, for limits a service sets in characters.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let keep: String = s.chars().take(max - 1).collect();
    format!("{}{ELLIPSIS}", keep.trim_end())
}

/// The largest index at most `at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut end = at.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// Characters a terminal acts on instead of showing: controls, and the Unicode marks that
/// reorder text (which can make a line read backwards).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_escaped_and_plain_text_is_untouched() {
        assert!(matches!(
            printable("disk full (93%)\tsda1"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            printable("\u{1b}]0;owned\u{7}\u{1b}[2Jgone\r\nnext"),
            "\\u{1b}]0;owned\\u{7}\\u{1b}[2Jgone\\r\\nnext"
        );
        assert_eq!(printable_lines("a\u{1b}[31m\nb\r"), "a\\u{1b}[31m\nb\\r");
        assert_eq!(
            printable("\u{9b}31m \u{202e}evil\u{7f}"),
            "\\u{9b}31m \\u{202e}evil\\u{7f}"
        );
        assert_eq!(printable("héllo ✓ 日本"), "héllo ✓ 日本");
    }

    #[test]
    fn truncation_keeps_the_limit_and_marks_the_cut() {
        assert_eq!(truncate_chars("short", 10), "short");
        let cut = truncate_chars(&"é".repeat(3000), 2000);
        assert_eq!(cut.chars().count(), 2000);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_cut_in_bytes_counts_the_ellipsis_and_never_splits_a_character() {
        assert_eq!(truncate("short", 5), "short");
        // Before this rule, one copy kept `max` bytes and added the mark (max + 3).
        assert_eq!(truncate("abcdefgh", 6), "abc…");
        assert_eq!(truncate("abcdefgh", 6).len(), 6);
        for max in 0..40 {
            let cut = truncate(&"ü日x".repeat(20), max);
            assert!(cut.len() <= max, "{max}: {cut:?} is {} bytes", cut.len());
        }
        let cut = truncate(&"ü".repeat(5000), 4096);
        assert!(cut.len() <= 4096 && cut.ends_with('…'));
        assert_eq!(truncate("word and more", 12), "word and…");
        assert_eq!(truncate("abcdef", 2), "ab");
    }

    #[test]
    fn a_cut_in_characters_counts_the_ellipsis_too() {
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        assert_eq!(truncate_chars("abcdef", 0), "");
        assert_eq!(truncate_chars("ab cdef", 4), "ab…");
    }
}
