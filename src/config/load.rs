//! Finding and loading the settings file and the job files, and turning the raw file
//! contents into the validated model. Every problem is collected with its file and line
//! before loading fails, so one `checker validate` run shows them all.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::model::*;
use super::raw::*;
use crate::schedule::Schedule;

mod http_channels;
mod parse;
mod peers;
#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) use proptests::config as proptest_config;

use parse::{parse_toml, read_text, Lines, MAX_CONFIG_BYTES, MAX_SECRET_BYTES};

/// One thing wrong with the configuration, where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not tied to a line (a missing file).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// The configuration could not be loaded; every problem found is listed.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "configuration has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                file: file.to_path_buf(),
                line,
                message: message.into(),
            }],
        }
    }
}

/// The settings file to use: `-f`, else `$CHECKER_CONFIG`, else `./settings.toml`, else
/// `/etc/checker/settings.toml`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CHECKER_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for candidate in ["settings.toml", "/etc/checker/settings.toml"] {
        let p = PathBuf::from(candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ConfigError::one(
        Path::new("settings.toml"),
        0,
        "no settings file found: give one with -f FILE or $CHECKER_CONFIG, or create ./settings.toml (see settings.example.toml)",
    ))
}

/// How the configuration is loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Read `*_env` variables from the environment cron gives its jobs instead of this
    /// process's own (`validate --env-from-cron`).
    pub cron_env: bool,
}

/// Where `*_env` keys are read from, and what was read there.
#[derive(Debug, Default)]
pub(super) struct EnvSource {
    /// `Some`: the environment cron gives its jobs, not this process's.
    cron: Option<HashMap<String, String>>,
    /// Each variable read: `` `password_env`: CHECKER_MAIL_PASSWORD ``, where it was named.
    read: Vec<Problem>,
}

