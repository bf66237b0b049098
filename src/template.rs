//! Title and body templates of the channels (minijinja), as the settings hold them: the
//! variables they may use, the checks loading runs (syntax, unknown variables and
//! filters) and a render within bounds. What an alert offers them and the fall-back to
//! the default wording are `notify::template`'s.

use minijinja::{Environment, UndefinedBehavior, Value};

/// The variables every template can use, in the order the documentation lists them. A
/// digest's (`kind` "digest") are `kind`, `status`, `servername`, `at`, `recipients`,
/// `title`, `subject`, `body`, `failing`, `recovered` and `alerts` (each alert's own).
pub const VARIABLES: &[&str] = &[
    "kind",
    "status",
    "servername",
    "job",
    "job_kind",
    "description",
    "target",
    "expected",
    "message",
    "consecutive_failures",
    "failing_since",
    "failing_since_ago",
    "last_success",
    "last_success_ago",
    "next_reminder",
    "at",
    "recipients",
    "title",
    "subject",
    "body",
    "line",
    "failing",
    "recovered",
    "alerts",
];

/// The work one render may do: instructions executed and data created (minijinja's fuel;
/// about 64 bytes per unit), so a loop of loops or `indent(1000000000)` stops early.
pub const RENDER_FUEL: u64 = 200_000;
/// The longest text a render may produce.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// One template as written in the settings. Compiled when used: compiling is cheap next to
/// an HTTP request, and keeps the configuration free of borrowed engine state. It is
/// checked when the configuration loads (syntax, names) but rendered only when a message
/// is sent, and then within `RENDER_FUEL` and `MAX_OUTPUT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The settings key it came from (`title_template`...), named in errors.
    pub key: &'static str,
    pub source: String,
    /// Where it was written, for `validate`: the table ("[email]") and the line (0: not
    /// known).
    pub table: String,
    pub line: usize,
}

/// A channel's optional title and body templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates {
    pub title: Option<Template>,
    pub body: Option<Template>,
}

/// Collects a render's output up to `MAX_OUTPUT`; past it the render fails.
struct Bounded {
    buf: Vec<u8>,
    over: bool,
}

impl std::io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > MAX_OUTPUT {
            self.over = true;
            return Err(std::io::Error::other("output too long"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable is an error, not silently empty text; `{% if description %}`
    // still works for the variables that may be none.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    // Keeps the spans errors are located with.
    env.set_debug(true);
    env.set_fuel(Some(RENDER_FUEL));
    env
}

impl Template {
    pub fn new(key: &'static str, source: impl Into<String>) -> Self {
        Template {
            key,
            source: source.into(),
            table: String::new(),
            line: 0,
        }
    }

    /// The same template, noted as written in `table` at `line`.
    pub fn at(self, table: &str, line: usize) -> Self {
        Template {
            table: table.to_string(),
            line,
            ..self
        }
    }

    /// Renders with these variables (`notify::template::context` makes them of an
    /// alert), within `RENDER_FUEL` and `MAX_OUTPUT`.
    pub fn render_with(&self, variables: Value) -> Result<String, TemplateError> {
        let env = environment();
        let tmpl = env
            .template_from_named_str(self.key, &self.source)
            .map_err(|e| TemplateError::from_engine(&e, &self.source))?;
        let mut out = Bounded {
            buf: Vec::new(),
            over: false,
        };
        let rendered = tmpl.render_captured_to(variables, &mut out).map(drop);
        match rendered {
            Ok(()) => String::from_utf8(out.buf).map_err(|_| TemplateError {
                message: "the output is not text".into(),
                location: None,
            }),
            Err(_) if out.over => Err(TemplateError {
                message: format!(
                    "the output is longer than {} KiB, the most a message may be",
                    MAX_OUTPUT / 1024
                ),
                location: None,
            }),
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => Err(TemplateError {
                message: format!(
                    "it does more work than a message may take (a render budget of {RENDER_FUEL} steps): loop less, or over less data"
                ),
                location: TemplateError::from_engine(&e, &self.source).location,
            }),
            Err(e) => Err(TemplateError::from_engine(&e, &self.source)),
        }
    }

    /// Everything that can be found wrong without rendering: syntax, unknown variables
    /// and unknown filters. Checked whenever the configuration loads.
    pub fn check(&self) -> Result<(), TemplateError> {
        let env = environment();
        let tmpl = env
            .template_from_named_str(self.key, &self.source)
            .map_err(|e| TemplateError::from_engine(&e, &self.source))?;
        let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
        let mut unknown: Vec<String> = tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| {
                !VARIABLES.contains(&v.as_str()) && !globals.contains(&v.as_str()) && v != "loop"
            })
            .collect();
        unknown.sort();
        if let Some(v) = unknown.first() {
            return Err(TemplateError {
                message: format!(
                    "unknown variable `{v}` (variables: {})",
                    VARIABLES.join(", ")
                ),
                location: find_word(&self.source, v),
            });
        }
        for (name, offset) in filters_used(&self.source) {
            let probe = format!("{{{{ none|{name} }}}}");
            if let Err(e) = env.render_str(&probe, ()) {
                if e.kind() == minijinja::ErrorKind::UnknownFilter {
                    return Err(TemplateError {
                        message: format!("unknown filter `{name}`"),
                        location: Some(line_col(&self.source, offset)),
                    });
                }
            }
        }
        Ok(())
    }
}

/// What is wrong with a template, and where in it (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub location: Option<(usize, usize)>,
}

