//! Logging behind the `log` facade: one line per record, written to a size-rotated log file
//! that concurrent checker processes share safely, and to stderr, each sink with its own level
//! (`-v` raises the file to debug, `-d` stderr). Failing to log never stops the program; a
//! log file that is not a regular file (a device, a FIFO...) is refused at start (exit 3)
//! and never written, rotated or moved. Configured secrets are masked in every line.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use fs4::FileExt;
use log::{LevelFilter, Log, Metadata, Record};

use crate::config::{Level, Logging};
use crate::safe_file;

/// Dependencies that are chatty at info and below: only their warnings and errors get through.
/// async_imap traces every command it sends, LOGIN and its password included.
const NOISY_CRATES: &[&str] = &[
    "async_imap",
    "rustls",
    "tokio_rustls",
    "webpki",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "lettre",
    "tokio",
    "tokio_util",
    "mio",
    "want",
    "tower",
    "tracing",
];

/// Installs the global logger from the `[logging]` settings. `verbose` (`-v`) raises the
/// file level to debug, `debug` (`-d`) the stderr level. Calling it again (for instance after
/// [`init_stderr_only`]) replaces the active configuration. A log file that cannot be opened
/// is reported on stderr and logging goes on to stderr: that is not an error here.
pub fn init(cfg: &Logging, verbose: bool, debug: bool) -> Result<(), crate::error::AppError> {
    if let Some(path) = &cfg.file {
        check_regular(path)?;
        check_regular(&lock_path(
            &safe_file::resolve(path).unwrap_or(path.clone()),
        ))?;
    }
    Ok(install(Logger::new(cfg, verbose, debug))?)
}

/// Refuses a log file (or its rotation lock) that is not a regular file: checker would
/// write into it, or rename it aside when rotating.
fn check_regular(path: &Path) -> Result<(), crate::state::StateError> {
    let target = safe_file::resolve(path).unwrap_or_else(|_| path.to_path_buf());
    match safe_file::non_regular(&target) {
        Ok(Some(kind)) => Err(crate::state::StateError::NotRegular {
            what: "log file",
            key: "[logging] file",
            path: path.to_path_buf(),
            kind,
        }),
        // Other problems (permissions...) are the sink's to report; logging goes on.
        _ => Ok(()),
    }
}

/// Installs a stderr-only global logger, for commands that run before the settings are
/// loaded (or that fail to load them). A later [`init`] replaces it.
pub fn init_stderr_only(level: Level) -> anyhow::Result<()> {
    install(Logger::stderr_only(level))
}

/// The active configuration behind the process-wide logger; swapped by each `init`.
static ACTIVE: RwLock<Option<Logger>> = RwLock::new(None);
/// Whether `log::set_logger` accepted [`GLOBAL`] (it can be called only once per process).
static INSTALLED: OnceLock<bool> = OnceLock::new();
static GLOBAL: Global = Global;

struct Global;

impl Log for Global {
    fn enabled(&self, metadata: &Metadata) -> bool {
        read_active().as_ref().is_some_and(|l| l.enabled(metadata))
    }
    fn log(&self, record: &Record) {
        if let Some(logger) = read_active().as_ref() {
            logger.log(record);
        }
    }
    fn flush(&self) {
        if let Some(logger) = read_active().as_ref() {
            logger.flush();
        }
    }
}

fn read_active() -> std::sync::RwLockReadGuard<'static, Option<Logger>> {
    ACTIVE.read().unwrap_or_else(PoisonError::into_inner)
}

fn install(logger: Logger) -> anyhow::Result<()> {
    if !*INSTALLED.get_or_init(|| log::set_logger(&GLOBAL).is_ok()) {
        bail!("cannot install the checker logger: another logger is already installed");
    }
    let max = logger.max_level();
    *ACTIVE.write().unwrap_or_else(PoisonError::into_inner) = Some(logger);
    log::set_max_level(max);
    Ok(())
}

/// Log target for records that go to the log file only, never to stderr: used for
/// messages the program prints on stderr itself, so they do not show twice.
pub const FILE_ONLY: &str = "checker::file_only";

/// One logger configuration: an optional file sink and a stderr sink, filtered independently.
/// The global logger wraps one; tests can build and drive their own through [`log::Log`].
pub struct Logger {
    pid: u32,
    file_level: LevelFilter,
    stderr_level: LevelFilter,
    file: Option<Mutex<FileSink>>,
    stderr: Mutex<Box<dyn Write + Send>>,
}

