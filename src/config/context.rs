//! What every section's reading shares: [`FileCtx`], which collects one file's problems
//! with their lines and reads keys of the common sorts (durations, bounded numbers,
//! choices, templates), where `*_env` keys are read from, and small checks and helpers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::problem::Problem;
use super::read::{read_text, Lines, MAX_SECRET_BYTES};
use crate::template::{Template, Templates};

/// A value as written, with where it was written.
pub type S<T> = Spanned<T>;

/// A string or a list of strings (`alertcontact`, `contact`, `admin`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// Where `*_env` keys are read from, and what was read there.
#[derive(Debug, Default)]
pub(super) struct EnvSource {
    /// `Some`: the environment cron gives its jobs, not this process's.
    pub(super) cron: Option<HashMap<String, String>>,
    /// Each variable read: `` `password_env`: CHECKER_MAIL_PASSWORD ``, where it was named.
    pub(super) read: Vec<Problem>,
}

impl EnvSource {
    /// `cron_env`: read cron's environment instead of this process's
    /// (`validate --env-from-cron`).
    pub(super) fn new(cron_env: bool) -> Self {
        EnvSource {
            cron: cron_env.then(cron_environment),
            read: Vec::new(),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        match &self.cron {
            Some(env) => env.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

/// The search path cron gives its jobs (Debian's and most others').
pub const CRON_PATH: &str = "/usr/bin:/bin";

/// The environment cron starts a job with: `PATH`, `SHELL`, `HOME`, `LOGNAME` and `USER`,
/// plus what `/etc/environment` sets (Debian's cron reads it through PAM). Variables set
/// in the crontab itself cannot be known here.
pub(super) fn cron_environment() -> HashMap<String, String> {
    let mut env = HashMap::new();
    if let Ok(text) = read_text(Path::new("/etc/environment"), MAX_SECRET_BYTES) {
        for line in text.lines().map(str::trim) {
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                env.insert(k.trim().to_string(), v.to_string());
            }
        }
    }
    env.insert("PATH".into(), CRON_PATH.into());
    env.insert("SHELL".into(), "/bin/sh".into());
    for key in ["HOME", "LOGNAME", "USER"] {
        if let Ok(v) = std::env::var(key) {
            env.insert(key.into(), v);
        }
    }
    env
}

/// Collects problems for one file.
pub(super) struct FileCtx<'a> {
    pub(super) path: &'a Path,
    pub(super) src: &'a str,
    pub(super) lines: &'a Lines,
    pub(super) problems: &'a mut Vec<Problem>,
    /// A key of this table was set aside (unknown, or of the wrong type): "needs `url`"
    /// after "unknown key `urll`" would only be noise, so such problems are not added.
    pub(super) quiet_missing: bool,
    pub(super) env: &'a mut EnvSource,
}

impl<'a> FileCtx<'a> {
    pub(super) fn new(
        path: &'a Path,
        src: &'a str,
        lines: &'a Lines,
        problems: &'a mut Vec<Problem>,
        env: &'a mut EnvSource,
    ) -> Self {
        FileCtx {
            path,
            src,
            lines,
            problems,
            quiet_missing: false,
            env,
        }
    }
}

impl FileCtx<'_> {
    /// A required key is missing: reported unless a key of the table was set aside (its
    /// problem said what is wrong).
    pub(super) fn missing(&mut self, line: usize, message: impl Into<String>) {
        if !self.quiet_missing {
            self.at_line(line, message);
        }
    }

    /// A problem at byte `offset` of the file.
    pub(super) fn at(&mut self, offset: usize, message: impl Into<String>) {
        let line = self.lines.line(offset);
        self.at_line(line, message);
    }

    pub(super) fn at_line(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    /// The line a value was written on.
    pub(super) fn line_of<T>(&self, v: &Spanned<T>) -> usize {
        self.lines.line(v.span().start)
    }

    /// The line holding byte `offset` of the file.
    pub(super) fn line_at(&self, offset: usize) -> usize {
        self.lines.line(offset)
    }

    pub(super) fn duration(&mut self, key: &str, v: &Spanned<String>) -> Option<Duration> {
        match crate::duration::parse_at_most(v.get_ref(), duration_limit(key)) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(v.span().start, format!("`{key}`: {e}"));
                None
            }
        }
    }

    /// An optional duration key, or `default` when absent or wrong (reported).
    pub(super) fn duration_or(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Duration,
    ) -> Duration {
        v.as_ref()
            .and_then(|v| self.duration(key, v))
            .unwrap_or(default)
    }