impl EnvSource {
    fn new(opts: LoadOptions) -> Self {
        EnvSource {
            cron: opts.cron_env.then(cron_environment),
            read: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
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
fn cron_environment() -> HashMap<String, String> {
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
    path: &'a Path,
    pub(super) src: &'a str,
    pub(super) lines: &'a Lines,
    problems: &'a mut Vec<Problem>,
    /// A key of this table was set aside (unknown, or of the wrong type): "needs `url`"
    /// after "unknown key `urll`" would only be noise, so such problems are not added.
    quiet_missing: bool,
    env: &'a mut EnvSource,
}

impl FileCtx<'_> {
    /// A required key is missing: reported unless a key of the table was set aside (its
    /// problem said what is wrong).
    fn missing(&mut self, line: usize, message: impl Into<String>) {
        if !self.quiet_missing {
            self.at_line(line, message);
        }
    }

    fn at(&mut self, offset: usize, message: impl Into<String>) {
        let line = self.lines.line(offset);
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    pub(super) fn at_line(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.path.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    fn duration(&mut self, key: &str, v: &Spanned<String>) -> Option<Duration> {
        match crate::duration::parse_at_most(v.get_ref(), duration_limit(key)) {
            Ok(d) => Some(d),
            Err(e) => {
                self.at(v.span().start, format!("`{key}`: {e}"));
                None
            }
        }
    }

    /// An optional duration key, or `default` when absent or wrong (reported).
    fn duration_or(
        &mut self,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Duration,
    ) -> Duration {
        v.as_ref()
            .and_then(|v| self.duration(key, v))
            .unwrap_or(default)
    }

    /// An optional whole-number key within bounds, or `default` when absent or wrong.
    fn ranged_or(
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

    fn ranged(&mut self, key: &str, v: &Spanned<i64>, min: i64, max: i64) -> Option<i64> {
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

    fn choice<T>(
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
}

/// The longest value each duration key takes. Nothing the engine computes with a duration
/// can then overflow a date, and a typo of a few extra digits is an error, not a job that
/// never runs. README ("Limits") lists them.
fn duration_limit(key: &str) -> Duration {
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
        _ => 366 * DAY,
    })
}

fn quoted(words: &[&str]) -> String {
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

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn hostname() -> String {
    ::hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "checker".to_string())
}

/// Reads a secret given inline, as `<key>_env` or as `<key>_file`.
fn secret(
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

/// The text of a settings file, read as loading reads it (a regular file of at most
/// 10 MiB, UTF-8).
pub fn read_settings_text(path: &Path) -> Result<String, String> {
    read_text(path, MAX_CONFIG_BYTES).map_err(|e| e.to_string())
}

/// Loads and validates the settings file at `path` and every job file. A problem in the
/// settings is an error; a job file with problems is left out (its problems are in
/// `Config::problems`) and the other files load.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, LoadOptions::default())
}

/// [`load`], with options.
pub fn load_with(path: &Path, opts: LoadOptions) -> Result<Config, ConfigError> {
    let (config, problems) = load_checked(path, opts);
    match config {
        // A problem of the settings file stops everything: without it no channel is
        // known. A job file's problems leave that file out, so one typo silences nothing
        // else.
        Some(mut config) if !problems.iter().any(|p| p.file == path) => {
            config.problems = problems;
            let broken: Vec<PathBuf> = config
                .broken_files()
                .iter()
                .map(|f| f.to_path_buf())
                .collect();
            config.jobs.retain(|j| !broken.contains(&j.source.file));
            Ok(config)
        }
        _ => Err(ConfigError { problems }),
    }
}

/// Everything `validate` needs: the configuration as far as it could be made (`None`
/// when the settings file cannot be read or parsed; jobs of broken files included), and
/// every problem of every file, the settings first, each file in line order.
pub fn load_checked(path: &Path, opts: LoadOptions) -> (Option<Config>, Vec<Problem>) {
    match load_parts(path, opts) {
        Ok((config, problems)) => (Some(config), problems),
        Err(e) => (None, e.problems),
    }
}

fn load_parts(path: &Path, opts: LoadOptions) -> Result<(Config, Vec<Problem>), ConfigError> {
    let src = read_text(path, MAX_CONFIG_BYTES).map_err(|e| {
        ConfigError::one(
            path,
            0,
            format!("cannot read settings file: {e} (give another with -f FILE)"),
        )
    })?;
    let lines = Lines::new(&src);
    // Absolute, so paths stay right when a command job runs in another folder.
    let base = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut problems = Vec::new();
    let mut env = EnvSource::new(opts);
    // A key set aside has been reported; the rest is still checked, job files too.
    let Some((raw, _)) =
        parse_toml::<RawSettings>(path, &src, &lines, &parse::SETTINGS, &mut problems)
    else {
        return Err(ConfigError { problems });
    };
    let mut cx = FileCtx {
        path,
        src: &src,
        lines: &lines,
        problems: &mut problems,
        quiet_missing: false,
        env: &mut env,
    };

    let g = &raw.general;
    let jobs_dir_line = g
        .jobs_dir
        .as_ref()
        .map_or(0, |d| cx.lines.line(d.span().start));
    let general = General {
        servername: g
            .servername
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(hostname),
        alertcontact: g
            .alertcontact
            .as_ref()
            .map(|a| a.get_ref().clone().into_vec())
            .unwrap_or_default(),
        state_file: resolve_path(&base, g.state_file.as_deref().unwrap_or("state.json")),
        jobs_dir: resolve_path(
            &base,
            g.jobs_dir.as_ref().map_or("jobs", |d| d.get_ref().as_str()),
        ),
        history_dir: resolve_path(&base, g.history_dir.as_deref().unwrap_or("history")),
        history_days: cx.ranged_or("history_days", &g.history_days, 1, 36_500, 30) as u32,
        history_db: match g.history_db.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => resolve_path(&base, p),
            None => resolve_path(&base, g.state_file.as_deref().unwrap_or("state.json"))
                .parent()
                .map(|d| d.join("history.db"))
                .unwrap_or_else(|| base.join("history.db")),
        },
        history_archive_dir: g
            .history_archive_dir
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(|p| resolve_path(&base, p)),
        history_keep_last: cx.ranged_or("history_keep_last", &g.history_keep_last, 0, 1_000_000, 0)
            as u32,
        rollup_hours_days: cx.ranged_or("rollup_hours_days", &g.rollup_hours_days, 1, 36_500, 400)
            as u32,
        rollup_days: cx.ranged_or("rollup_days", &g.rollup_days, 1, 36_500, 1830) as u32,
        max_concurrency: cx.ranged_or("max_concurrency", &g.max_concurrency, 1, 10_000, 64)
            as usize,
        tick_deadline: cx.duration_or("tick_deadline", &g.tick_deadline, Duration::from_secs(50)),
        stale_after: cx.duration_or("stale_after", &g.stale_after, Duration::from_secs(180)),
        lock_timeout: cx.duration_or("lock_timeout", &g.lock_timeout, Duration::from_secs(30)),
        delivery_retry: cx.duration_or(
            "delivery_retry",
            &g.delivery_retry,
            Duration::from_secs(60),
        ),
        undeliverable_after: cx.duration_or(
            "undeliverable_after",
            &g.undeliverable_after,
            Duration::from_secs(15 * 60),
        ),
    };

    let l = &raw.logging;
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let logging = Logging {
        file: l
            .file
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| resolve_path(&base, f)),
        max_bytes: cx.ranged_or("max_bytes", &l.max_bytes, 1024, i64::MAX, 10 * 1024 * 1024) as u64,
        backups: cx.ranged_or("backups", &l.backups, 0, 1000, 5) as u32,
        file_level: l
            .file_level
            .as_ref()
            .and_then(|v| cx.choice("file_level", v, Level::parse, LEVELS))
            .unwrap_or(Level::Info),
        stderr_level: l
            .stderr_level
            .as_ref()
            .and_then(|v| cx.choice("stderr_level", v, Level::parse, LEVELS))
            .unwrap_or(Level::Warn),
    };

    let email = resolve_email(&mut cx, &base, raw.email.as_ref());

    let mut commands = Vec::new();
    for c in &raw.commands {
        let span = c.span();
        let c = c.get_ref();
        if c.command.is_empty() || c.command[0].is_empty() {
            cx.at(span.start, format!("[[commands]] {:?}: `command` must name a program, e.g. [\"/usr/local/bin/page-me\"]", c.name));
        }
        if c.name == "email" || commands.iter().any(|o: &CommandChannel| o.name == c.name) {
            cx.at(
                span.start,
                format!(
                    "[[commands]] name {:?} is already taken: channel names must be unique",
                    c.name
                ),
            );
        }
        let mut command = c.command.clone();
        if let Some(p) = command.first_mut() {
            if p.contains('/') {
                *p = resolve_path(&base, p).to_string_lossy().into_owned();
            }
        }
        if c.command.iter().any(|a| a.contains('\0')) {
            cx.at(
                span.start,
                format!("[[commands]] {:?}: `command` holds a NUL character", c.name),
            );
        }
        for why in c.env.iter().filter_map(|(k, v)| env_problem(k, v)) {
            cx.at(
                span.start,
                format!("[[commands]] {:?}: `env`: {why}", c.name),
            );
        }
        commands.push(CommandChannel {
            name: c.name.clone(),
            command,
            env: c.env.clone(),
            timeout: cx.duration_or("timeout", &c.timeout, Duration::from_secs(30)),
        });
    }

    let defaults = resolve_defaults(&mut cx, &raw.defaults);
    let (pushover, webhooks) = http_channels::resolve(&mut cx, &base, &raw, &commands);

    let default_notify = defaults.notify.clone();
    let serve = peers::resolve_serve(&mut cx, &base, raw.serve.as_ref());
    let mut config = Config {
        path: path.to_path_buf(),
        general,
        logging,
        email,
        commands,
        jobs: Vec::new(),
        default_notify,
        serve,
        pushover,
        webhooks,
        warnings: Vec::new(),
        problems: Vec::new(),
        env_reads: Vec::new(),
    };
    let jobs_dir_key = JobsDirKey {
        settings: path,
        line: jobs_dir_line,
    };
    load_jobs(&mut config, &defaults, jobs_dir_key, &mut problems);
    peers::add_peer_jobs(
        &mut config,
        &base,
        &src,
        &lines,
        &raw.peers,
        &defaults,
        &mut problems,
        &mut env,
    );
    check_channels(&config, &mut problems);
    config.env_reads = env.read;
    // File by file (the settings first), each in line order.
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &problems {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| {
        (
            p.file != path,
            files.iter().position(|f| *f == p.file),
            p.line,
        )
    });
    Ok((config, problems))
}

fn resolve_email(cx: &mut FileCtx<'_>, base: &Path, raw: Option<&RawEmail>) -> Email {
    let Some(e) = raw else {
        return Email {
            enabled: false,
            from: String::new(),
            user: None,
            password: None,
            templates: Default::default(),
            imap_user: None,
            imap_password: None,
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: Security::StartTls,
            imap_host: None,
            imap_port: 993,
            imap_security: Security::Tls,
            imap_mailbox: "INBOX".into(),
            self_check: None,
            self_check_wait: Duration::from_secs(60),
            ca_file: None,
            accept_invalid_certs: false,
            bust_threading: false,
            timeout: Duration::from_secs(30),
        };
    };
    const SECURITY: &[&str] = &["starttls", "tls", "none"];
    let enabled = e.enabled.unwrap_or(true);
    let smtp_security = e
        .smtp_security
        .as_ref()
        .and_then(|v| cx.choice("smtp_security", v, Security::parse, SECURITY))
        .unwrap_or(Security::StartTls);
    let imap_security = e
        .imap_security
        .as_ref()
        .and_then(|v| cx.choice("imap_security", v, Security::parse, SECURITY))
        .unwrap_or(Security::Tls);
    let port = |cx: &mut FileCtx<'_>, key: &str, v: &Option<Spanned<i64>>, default: u16| {
        v.as_ref()
            .and_then(|v| cx.ranged(key, v, 1, 65_535))
            .map(|p| p as u16)
            .unwrap_or(default)
    };
    let smtp_port = port(
        cx,
        "smtp_port",
        &e.smtp_port,
        match smtp_security {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        },
    );
    let imap_port = port(
        cx,
        "imap_port",
        &e.imap_port,
        if imap_security == Security::Tls {
            993
        } else {
            143
        },
    );
    let self_check = match &e.self_check {
        None => Some(Schedule::Tick(Frequency::Hour)),
        Some(v) if v.get_ref() == "never" => None,
        Some(v) => schedule_from(cx, "self_check", v.get_ref(), v.span().start, true),
    };
    // A disabled email section may name a variable that is not set on this machine.
    let (password, imap_password) = if enabled {
        (
            secret(
                cx,
                base,
                "password",
                e.password.as_ref(),
                e.password_env.as_ref(),
                e.password_file.as_ref(),
            ),
            secret(
                cx,
                base,
                "imap_password",
                e.imap_password.as_ref(),
                e.imap_password_env.as_ref(),
                e.imap_password_file.as_ref(),
            ),
        )
    } else {
        (None, None)
    };
    let user = e.user.clone().filter(|u| !u.is_empty());
    let from = e.from.clone().or_else(|| user.clone()).unwrap_or_default();
    let smtp_host = e.smtp_host.clone().unwrap_or_default();
    if enabled {
        if smtp_host.is_empty() {
            cx.at_line(
                section_line(cx.src, "[email]"),
                "[email] is enabled but has no `smtp_host`: set it, or `enabled = false` to record alerts without sending",
            );
        }
        if from.is_empty() {
            cx.at_line(
                section_line(cx.src, "[email]"),
                "[email] needs `from` (or `user`): the address alerts are sent from",
            );
        }
    }
    Email {
        enabled,
        from,
        user,
        password,
        templates: http_channels::templates(
            cx,
            "[email]",
            e.title_template.as_ref(),
            e.body_template.as_ref(),
        ),
        imap_user: e.imap_user.clone().filter(|u| !u.is_empty()),
        imap_password,
        smtp_host,
        smtp_port,
        smtp_security,
        imap_host: e.imap_host.clone().filter(|h| !h.is_empty()),
        imap_port,
        imap_security,
        imap_mailbox: e.imap_mailbox.clone().unwrap_or_else(|| "INBOX".into()),
        self_check,
        self_check_wait: cx.duration_or(
            "self_check_wait",
            &e.self_check_wait,
            Duration::from_secs(60),
        ),
        ca_file: e.ca_file.as_deref().map(|f| resolve_path(base, f)),
        accept_invalid_certs: e.accept_invalid_certs.unwrap_or(false),
        bust_threading: e.bust_threading.unwrap_or(false),
        timeout: cx.duration_or("timeout", &e.timeout, Duration::from_secs(30)),
    }
}

fn section_line(src: &str, header: &str) -> usize {
    src.lines()
        .position(|l| l.trim_start().starts_with(header))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// A schedule from `frequency`-style words or an `every`-style duration.
fn schedule_from(
    cx: &mut FileCtx<'_>,
    key: &str,
    text: &str,
    offset: usize,
    allow_duration: bool,
) -> Option<Schedule> {
    if let Some(f) = Frequency::parse(text) {
        return Some(Schedule::Tick(f));
    }
    // A number first: a duration, and its own error says what is wrong with it.
    if allow_duration && text.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
        return match crate::duration::parse_at_most(text, duration_limit(key)) {
            Ok(d) => Some(Schedule::Every(d)),
            Err(e) => {
                cx.at(offset, format!("`{key}`: {e}"));
                None
            }
        };
    }
    cx.at(
        offset,
        format!(
            "`{key}` = {text:?} is not valid: use one of \"minute\", \"hour\", \"day\", \"day_noon\"{}",
            if allow_duration { ", \"never\" or a duration such as \"30m\"" } else { "" }
        ),
    );
    None
}

/// `[defaults]` resolved: what a job gets for each key it does not set.
struct Defaults {
    schedule: Schedule,
    rules: Rules,
    notify: Vec<String>,
    contact: Option<Vec<String>>,
    timeout: Duration,
    retries: u32,
    retry_backoff: Duration,
}

const NOTIFY_EVERY: &[&str] = &["every", "5min", "10min", "hour", "day", "state_change"];
const FREQUENCIES: &[&str] = &["minute", "hour", "day", "day_noon"];

/// The built-in notification rules, what `[defaults]` starts from: one alert per
/// incident, after two failures in a row, and a recovery notice. Reminders only when
/// asked for (`notify_every`).
pub const DEFAULT_RULES: Rules = Rules {
    notify_every: NotifyEvery::StateChange,
    failures_before_notify: 2,
    failing_for: None,
    notify_recovery: true,
};

/// Notification rules from settings keys (`[defaults]`, `[[peers]]`); `base`'s where a
/// key is absent.
fn rules_from(
    cx: &mut FileCtx<'_>,
    base: &Rules,
    notify_every: Option<&Spanned<String>>,
    failures_before_notify: Option<&Spanned<i64>>,
    failing_for: Option<&Spanned<String>>,
    notify_recovery: Option<bool>,
) -> Rules {
    Rules {
        notify_every: notify_every
            .and_then(|v| cx.choice("notify_every", v, NotifyEvery::parse, NOTIFY_EVERY))
            .unwrap_or(base.notify_every),
        failures_before_notify: failures_before_notify
            .and_then(|v| cx.ranged("failures_before_notify", v, 1, 1_000_000))
            .map_or(base.failures_before_notify, |n| n as u32),
        failing_for: match failing_for {
            Some(v) => cx.duration("failing_for", v),
            None => base.failing_for,
        },
        notify_recovery: notify_recovery.unwrap_or(base.notify_recovery),
    }
}

/// "; for an interval write `every = "5m"`" when a `frequency` value is a duration.
fn every_hint(frequency: &str) -> String {
    if crate::duration::parse(frequency).is_ok() {
        format!("; for an interval write `every = {frequency:?}` instead")
    } else {
        String::new()
    }
}

/// A `frequency` key of the settings (`[defaults]`, `[[peers]]`): one of the tick names,
/// with a hint towards `every` when a duration was written.
fn frequency_key(cx: &mut FileCtx<'_>, v: &Spanned<String>) -> Option<Frequency> {
    let f = Frequency::parse(v.get_ref());
    if f.is_none() {
        cx.at(
            v.span().start,
            format!(
                "`frequency` = {:?} is not valid: use one of {}{}",
                v.get_ref(),
                quoted(FREQUENCIES),
                every_hint(v.get_ref())
            ),
        );
    }
    f
}

fn resolve_defaults(cx: &mut FileCtx<'_>, d: &RawDefaults) -> Defaults {
    let mut schedule = Schedule::Tick(Frequency::Minute);
    if let Some(f) = &d.frequency {
        if let Some(f) = frequency_key(cx, f) {
            schedule = Schedule::Tick(f);
        }
    }
    if let Some(e) = &d.every {
        if d.frequency.is_some() {
            cx.at(
                e.span().start,
                "[defaults] sets both `frequency` and `every`: keep one",
            );
        }
        if let Some(e) = cx.duration("every", e) {
            schedule = Schedule::Every(e);
        }
    }
    Defaults {
        schedule,
        rules: rules_from(
            cx,
            &DEFAULT_RULES,
            d.notify_every.as_ref(),
            d.failures_before_notify.as_ref(),
            d.failing_for.as_ref(),
            d.notify_recovery,
        ),
        notify: d
            .notify
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| vec!["email".into()]),
        contact: d.contact.as_ref().map(|c| c.get_ref().clone().into_vec()),
        timeout: cx.duration_or("timeout", &d.timeout, Duration::from_secs(10)),
        retries: cx.ranged_or("retries", &d.retries, 0, 100, 0) as u32,
        retry_backoff: cx.duration_or("retry_backoff", &d.retry_backoff, Duration::from_secs(1)),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobFile {
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
}

/// The `*.toml` files in `jobs_dir`, sorted by name so loading order (and `list`) is
/// stable. Anything else in the folder is ignored.
fn job_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Where `jobs_dir` was set, for problems with the folder itself.
struct JobsDirKey<'a> {
    settings: &'a Path,
    line: usize,
}

fn load_jobs(
    config: &mut Config,
    defaults: &Defaults,
    key: JobsDirKey<'_>,
    problems: &mut Vec<Problem>,
) {
    let dir = config.general.jobs_dir.clone();
    let folder_problem = |message: String| Problem {
        file: key.settings.to_path_buf(),
        line: key.line,
        message,
    };
    let files = match job_files(&dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(folder_problem(format!(
                "the jobs folder {} does not exist: create it (it may stay empty), or point `jobs_dir` in [general] at the folder of your job files",
                dir.display()
            )));
            return;
        }
        Err(e) => {
            problems.push(folder_problem(format!(
                "cannot read the jobs folder {}: {e}",
                dir.display()
            )));
            return;
        }
    };
    if files.is_empty() {
        config.warnings.push(folder_problem(format!(
            "the jobs folder {} holds no *.toml job files: no jobs are checked",
            dir.display()
        )));
    }
    let channels = config.channel_names();
    let mut seen: HashMap<String, SourceLoc> = HashMap::new();
    for file in files {
        let src = match read_text(&file, MAX_CONFIG_BYTES) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem {
                    file,
                    line: 0,
                    message: format!("cannot read job file: {e}"),
                });
                continue;
            }
        };
        let lines = Lines::new(&src);
        let Some((parsed, set_aside)) =
            parse_toml::<RawJobFile>(&file, &src, &lines, &parse::JOB_FILE, problems)
        else {
            continue;
        };
        let mut no_env = EnvSource::default();
        let mut cx = FileCtx {
            path: &file,
            src: &src,
            lines: &lines,
            problems,
            quiet_missing: false,
            env: &mut no_env,
        };
        let starts: Vec<usize> = parsed.job.iter().map(|j| j.span().start).collect();
        for (i, raw) in parsed.job.into_iter().enumerate() {
            let offset = raw.span().start.min(src.len());
            let line = lines.line(offset);
            let end = starts.get(i + 1).copied().unwrap_or(usize::MAX);
            // `set_aside` is sorted: the first offset at or after this table's start.
            let lost_key = set_aside
                .get(set_aside.partition_point(|&o| o < offset))
                .is_some_and(|&o| o < end);
            // `targets` first: every job it makes is then checked like a table of its own.
            for raw in super::targets::expand(&mut cx, raw.into_inner(), offset, line) {
                // Names are claimed before the job is checked, so a duplicate is reported
                // even when either table has problems of its own.
                let name = raw.name.clone().filter(|n| !n.trim().is_empty());
                let duplicate_of = name.as_ref().and_then(|n| seen.get(n).cloned());
                match (&duplicate_of, name) {
                    (Some(first), Some(name)) => cx.at_line(
                        line,
                        format!("duplicate job name {name:?}: already defined at {first}; job names must be unique"),
                    ),
                    (None, Some(name)) => {
                        seen.insert(name, SourceLoc { file: file.clone(), line });
                    }
                    _ => {}
                }
                // A job that lost a bad key has been reported; the rest of it is checked
                // too (every problem in one round), without "needs `url`" after
                // "unknown key `urll`". It is not loaded: its file has a problem.
                cx.quiet_missing = lost_key;
                let job = resolve_job(&mut cx, &dir, defaults, &channels, raw, offset, line);
                cx.quiet_missing = false;
                if let (Some(job), None, false) = (job, duplicate_of, lost_key) {
                    config.jobs.push(job);
                }
            }
        }
    }
}