impl Logger {
    /// A logger writing to the real stderr.
    pub fn new(cfg: &Logging, verbose: bool, debug: bool) -> Logger {
        Logger::with_stderr(cfg, verbose, debug, Box::new(io::stderr()))
    }

    /// A logger whose "stderr" sink is `stderr` (tests capture it this way). The log file is
    /// opened (and its folder created) now; a failure is reported once on the stderr sink and
    /// opening is retried on later records.
    pub fn with_stderr(
        cfg: &Logging,
        verbose: bool,
        debug: bool,
        stderr: Box<dyn Write + Send>,
    ) -> Logger {
        let file_level = effective_level(cfg.file_level, verbose);
        let stderr_level = effective_level(cfg.stderr_level, debug);
        let mut logger = Logger {
            pid: std::process::id(),
            file_level,
            stderr_level,
            file: None,
            stderr: Mutex::new(stderr),
        };
        if let (Some(path), true) = (&cfg.file, file_level != LevelFilter::Off) {
            let mut sink = FileSink::new(path.clone(), cfg.max_bytes, cfg.backups);
            if let Some(problem) = sink.open_now() {
                logger.report(&problem);
            }
            logger.file = Some(Mutex::new(sink));
        }
        logger
    }

    /// A logger with no file, writing to the real stderr at `level`.
    pub fn stderr_only(level: Level) -> Logger {
        Logger {
            pid: std::process::id(),
            file_level: LevelFilter::Off,
            stderr_level: level.to_filter(),
            file: None,
            stderr: Mutex::new(Box::new(io::stderr())),
        }
    }

    /// Level of the file sink after `-v` (Off when there is no log file).
    pub fn file_level(&self) -> LevelFilter {
        if self.file.is_some() {
            self.file_level
        } else {
            LevelFilter::Off
        }
    }

    /// Level of the stderr sink after `-d`.
    pub fn stderr_level(&self) -> LevelFilter {
        self.stderr_level
    }

    /// The most verbose level any sink accepts, for `log::set_max_level`.
    pub fn max_level(&self) -> LevelFilter {
        self.file_level().max(self.stderr_level)
    }

    fn wants_file(&self, level: log::Level, target: &str) -> bool {
        self.file.is_some() && level <= self.file_level && level <= target_cap(target)
    }

    fn wants_stderr(&self, level: log::Level, target: &str) -> bool {
        level <= self.stderr_level && level <= target_cap(target)
    }

    /// A problem with the log file itself: always shown on stderr, whatever its level.
    fn report(&self, problem: &str) {
        let line = format_line(Utc::now(), log::Level::Error, self.pid, &problem);
        let _ = lock(&self.stderr).write_all(line.as_bytes());
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.wants_file(metadata.level(), metadata.target())
            || self.wants_stderr(metadata.level(), metadata.target())
    }