impl TemplateError {
    fn from_engine(e: &minijinja::Error, source: &str) -> Self {
        let message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        let location = match (e.range(), e.line()) {
            (Some(r), _) => Some(line_col(source, r.start)),
            (None, Some(line)) => Some((line, 1)),
            _ => None,
        };
        TemplateError { message, location }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location {
            Some((line, col)) => write!(f, "{} (template line {line}, column {col})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where `word` first appears inside a `{{ }}` or `{% %}` block.
fn find_word(source: &str, word: &str) -> Option<(usize, usize)> {
    code_spans(source).into_iter().find_map(|(start, end)| {
        let code = &source[start..end];
        code.match_indices(word)
            .find(|(i, _)| {
                let before = code[..*i].chars().next_back();
                let after = code[i + word.len()..].chars().next();
                !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
            })
            .map(|(i, _)| line_col(source, start + i))
    })
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Byte ranges of the code inside `{{ ... }}` and `{% ... %}` blocks.
fn code_spans(source: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut rest = 0;
    while let Some(open) = source[rest..].find(['{']).map(|i| rest + i) {
        let close = match source[open..].chars().nth(1) {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let end = source[start..]
            .find(close)
            .map_or(source.len(), |i| start + i);
        if close != "#}" {
            spans.push((start, end));
        }
        rest = (end + 2).min(source.len());
        if rest >= source.len() {
            break;
        }
    }
    spans
}

/// The filters a template applies (`x|name`), outside string literals, with offsets.
fn filters_used(source: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for (start, end) in code_spans(source) {
        let code = &source[start..end];
        let mut quote: Option<char> = None;
        let mut chars = code.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match (quote, c) {
                (Some(_), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '|') => {
                    let after = &code[i + 1..];
                    let trimmed = after.trim_start();
                    let name: String = trimmed.chars().take_while(|&c| is_ident(c)).collect();
                    if !name.is_empty() {
                        let at = start + i + 1 + (after.len() - trimmed.len());
                        found.push((name, at));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let e = Template::new("body_template", "ok\n{{ job }\n")
            .check()
            .unwrap_err();
        assert!(e.message.contains("syntax error"), "{e}");
        assert_eq!(e.location.map(|l| l.0), Some(2), "{e}");
    }

    #[test]
    fn an_unknown_filter_is_found_even_in_a_branch_no_sample_reaches() {
        let e = Template::new(
            "title_template",
            "{% if consecutive_failures > 99 %}{{ job | shout }}{% endif %}",
        )
        .check()
        .unwrap_err();
        assert_eq!(e.message, "unknown filter `shout`");
        assert_eq!(e.location, Some((1, 44)));
        assert!(Template::new(
            "t",
            "{{ job|upper }} {{ 'a|b' }} {{ message|replace('a', 'b') }} {{ message[:10] }}"
        )
        .check()
        .is_ok());
    }

    #[test]
    fn an_unknown_variable_is_an_error_with_the_list_of_variables() {
        let e = Template::new("body_template", "line one\n{{ jbo }}")
            .check()
            .unwrap_err();
        assert!(
            e.message
                .starts_with("unknown variable `jbo` (variables: kind, status"),
            "{e}"
        );
        assert_eq!(e.location, Some((2, 4)));
    }
}