/// Line of `key = ...` inside the job table that starts at `offset`.
pub(super) fn key_line(src: &str, lines: &Lines, offset: usize, key: &str) -> usize {
    let offset = offset.min(src.len());
    // Only this table is scanned: job files with a thousand jobs must not cost a scan
    // from the top per key.
    let start = lines.line(offset);
    let Some(table) = src.get(offset..) else {
        return start;
    };
    for (i, l) in table.lines().enumerate() {
        let t = l.trim_start();
        if i > 0 && t.starts_with("[[") {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return start + i;
            }
        }
    }
    start
}

fn resolve_job(
    cx: &mut FileCtx<'_>,
    jobs_dir: &Path,
    d: &Defaults,
    channels: &[String],
    r: RawJob,
    offset: usize,
    line: usize,
) -> Option<Job> {
    let src = cx.src;
    let Some(name) = r.name.clone().filter(|n| !n.trim().is_empty()) else {
        cx.missing(
            line,
            "[[job]] has no `name`: give each job a unique name, e.g. name = \"shop front page\"",
        );
        return None;
    };
    let kinds: Vec<&str> = KIND_KEYS.iter().map(|(k, _)| *k).collect();
    let Some(kind) = r.kind.clone() else {
        cx.missing(
            line,
            format!("job {name:?} has no `kind`: use one of {}", quoted(&kinds)),
        );
        return None;
    };
    let Some(own_keys) = kind_keys(&kind) else {
        let hint = nearest(&kind, &kinds)
            .map(|k| format!("; did you mean \"{k}\"?"))
            .unwrap_or_default();
        cx.at_line(
            key_line(src, cx.lines, offset, "kind"),
            format!(
                "job {name:?}: unknown kind {kind:?}{hint} (kinds: {})",
                quoted(&kinds)
            ),
        );
        return None;
    };
    let before = cx.problems.len();
    for key in r.present_keys() {
        if !COMMON_JOB_KEYS.contains(&key) && !own_keys.contains(&key) {
            let owner = KIND_KEYS
                .iter()
                .find(|(_, ks)| ks.contains(&key))
                .map(|(k, _)| *k)
                .unwrap_or("?");
            cx.at_line(
                key_line(src, cx.lines, offset, key),
                format!("job {name:?}: `{key}` belongs to kind \"{owner}\", not \"{kind}\": remove it or change `kind`"),
            );
        }
    }
    let lines = cx.lines;
    let kl = |key: &str| key_line(src, lines, offset, key);
    let dur = |cx: &mut FileCtx<'_>, key: &str, v: &Option<String>| -> Option<Duration> {
        let v = v.as_ref()?;
        match crate::duration::parse_at_most(v, duration_limit(key)) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.at_line(kl(key), format!("job {name:?}: `{key}`: {e}"));
                None
            }
        }
    };

    let mut schedule = d.schedule;
    if let Some(f) = &r.frequency {
        match Frequency::parse(f) {
            Some(f) => schedule = Schedule::Tick(f),
            None => cx.at_line(
                kl("frequency"),
                format!(
                    "job {name:?}: `frequency` = {f:?} is not valid: use one of {}{}",
                    quoted(FREQUENCIES),
                    every_hint(f)
                ),
            ),
        }
    }
    if r.every.is_some() && r.frequency.is_some() {
        cx.at_line(
            kl("every"),
            format!("job {name:?} sets both `frequency` and `every`: keep one"),
        );
    }
    if let Some(e) = dur(cx, "every", &r.every) {
        if e < Duration::from_secs(1) {
            cx.at_line(
                kl("every"),
                format!("job {name:?}: `every` must be at least 1s"),
            );
        }
        schedule = Schedule::Every(e);
    }
    let mut rules = d.rules.clone();
    if r.notify_every.is_none() && kind == "tls_cert" {
        // A certificate near its expiry stays so for days: a reminder a day, not one per
        // check, whatever `[defaults]` says (a job may still set its own).
        rules.notify_every = NotifyEvery::Day;
    }
    if let Some(n) = &r.notify_every {
        match NotifyEvery::parse(n) {
            Some(n) => rules.notify_every = n,
            None => cx.at_line(
                kl("notify_every"),
                format!(
                    "job {name:?}: `notify_every` = {n:?} is not valid: use one of {}",
                    quoted(NOTIFY_EVERY)
                ),
            ),
        }
    }
    if let Some(m) = r.failures_before_notify {
        if m < 1 {
            cx.at_line(
                kl("failures_before_notify"),
                format!("job {name:?}: `failures_before_notify` must be 1 or more"),
            );
        } else {
            rules.failures_before_notify = m.min(u32::MAX as i64) as u32;
        }
    }
    if r.failing_for.is_some() {
        rules.failing_for = dur(cx, "failing_for", &r.failing_for);
    }
    if let Some(nr) = r.notify_recovery {
        rules.notify_recovery = nr;
    }
    let timeout = dur(cx, "timeout", &r.timeout).unwrap_or(d.timeout);
    if timeout.is_zero() {
        cx.at_line(
            kl("timeout"),
            format!("job {name:?}: `timeout` must be more than 0s"),
        );
    }
    let retries = match r.retries {
        Some(n) if !(0..=100).contains(&n) => {
            cx.at_line(
                kl("retries"),
                format!("job {name:?}: `retries` must be from 0 to 100"),
            );
            0
        }
        Some(n) => n as u32,
        None => d.retries,
    };
    let retry_backoff = dur(cx, "retry_backoff", &r.retry_backoff).unwrap_or(d.retry_backoff);

    let kind = match kind.as_str() {
        "http" => {
            let url = r.url.clone().unwrap_or_default();
            if url.is_empty() {
                cx.missing(line, format!("job {name:?}: kind \"http\" needs `url`, e.g. url = \"https://example.com/\""));
            } else if !(url.starts_with("http://") || url.starts_with("https://")) {
                cx.at_line(
                    kl("url"),
                    format!("job {name:?}: `url` {url:?} must start with http:// or https://"),
                );
            } else if let Err(e) = http_url(&url) {
                cx.at_line(
                    kl("url"),
                    format!("job {name:?}: `url` {url:?} is not a valid URL: {e}"),
                );
            }
            if let Some(m) = &r.method {
                if !is_http_token(m) {
                    cx.at_line(
                        kl("method"),
                        format!("job {name:?}: `method` {m:?} is not an HTTP method: use a single word such as \"GET\", \"HEAD\" or \"POST\""),
                    );
                }
            }
            for (k, v) in r.headers.iter().flatten() {
                if let Some(why) = header_problem(k, v) {
                    cx.at_line(kl("headers"), format!("job {name:?}: `headers`: {why}"));
                }
            }
            let expect_status = match &r.expect_status {
                None => vec![200],
                Some(StatusList::One(s)) => vec![*s],
                Some(StatusList::Many(v)) => v.clone(),
            };
            if expect_status.is_empty() || expect_status.iter().any(|s| !(100..=599).contains(s)) {
                cx.at_line(
                    kl("expect_status"),
                    format!(
                        "job {name:?}: `expect_status` takes HTTP status codes from 100 to 599"
                    ),
                );
            }
            if r.ca_file.is_some() && r.accept_invalid_certs == Some(true) {
                cx.at_line(kl("ca_file"), format!("job {name:?}: `ca_file` and `accept_invalid_certs = true` contradict each other: keep `ca_file` to trust that certificate or CA, or remove it to accept any certificate"));
            }
            JobKind::Http(HttpSpec {
                url,
                method: r
                    .method
                    .clone()
                    .unwrap_or_else(|| "GET".into())
                    .to_ascii_uppercase(),
                headers: r.headers.clone().unwrap_or_default().into_iter().collect(),
                body: r.body.clone(),
                expect_status: expect_status
                    .into_iter()
                    .map(|s| s.clamp(100, 599) as u16)
                    .collect(),
                contains: r.contains.clone(),
                max_response_time: dur(cx, "max_response_time", &r.max_response_time),
                follow_redirects: r.follow_redirects.unwrap_or(true),
                accept_invalid_certs: r.accept_invalid_certs.unwrap_or(false),
                not_contains: r.not_contains.clone(),
                json: match r.json.as_ref() {
                    Some(table) => json_assertions(cx, kl("json"), &name, Some(table)),
                    None => Vec::new(),
                },
                ca_file: r.ca_file.as_deref().map(|f| resolve_path(jobs_dir, f)),
            })
        }
        "tcp" => {
            let host = r.host.clone().unwrap_or_default();
            if host.is_empty() {
                cx.missing(line, format!("job {name:?}: kind \"tcp\" needs `host`"));
            }
            let port = match r.port {
                Some(p) if (1..=65_535).contains(&p) => p as u16,
                Some(p) => {
                    cx.at_line(
                        kl("port"),
                        format!("job {name:?}: `port` = {p} is not a TCP port (1-65535)"),
                    );
                    0
                }
                None => {
                    cx.missing(line, format!("job {name:?}: kind \"tcp\" needs `port`"));
                    0
                }
            };
            JobKind::Tcp(TcpSpec { host, port })
        }
        "tls_cert" => {
            let host = r.host.clone().unwrap_or_default();
            if host.is_empty() {
                cx.missing(
                    line,
                    format!(
                        "job {name:?}: kind \"tls_cert\" needs `host`, e.g. host = \"example.com\""
                    ),
                );
            }
            let port = match r.port {
                None => 443,
                Some(p) if (1..=65_535).contains(&p) => p as u16,
                Some(p) => {
                    cx.at_line(
                        kl("port"),
                        format!("job {name:?}: `port` = {p} is not a TCP port (1-65535)"),
                    );
                    0
                }
            };
            let sni = r.sni.clone().unwrap_or_else(|| host.clone());
            if !sni.is_empty() && rustls::pki_types::ServerName::try_from(sni.as_str()).is_err() {
                let key = if r.sni.is_some() { "sni" } else { "host" };
                cx.at_line(
                    kl(key),
                    format!("job {name:?}: `{key}` {sni:?} is not a valid host name or IP address"),
                );
            }
            let warn_days = match r.warn_days {
                None => 30,
                Some(d) if (0..=3650).contains(&d) => d as u32,
                Some(d) => {
                    cx.at_line(kl("warn_days"), format!("job {name:?}: `warn_days` = {d} is out of range: use a whole number of days from 0 to 3650"));
                    0
                }
            };
            let verify = r.verify.unwrap_or(false);
            if r.ca_file.is_some() && !verify {
                cx.at_line(kl("ca_file"), format!("job {name:?}: `ca_file` is used only with `verify = true`: add that, or remove `ca_file`"));
            }
            JobKind::TlsCert(TlsCertSpec {
                host,
                port,
                sni,
                warn_days,
                verify,
                ca_file: r.ca_file.as_deref().map(|f| resolve_path(jobs_dir, f)),
            })
        }
        "file" => {
            let path = r.path.clone().unwrap_or_default();
            if path.is_empty() {
                cx.missing(line, format!("job {name:?}: kind \"file\" needs `path`, e.g. path = \"/var/backups/db.dump\""));
            }
            let min_size = match r.min_size {
                Some(n) if n < 0 => {
                    cx.at_line(
                        kl("min_size"),
                        format!("job {name:?}: `min_size` = {n}: use a size in bytes, 0 or more"),
                    );
                    None
                }
                other => other.map(|n| n as u64),
            };
            JobKind::File(FileSpec {
                path: resolve_path(jobs_dir, &path),
                max_age: dur(cx, "max_age", &r.max_age),
                min_size,
            })
        }
        "dns" => {
            let query = r.query.clone().unwrap_or_default();
            if query.trim().is_empty() {
                cx.missing(line, format!("job {name:?}: kind \"dns\" needs `query`, the name to resolve, e.g. query = \"example.com\""));
            }
            let record = match &r.record {
                None => DnsRecord::A,
                Some(rec) => DnsRecord::parse(rec).unwrap_or_else(|| {
                    cx.at_line(
                        kl("record"),
                        format!(
                            "job {name:?}: `record` = {rec:?} is not supported: use one of {}",
                            quoted(DnsRecord::NAMES)
                        ),
                    );
                    DnsRecord::A
                }),
            };
            let expect = r.expect.clone().map(TextList::into_vec).unwrap_or_default();
            if expect.iter().any(|e| e.trim().is_empty()) {
                cx.at_line(
                    kl("expect"),
                    format!("job {name:?}: `expect` holds an empty value"),
                );
            }
            let server = r.server.as_deref().and_then(|s| {
                let parsed = s
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .or_else(|| s.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53)));
                if parsed.is_none() {
                    cx.at_line(
                        kl("server"),
                        format!("job {name:?}: `server` = {s:?} is not an IP address with an optional port, e.g. \"127.0.0.1:5353\" or \"[::1]:53\""),
                    );
                }
                parsed
            });
            JobKind::Dns(DnsSpec {
                query: query.trim().to_string(),
                record,
                expect,
                server,
            })
        }
        "passive" => {
            // Without `expect_every` the job has no deadline: results arrive when they
            // do (downloaders with no fixed rhythm) and the rules judge them.
            let expect_every = dur(cx, "expect_every", &r.expect_every);
            if expect_every.is_some_and(|e| e < Duration::from_secs(1)) {
                cx.at_line(
                    kl("expect_every"),
                    format!("job {name:?}: `expect_every` must be at least 1s"),
                );
            }
            if r.grace.is_some() && r.expect_every.is_none() {
                cx.at_line(
                    kl("grace"),
                    format!("job {name:?}: `grace` extends the `expect_every` deadline, and there is none: add `expect_every` or remove `grace`"),
                );
            }
            let grace = match expect_every {
                Some(every) => {
                    dur(cx, "grace", &r.grace).unwrap_or_else(|| PassiveSpec::default_grace(every))
                }
                None => Duration::ZERO,
            };
            JobKind::Passive(PassiveSpec {
                expect_every,
                grace,
            })
        }
        _ => {
            let mut command = r.command.clone().unwrap_or_default();
            if command.first().is_none_or(|p| p.is_empty()) {
                cx.missing(line, format!("job {name:?}: kind \"command\" needs `command`, e.g. command = [\"./check_backup.sh\", \"--quiet\"]"));
            }
            if let Some(p) = command.first_mut() {
                if p.contains('/') {
                    *p = resolve_path(jobs_dir, p).to_string_lossy().into_owned();
                }
            }
            if command.iter().any(|a| a.contains('\0')) {
                cx.at_line(
                    kl("command"),
                    format!("job {name:?}: `command` holds a NUL character, which no program can receive"),
                );
            }
            for why in r
                .env
                .iter()
                .flatten()
                .filter_map(|(k, v)| env_problem(k, v))
            {
                cx.at_line(kl("env"), format!("job {name:?}: `env`: {why}"));
            }
            if let Some(c) = &r.cwd {
                let dir = resolve_path(jobs_dir, c);
                match std::fs::metadata(&dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => cx.at_line(
                        kl("cwd"),
                        format!("job {name:?}: `cwd` {} is not a folder", dir.display()),
                    ),
                    Err(e) => cx.at_line(
                        kl("cwd"),
                        format!("job {name:?}: `cwd` {}: {e}", dir.display()),
                    ),
                }
            }
            JobKind::Command(CommandSpec {
                command,
                env: r.env.clone().unwrap_or_default(),
                cwd: Some(
                    r.cwd
                        .as_deref()
                        .map(|c| resolve_path(jobs_dir, c))
                        .unwrap_or_else(|| jobs_dir.to_path_buf()),
                ),
                warning_is_failure: r.warning_is_failure.unwrap_or(true),
            })
        }
    };
    // Here rather than after loading, so a job with other problems has this one reported too.
    for ch in r.notify.iter().flatten().filter(|c| !channels.contains(c)) {
        let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
        let hint = nearest(ch, &refs)
            .map(|k| format!("; did you mean {k:?}?"))
            .unwrap_or_default();
        cx.at_line(
            kl("notify"),
            format!(
                "job {name:?}: unknown channel {ch:?} in `notify`{hint} (channels: {})",
                channels.join(", ")
            ),
        );
    }
    if cx.problems.len() > before {
        return None;
    }
    Some(Job {
        name,
        kind,
        schedule,
        rules,
        notify: r.notify.clone().unwrap_or_else(|| d.notify.clone()),
        contact: r
            .contact
            .clone()
            .map(OneOrMany::into_vec)
            .or_else(|| d.contact.clone()),
        timeout,
        retries,
        retry_backoff,
        enabled: r.enabled.unwrap_or(true),
        description: r.description.clone(),
        source: SourceLoc {
            file: cx.path.to_path_buf(),
            line,
        },
    })
}

