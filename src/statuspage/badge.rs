//! Badges in the flat style of shields.io: a grey label on the left, a coloured message
//! on the right, text widths estimated from Verdana's at 11 px (what shields measures
//! with), so no font is needed to draw them.

use super::html::{esc, pct};

/// The longest label, in characters; longer job names are cut with an ellipsis.
const MAX_LABEL: usize = 40;

pub const GREEN: &str = "#4c1";
pub const RED: &str = "#e05d44";
pub const GREY: &str = "#9f9f9f";
pub const BLUE: &str = "#007ec6";

/// Approximate advance of a character in Verdana 11 px, in pixels.
fn advance(c: char) -> f64 {
    match c {
        'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'I' => 3.6,
        ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '/' | '-' => 4.6,
        'm' | 'w' | 'M' | 'W' | '%' | '@' => 10.4,
        'A'..='Z' => 7.6,
        '0'..='9' => 7.0,
        c if c.is_ascii() => 6.6,
        _ => 7.6,
    }
}

fn width(text: &str) -> f64 {
    text.chars().map(advance).sum()
}

/// One badge: `label` on grey, `message` on `color`.
pub fn svg(label: &str, message: &str, color: &str) -> String {
    // Cut with an ellipsis, within the limit.
    let label = crate::text::truncate_chars(label, MAX_LABEL);
    let lw = (width(&label) + 10.0).round();
    let mw = (width(message) + 10.0).round();
    let total = lw + mw;
    let (l, m) = (esc(&label), esc(message));
    let lx = lw / 2.0;
    let mx = lw + mw / 2.0;
    format!(
        concat!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" aria-label=\"{l}: {m}\">",
            "<title>{l}: {m}</title>",
            "<linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>",
            "<clipPath id=\"r\"><rect width=\"{total}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>",
            "<g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"#555\"/><rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{color}\"/><rect width=\"{total}\" height=\"20\" fill=\"url(#s)\"/></g>",
            "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">",
            "<text x=\"{lx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{l}</text><text x=\"{lx}\" y=\"14\">{l}</text>",
            "<text x=\"{mx}\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">{m}</text><text x=\"{mx}\" y=\"14\">{m}</text>",
            "</g></svg>\n"
        ),
        total = total,
        l = l,
        m = m,
        lw = lw,
        mw = mw,
        color = color,
        lx = lx,
        mx = mx,
    )
}

/// The colour of an uptime, as shields colours coverage-like figures.
pub fn uptime_color(p: f64) -> &'static str {
    if p >= 99.9 {
        GREEN
    } else if p >= 99.0 {
        "#97ca00"
    } else if p >= 97.0 {
        "#a4a61d"
    } else if p >= 95.0 {
        "#dfb317"
    } else if p >= 90.0 {
        "#fe7d37"
    } else {
        RED
    }
}

/// The uptime badge's message and colour.
pub fn uptime(p: Option<f64>) -> (String, &'static str) {
    match p {
        Some(p) => (pct(p), uptime_color(p)),
        None => ("no data".into(), GREY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_grows_with_its_text_and_escapes_it() {
        let short = svg("web", "up", GREEN);
        let long = svg("a much longer job name", "up", GREEN);
        let w = |s: &str| -> f64 {
            s.split("width=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        assert!(w(&long) > w(&short) + 50.0, "{} {}", w(&long), w(&short));
        let evil = svg("<script>x</script>", "up & \"down\"", RED);
        assert!(!evil.contains("<script>"), "{evil}");
        assert!(evil.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(evil.contains("up &amp; &quot;down&quot;"));
        let cut = svg(&"x".repeat(100), "up", GREEN);
        assert!(cut.contains(&format!("{}…", "x".repeat(39))), "{cut}");
    }

    #[test]
    fn uptime_colours_go_from_green_to_red() {
        assert_eq!(uptime(Some(100.0)), ("100%".to_string(), GREEN));
        assert_eq!(uptime(Some(99.95)).1, GREEN);
        assert_eq!(uptime(Some(99.5)).1, "#97ca00");
        assert_eq!(uptime(Some(42.0)), ("42.00%".to_string(), RED));
        assert_eq!(uptime(None), ("no data".to_string(), GREY));
    }
}
