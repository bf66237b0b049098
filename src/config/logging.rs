//! `[logging]`: the log file, its rotation, and how much goes there and to stderr.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::context::{resolve_path, FileCtx, S};

/// `[logging]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    pub file: Option<String>,
    pub max_bytes: Option<S<i64>>,
    pub backups: Option<S<i64>>,
    pub file_level: Option<S<String>>,
    pub stderr_level: Option<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "off" => Level::Off,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            Level::Off => log::LevelFilter::Off,
            Level::Error => log::LevelFilter::Error,
            Level::Warn => log::LevelFilter::Warn,
            Level::Info => log::LevelFilter::Info,
            Level::Debug => log::LevelFilter::Debug,
            Level::Trace => log::LevelFilter::Trace,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Logging {
    pub file: Option<PathBuf>,
    pub max_bytes: u64,
    pub backups: u32,
    pub file_level: Level,
    pub stderr_level: Level,
}

/// `[logging]`, with its defaults; `base` is the settings file's folder.
pub(super) fn resolve(cx: &mut FileCtx<'_>, base: &Path, l: &RawLogging) -> Logging {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    Logging {
        file: l
            .file
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(|f| resolve_path(base, f)),
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
    }
}