    /// A channel's `timeout`: more than zero; `default` when absent or wrong (reported).
    pub(super) fn timeout_or(
        &mut self,
        table: &str,
        v: Option<&Spanned<String>>,
        default: Duration,
    ) -> Duration {
        let Some(v) = v else {
            return default;
        };
        match self.duration("timeout", v) {
            Some(d) if d.is_zero() => {
                self.at(
                    v.span().start,
                    format!("{table} `timeout` must be more than 0s"),
                );
                default
            }
            Some(d) => d,
            None => default,
        }
    }

    /// An optional whole-number key within bounds, or `default` when absent or wrong.
    pub(super) fn ranged_or(
        &mut self,
        key: &str,
        v: &Option<Spanned<i64>>,
        min: i64,
        max: i64,
        default: i64,
    ) -> i64 {
        v.as_ref()
            .and_then(|v| self.ranged(key, v, min, max))
            .unwrap_or(default)
    }

    pub(super) fn ranged(
        &mut self,
        key: &str,
        v: &Spanned<i64>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let n = *v.get_ref();
        if n < min || n > max {
            self.at(
                v.span().start,
                format!("`{key}` = {n} is out of range: use a whole number from {min} to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    pub(super) fn choice<T>(
        &mut self,
        key: &str,
        v: &Spanned<String>,
        parse: fn(&str) -> Option<T>,
        valid: &[&str],
    ) -> Option<T> {
        match parse(v.get_ref()) {
            Some(t) => Some(t),
            None => {
                self.at(
                    v.span().start,
                    format!(
                        "`{key}` = {:?} is not valid: use one of {}",
                        v.get_ref(),
                        quoted(valid)
                    ),
                );
                None
            }
        }
    }

    /// A channel's `title_template` and `body_template`, checked and kept; a bad one is
    /// reported at its key's line.
    pub(super) fn templates(
        &mut self,
        table: &str,
        title: Option<&Spanned<String>>,
        body: Option<&Spanned<String>>,
    ) -> Templates {
        Templates {
            title: self.template(table, "title_template", title),
            body: self.template(table, "body_template", body),
        }
    }

    fn template(
        &mut self,
        table: &str,
        key: &'static str,
        v: Option<&Spanned<String>>,
    ) -> Option<Template> {
        let v = v?;
        let t = Template::new(key, v.get_ref().clone()).at(table, self.line_of(v));
        if let Err(e) = t.check() {
            self.at(v.span().start, format!("{table} `{key}`: {e}"));
        }
        Some(t)
    }
}

/// The longest value each duration key takes. Nothing the engine computes with a duration
/// can then overflow a date, and a typo of a few extra digits is an error, not a job that
/// never runs. docs/configuration.md#limits lists them.
pub(super) fn duration_limit(key: &str) -> Duration {
    const HOUR: u64 = 3_600;
    const DAY: u64 = 24 * HOUR;
    Duration::from_secs(match key {
        // How long one attempt, wait or delay may take.
        "timeout" | "max_response_time" | "tick_deadline" | "lock_timeout" | "self_check_wait"
        | "header_timeout" | "delivery_retry" => DAY,
        // Between the retries of one run.
        "retry_backoff" => HOUR,
        // How far apart things happen.
        "every"
        | "self_check"
        | "expect_every"
        | "grace"
        | "failing_for"
        | "stale_after"
        | "undeliverable_after" => 366 * DAY,
        // How old a file may be.
        "max_age" => 3_650 * DAY,
        // A maintenance window: longer is a silence, or a job to disable.
        "duration" => 31 * DAY,
        _ => 366 * DAY,
    })
}

pub(super) fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The nearest of `candidates` to `word`, for "did you mean" hints.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::normalized_damerau_levenshtein(word, c), *c))
        .filter(|(score, _)| *score > 0.3)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `p` as written in a file of `base`: absolute, or relative to that folder.
pub(super) fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The line of a section's header (`[email]`), for problems of the section as a whole.
pub(super) fn section_line(src: &str, header: &str) -> usize {
    src.lines()
        .position(|l| l.trim_start().starts_with(header))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Whether `url` is an absolute http(s) URL with a host.
pub(super) fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// What is wrong with one environment variable of a program, if anything.
pub(super) fn env_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() || key.contains(['=', '\0']) {
        return Some(format!(
            "{key:?} is not a variable name: it must be non-empty, without = or NUL"
        ));
    }
    if value.contains('\0') {
        return Some(format!("the value of {key:?} holds a NUL character"));
    }
    None
}
