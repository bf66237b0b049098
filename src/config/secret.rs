//! Passwords, tokens and keys: the [`Secret`] type that never shows its value, and reading
//! one given inline, from an environment variable (`<key>_env`) or from a file
//! (`<key>_file`).

use std::fmt;
use std::path::Path;

use toml::Spanned;

use super::context::{resolve_path, FileCtx, CRON_PATH};
use super::problem::Problem;
use super::read::{read_text, MAX_SECRET_BYTES};

/// A password or token. Its `Debug` and `Display` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The value itself: call only where it is handed to a protocol.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Reads a secret given inline, as `<key>_env` or as `<key>_file`.
pub(super) fn secret(
    cx: &mut FileCtx<'_>,
    base: &Path,
    key: &str,
    inline: Option<&String>,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
) -> Option<Secret> {
    let given = inline.is_some() as u8 + env.is_some() as u8 + file.is_some() as u8;
    if given > 1 {
        let offset = env
            .map(|e| e.span().start)
            .or(file.map(|f| f.span().start))
            .unwrap_or(0);
        cx.at(
            offset,
            format!("give `{key}` one way only: inline, `{key}_env` or `{key}_file`"),
        );
        return None;
    }
    if let Some(v) = inline {
        return Some(Secret::new(v.clone()));
    }
    if let Some(var) = env {
        let line = cx.lines.line(var.span().start);
        cx.env.read.push(Problem {
            file: cx.path.to_path_buf(),
            line,
            message: format!("`{key}_env`: {}", var.get_ref()),
        });
        return match cx.env.get(var.get_ref()) {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            _ => {
                let whose = if cx.env.cron.is_some() {
                    format!(
                        "is not set in cron's environment (cron sets PATH={CRON_PATH}, SHELL, HOME, LOGNAME and what /etc/environment holds): set it in the crontab (a `{} = value` line) or use `{key}_file`",
                        var.get_ref()
                    )
                } else {
                    "is not set (or empty)".to_string()
                };
                cx.at(
                    var.span().start,
                    format!(
                        "`{key}_env`: environment variable {} {whose}",
                        var.get_ref()
                    ),
                );
                None
            }
        };
    }
    if let Some(f) = file {
        let path = resolve_path(base, f.get_ref());
        return match read_text(&path, MAX_SECRET_BYTES) {
            Ok(v) => Some(Secret::new(v.trim_end_matches(['\n', '\r']).to_string())),
            Err(e) => {
                cx.at(
                    f.span().start,
                    format!("`{key}_file`: cannot read {}: {e}", path.display()),
                );
                None
            }
        };
    }
    None
}

/// A bearer token given inline, as `token_env` or as `token_file`; never empty. `line`
/// is where its table starts, for an inline token (which has no span of its own).
pub(super) fn token(
    cx: &mut FileCtx<'_>,
    base: &Path,
    what: &str,
    line: usize,
    inline: Option<&String>,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
) -> Option<Secret> {
    let t = secret(cx, base, "token", inline, env, file)?;
    if t.is_empty() {
        let line = file.map(|f| cx.lines.line(f.span().start)).unwrap_or(line);
        cx.at_line(
            line,
            format!("{what}: `token` is empty: give a long random string, or remove it"),
        );
        return None;
    }
    Some(t)
}
