//! Text from outside checker (plugin output, `wrap` output tails, `report --message`,
//! servers' answers) made safe to print on a terminal: control characters are shown as
//! escapes, the way peer answers are quoted, so no output can retitle, clear or rewrite
//! the terminal it is printed on. JSON output needs none of this: it escapes them itself.

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
}