    fn log(&self, record: &Record) {
        let (level, target) = (record.level(), record.target());
        let to_file = self.wants_file(level, target);
        // Records for the file alone (an error main() also prints on stderr itself).
        let to_stderr = target != FILE_ONLY && self.wants_stderr(level, target);
        if !to_file && !to_stderr {
            return;
        }
        // Whatever produced the message (a server's echo), no configured secret is logged.
        let line = crate::redact::string(format_line(Utc::now(), level, self.pid, record.args()));
        if to_file {
            if let Some(sink) = &self.file {
                let problem = lock(sink).write_line(line.as_bytes());
                if let Some(problem) = problem {
                    self.report(&problem);
                }
            }
        }
        if to_stderr {
            let _ = lock(&self.stderr).write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        let _ = lock(&self.stderr).flush();
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A configured level, raised to debug by its command-line flag (never lowered).
pub fn effective_level(configured: Level, raise_to_debug: bool) -> LevelFilter {
    let level = configured.to_filter();
    if raise_to_debug {
        level.max(LevelFilter::Debug)
    } else {
        level
    }
}

/// The most verbose level let through for a record target: everything from this crate,
/// warnings and errors from the noisy network/TLS crates, info and above from the rest.
pub fn target_cap(target: &str) -> LevelFilter {
    let krate = target.split("::").next().unwrap_or(target);
    if krate == "checker" {
        LevelFilter::Trace
    } else if NOISY_CRATES.contains(&krate) {
        LevelFilter::Warn
    } else {
        LevelFilter::Info
    }
}

/// One log line: `2026-11-23T11:00:00.123Z INFO  [pid 1234] message\n`. Further lines of a
/// multi-line message are indented so that each record still starts a line of its own.
pub fn format_line(
    ts: DateTime<Utc>,
    level: log::Level,
    pid: u32,
    message: &dyn fmt::Display,
) -> String {
    let text = message.to_string();
    let text = text.trim_end_matches(['\n', '\r']);
    let mut line = format!(
        "{} {:<5} [pid {}] ",
        ts.to_rfc3339_opts(SecondsFormat::Millis, true),
        level.as_str(),
        pid
    );
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            line.push_str("\n    ");
        }
        line.push_str(part.trim_end_matches('\r'));
    }
    line.push('\n');
    line
}

/// Writes one record straight into the log file at `path`, without the process-wide
/// logger: for errors met before the settings could be loaded, when only the log file's
/// path could be found in them. Rotates by the default size and count; refuses anything
/// but a regular file. `Err` says why it could not be written.
pub fn append_record(path: &Path, level: log::Level, message: &str) -> Result<(), String> {
    check_regular(path).map_err(|e| e.to_string())?;
    let mut sink = FileSink::new(path.to_path_buf(), 10 * 1024 * 1024, 5);
    if let Some(problem) = sink.open_now() {
        return Err(problem);
    }
    let line = format_line(Utc::now(), level, std::process::id(), &message);
    let problem = sink.write_line(line.as_bytes());
    if sink.write_failing {
        return Err(problem.unwrap_or_else(|| format!("cannot write {}", path.display())));
    }
    Ok(())
}

/// The path of backup `n` of `base`: `checker.log` → `checker.log.n`.
pub fn backup_path(base: &Path, n: u32) -> PathBuf {
    suffixed(base, &n.to_string())
}

/// The sidecar lock file serialising rotations: `checker.log` → `checker.log.lock`.
pub fn lock_path(base: &Path) -> PathBuf {
    suffixed(base, "lock")
}

fn suffixed(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_os_string();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// The renames of one rotation, in order, once `checker.log.{backups}` has been deleted:
/// `.{backups-1}` → `.{backups}`, …, `.1` → `.2`, then `checker.log` → `.1`.
/// Empty for `backups = 0` (the file is truncated instead).
pub fn rotation_plan(base: &Path, backups: u32) -> Vec<(PathBuf, PathBuf)> {
    if backups == 0 {
        return Vec::new();
    }
    let mut plan: Vec<(PathBuf, PathBuf)> = (1..backups)
        .rev()
        .map(|n| (backup_path(base, n), backup_path(base, n + 1)))
        .collect();
    plan.push((base.to_path_buf(), backup_path(base, 1)));
    plan
}

/// Whether a record of `len` bytes must go to a fresh file. A record never goes alone into an
/// empty file's rotation (so one longer than `max_bytes` is still written); `max_bytes = 0`
/// turns rotation off.
pub fn should_rotate(size: u64, len: u64, max_bytes: u64) -> bool {
    max_bytes > 0 && size > 0 && size.saturating_add(len) > max_bytes
}

/// The log file: opened in append mode, one `write` per record, rotated by size.
struct FileSink {
    path: PathBuf,
    lock_path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: Option<File>,
    /// A write/open problem has been reported and not yet cleared by a successful write.
    write_failing: bool,
    /// A rotation problem has been reported (rotations are retried, not reported again).
    rotate_failing: bool,
}

impl FileSink {
    fn new(path: PathBuf, max_bytes: u64, backups: u32) -> FileSink {
        // Through a symlink, the file it points to is written and rotated (beside itself).
        let path = safe_file::resolve(&path).unwrap_or(path);
        FileSink {
            lock_path: lock_path(&path),
            path,
            max_bytes,
            backups,
            file: None,
            write_failing: false,
            rotate_failing: false,
        }
    }

    /// Opens the file now; a problem to report on stderr if it cannot be.
    fn open_now(&mut self) -> Option<String> {
        match open_append(&self.path) {
            Ok(f) => {
                self.file = Some(f);
                None
            }
            Err(e) => self.write_problem(&e),
        }
    }

    /// Appends one formatted line, rotating first if it would overflow the file.
    /// Returns a problem to report on stderr, only the first time it happens.
    fn write_line(&mut self, line: &[u8]) -> Option<String> {
        let len = line.len() as u64;
        let size = match self.current_size() {
            Ok(size) => size,
            Err(e) => return self.write_problem(&e),
        };
        let mut problem = None;
        if should_rotate(size, len, self.max_bytes) {
            match self.rotate(len) {
                Ok(()) => self.rotate_failing = false,
                Err(e) if !self.rotate_failing => {
                    self.rotate_failing = true;
                    problem = Some(format!(
                        "cannot rotate log file {}: {e}",
                        self.path.display()
                    ));
                }
                Err(_) => {}
            }
        }
        let written = match self.file.as_mut() {
            Some(file) => file.write_all(line),
            None => Err(io::Error::other("the file is not open")),
        };
        match written {
            Ok(()) => {
                self.write_failing = false;
                problem
            }
            Err(e) => {
                self.file = None;
                self.write_problem(&e).or(problem)
            }
        }
    }

    fn write_problem(&mut self, e: &io::Error) -> Option<String> {
        if self.write_failing {
            return None;
        }
        self.write_failing = true;
        Some(format!(
            "cannot write log file {}: {e}; logging to stderr only until it works again",
            self.path.display()
        ))
    }

    /// Size of the file now at the path, (re)opening it when ours was rotated or moved away
    /// by another process (or is not open yet).
    fn current_size(&mut self) -> io::Result<u64> {
        let at_path = fs::metadata(&self.path).ok();
        if let (Some(file), Some(meta)) = (&self.file, &at_path) {
            if same_file(file, meta) {
                return Ok(meta.len());
            }
        }
        self.file = None;
        let file = open_append(&self.path)?;
        let size = file.metadata()?.len();
        self.file = Some(file);
        Ok(size)
    }

    /// Rotates under the exclusive sidecar lock, deciding again once the lock is held so that
    /// two processes that both saw a full file rotate it only once.
    fn rotate(&mut self, len: u64) -> io::Result<()> {
        let lock_file = open_regular(
            &self.lock_path,
            OpenOptions::new().create(true).append(true),
        )?;
        FileExt::lock(&lock_file)?;
        let result = self.rotate_locked(len);
        let _ = FileExt::unlock(&lock_file);
        result
    }

    fn rotate_locked(&mut self, len: u64) -> io::Result<()> {
        let size = self.current_size()?;
        if !should_rotate(size, len, self.max_bytes) {
            return Ok(());
        }
        if self.backups == 0 {
            return match &self.file {
                Some(file) => file.set_len(0),
                None => Ok(()),
            };
        }
        // Only regular files are ever deleted or moved aside.
        let last = backup_path(&self.path, self.backups);
        refuse_non_regular(&last)?;
        ignore_missing(fs::remove_file(&last))?;
        for (from, to) in rotation_plan(&self.path, self.backups) {
            refuse_non_regular(&from)?;
            refuse_non_regular(&to)?;
            ignore_missing(fs::rename(&from, &to))?;
        }
        self.file = None;
        self.file = Some(open_append(&self.path)?);
        Ok(())
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn refuse_non_regular(path: &Path) -> io::Result<()> {
    match safe_file::non_regular(path)? {
        Some(kind) => Err(io::Error::other(format!(
            "{} is {kind}, not a regular file: it is left untouched",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// Opens a regular file only (see `safe_file::open`), as an `io::Error` otherwise.
fn open_regular(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    safe_file::open(path, opts).map_err(|e| match e {
        safe_file::OpenError::Io(e) => e,
        e @ safe_file::OpenError::NotRegular(_) => io::Error::other(format!(
            "{e}: checker does not write to it, rotate it or move it"
        )),
    })
}

/// Opens `path` for appending, creating it and its folder if missing; only a regular file.
fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir)?;
        }
    }
    open_regular(path, OpenOptions::new().create(true).append(true))
}

#[cfg(unix)]
fn same_file(file: &File, at_path: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    match file.metadata() {
        Ok(ours) => ours.dev() == at_path.dev() && ours.ino() == at_path.ino(),
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn same_file(file: &File, at_path: &fs::Metadata) -> bool {
    // No cheap identity check: trust our handle while the sizes agree.
    file.metadata()
        .map(|m| m.len() == at_path.len())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