/// Whether `s` is an HTTP token (RFC 9110): what a method name must be.
fn is_http_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An absolute http(s) URL with a host, or why it is not.
fn http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err("it has no host".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// What is wrong with one request header, if anything: a name that is not a token (a
/// space, a colon), or a line break or control character that would split the request.
pub(super) fn header_problem(name: &str, value: &str) -> Option<String> {
    if !is_http_token(name) {
        return Some(format!(
            "{name:?} is not a valid header name: use letters, digits and - (no spaces or line breaks)"
        ));
    }
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Some(format!(
            "the value of {name:?} holds a line break or a control character, which a header cannot carry"
        ));
    }
    None
}

/// What is wrong with one environment variable, if anything.
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

/// An http job's `json` table: JSON pointers and the values expected there.
fn json_assertions(
    cx: &mut FileCtx<'_>,
    line: usize,
    name: &str,
    table: Option<&toml::Table>,
) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for (pointer, value) in table.into_iter().flatten() {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            cx.at_line(
                line,
                format!("job {name:?}: `json` key {pointer:?} is not a JSON pointer: start it with /, e.g. \"/status\" or \"/items/0/name\""),
            );
            continue;
        }
        match toml_to_json(value) {
            Some(v) => out.push((pointer.clone(), v)),
            None => cx.at_line(
                line,
                format!("job {name:?}: `json` {pointer:?}: the expected value must be finite"),
            ),
        }
    }
    out
}

/// A TOML value as the JSON value it stands for; dates become their text.
fn toml_to_json(v: &toml::Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => J::Number(serde_json::Number::from_f64(*f)?),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect::<Option<_>>()?),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Some((k.clone(), toml_to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Every channel a job names must exist.
fn check_channels(config: &Config, problems: &mut Vec<Problem>) {
    let known = config.channel_names();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    for ch in &config.default_notify {
        if !known.contains(ch) {
            let hint = nearest(ch, &known_refs)
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            problems.push(Problem {
                file: config.path.clone(),
                line: 0,
                message: format!(
                    "[defaults] `notify`: unknown channel {ch:?}{hint} (channels: {})",
                    known.join(", ")
                ),
            });
        }
    }
    // A job's own `notify` is checked in `resolve_job`.
    for job in &config.jobs {
        if config.email.enabled
            && job.notify.iter().any(|c| c == "email")
            && job
                .contact
                .as_ref()
                .unwrap_or(&config.general.alertcontact)
                .is_empty()
        {
            problems.push(Problem {
                file: job.source.file.clone(),
                line: job.source.line,
                message: format!(
                    "job {:?} notifies by email but there is no recipient: set `alertcontact` in [general] or {}",
                    job.name,
                    if matches!(job.kind, JobKind::Peer(_)) { "`admin` on the peer" } else { "`contact` on the job" }
                ),
            });
        }
    }
}

impl RawJob {
    /// The keys this table sets, by their file names.
    fn present_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        macro_rules! present {
            ($($f:ident),*) => { $( if self.$f.is_some() { keys.push(stringify!($f)); } )* };
        }
        present!(
            name,
            kind,
            description,
            enabled,
            frequency,
            every,
            notify_every,
            failures_before_notify,
            failing_for,
            notify,
            contact,
            notify_recovery,
            timeout,
            retries,
            retry_backoff,
            url,
            method,
            headers,
            body,
            expect_status,
            contains,
            max_response_time,
            follow_redirects,
            accept_invalid_certs,
            host,
            port,
            command,
            env,
            cwd,
            targets,
            not_contains,
            json,
            sni,
            warn_days,
            verify,
            ca_file,
            warning_is_failure,
            path,
            max_age,
            min_size,
            query,
            record,
            expect,
            server,
            expect_every,
            grace
        );
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads settings and job files written into a temp dir.
    fn load_files(settings: &str, jobs: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(dir.path().join("settings.toml"), settings).expect("settings");
        for (name, text) in jobs {
            std::fs::write(dir.path().join("jobs").join(name), text).expect("job file");
        }
        let config = load(&dir.path().join("settings.toml")).expect("the settings load");
        (dir, config)
    }

    const TCP: &str = "[[job]]\nname = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 5432\n";

    #[test]
    fn the_built_in_defaults_are_one_alert_per_incident_after_two_failures() {
        let (_d, c) = load_files("[general]\nalertcontact = \"a@b.c\"\n", &[("a.toml", TCP)]);
        let r = &c.job("db").expect("db").rules;
        assert_eq!(r.notify_every, NotifyEvery::StateChange);
        assert_eq!(r.failures_before_notify, 2);
        assert_eq!(r.failing_for, None);
        assert!(r.notify_recovery);
        // `[defaults]` and the job itself still choose any mode.
        let (_d, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n[defaults]\nnotify_every = \"every\"\nfailures_before_notify = 1\n",
            &[("a.toml", &format!("{TCP}\n[[job]]\nname = \"own\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\nnotify_every = \"10min\"\n"))],
        );
        assert_eq!(c.job("db").unwrap().rules.notify_every, NotifyEvery::Every);
        assert_eq!(c.job("db").unwrap().rules.failures_before_notify, 1);
        assert_eq!(
            c.job("own").unwrap().rules.notify_every,
            NotifyEvery::TenMin
        );
    }

    #[test]
    fn a_tls_cert_job_reminds_daily_unless_it_says_otherwise() {
        let cert = "[[job]]\nname = \"cert\"\nkind = \"tls_cert\"\nhost = \"example.com\"\n";
        let own = "[[job]]\nname = \"own\"\nkind = \"tls_cert\"\nhost = \"example.org\"\nnotify_every = \"hour\"\n";
        let (_d, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n[defaults]\nnotify_every = \"every\"\n",
            &[("a.toml", &format!("{cert}\n{own}\n{TCP}"))],
        );
        assert_eq!(c.job("cert").unwrap().rules.notify_every, NotifyEvery::Day);
        assert_eq!(c.job("own").unwrap().rules.notify_every, NotifyEvery::Hour);
        assert_eq!(c.job("db").unwrap().rules.notify_every, NotifyEvery::Every);
    }

    #[test]
    fn a_broken_job_file_is_left_out_whole_and_the_others_load() {
        let broken = format!("{TCP}\n[[job]]\nname = \"web\"\nkind = \"http\"\nurll = \"x\"\n");
        let (dir, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n",
            &[
                ("a.toml", &broken),
                (
                    "b.toml",
                    "[[job]]\nname = \"disk\"\nkind = \"file\"\npath = \"/\"\n",
                ),
            ],
        );
        let names: Vec<&str> = c.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, vec!["disk"], "db shares a.toml with the broken job");
        let a = dir.path().join("jobs/a.toml");
        assert_eq!(c.problems.len(), 1);
        assert_eq!(
            (c.problems[0].file.as_path(), c.problems[0].line),
            (a.as_path(), 10)
        );
        assert!(c.is_broken_file(&a));
        assert_eq!(c.broken_files(), vec![a.as_path()]);
        // A problem of the settings file is an error, with every job file's problems too.
        std::fs::write(dir.path().join("settings.toml"), "[general]\nbogus = 1\n").unwrap();
        let e = load(&dir.path().join("settings.toml")).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
    }

    #[test]
    fn env_variables_read_are_recorded_and_the_cron_environment_lacks_them() {
        // Set by cargo for the tests it runs; never by cron.
        let var = "CARGO_MANIFEST_DIR";
        assert!(std::env::var(var).is_ok(), "run the tests with cargo");
        let settings = format!(
            "[general]\nalertcontact = \"a@b.c\"\n[pushover]\ntoken_env = \"{var}\"\nuser = \"u\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("settings.toml"), &settings).unwrap();
        let path = dir.path().join("settings.toml");
        let c = load(&path).expect("loads with the variable set");
        assert_eq!(c.env_reads.len(), 1);
        assert_eq!(c.env_reads[0].line, 4);
        assert_eq!(c.env_reads[0].message, format!("`token_env`: {var}"));
        let e = load_with(&path, LoadOptions { cron_env: true }).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert!(
            e.problems[0]
                .message
                .contains(&format!("{var} is not set in cron's environment")),
            "{e}"
        );
        let env = cron_environment();
        assert_eq!(env.get("PATH").map(String::as_str), Some(CRON_PATH));
        assert!(!env.contains_key(var));
    }

    #[test]
    fn a_section_written_as_a_list_of_tables_is_named_and_mended() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(
            dir.path().join("settings.toml"),
            "[[general]]\nservername = \"x\"\ntick_deadline = 5\n",
        )
        .unwrap();
        let e = load(&dir.path().join("settings.toml")).unwrap_err();
        let messages: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].ends_with(":1: `[[general]]` must be `[general]`: there is one such section, written with one bracket on each side"),
            "{messages:?}"
        );
        // Mended, so what is inside is checked too.
        assert!(
            messages[1]
                .ends_with(":3: `tick_deadline` must be a duration such as \"10s\", not a number"),
            "{messages:?}"
        );
    }
}
