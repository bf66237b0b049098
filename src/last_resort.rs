//! Where checker reports a failure of its own when the usual ways are not there: the
//! settings could not be loaded (so no channel and maybe no log file is known), or `wrap`
//! could not record a result. Always stderr (cron mails it); then the log file when one
//! is known and can be written, else the local syslog.

use std::path::{Path, PathBuf};

/// Reports `message` after the settings at `settings` (when one was found) could not be
/// loaded: the log file named in them is found if their text still says where it is.
pub fn settings_failed(settings: Option<&Path>, message: &str) {
    let log = settings.and_then(log_file_of);
    to_log_or_syslog(log.as_deref(), message);
}

/// Writes `message` into the log file `log` when given and writable, else to syslog.
/// (Stderr is the caller's: it prints the error itself.)
pub fn to_log_or_syslog(log: Option<&Path>, message: &str) {
    let why_not_log = match log {
        Some(path) => match crate::logging::append_record(path, log::Level::Error, message) {
            Ok(()) => return,
            Err(why) => Some(why),
        },
        None => None,
    };
    let mut text = message.to_string();
    if let Some(why) = why_not_log {
        text.push_str(&format!("\n(not in the log file: {why})"));
    }
    if let Err(e) = crate::syslog::error(&text) {
        eprintln!("checker: cannot write to syslog either: {e}");
    }
}

/// `[logging] file` of the settings at `path`, read from its text even when the rest of
/// it does not load (a typo elsewhere, a missing variable), resolved against its folder.
/// `None` when the file cannot be read or parsed, names no log file, or turns it off.
pub fn log_file_of(path: &Path) -> Option<PathBuf> {
    let text = crate::config::read_settings_text(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let logging = table.get("logging")?.as_table()?;
    if logging
        .get("file_level")
        .and_then(|l| l.as_str())
        .is_some_and(|l| l.eq_ignore_ascii_case("off"))
    {
        return None;
    }
    let file = logging.get("file")?.as_str().filter(|f| !f.is_empty())?;
    let file = Path::new(file);
    if file.is_absolute() {
        return Some(file.to_path_buf());
    }
    let base = std::path::absolute(path).ok()?;
    Some(base.parent()?.join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_file_is_found_in_settings_that_do_not_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            "[general]\nbogus = 1\n[logging]\nfile = \"logs/checker.log\"\n[email]\npassword_env = \"NOT_SET_ANYWHERE\"\n",
        )
        .expect("write");
        assert_eq!(
            log_file_of(&settings),
            Some(dir.path().join("logs/checker.log"))
        );
        std::fs::write(
            &settings,
            "[logging]\nfile = \"/var/log/x.log\"\nfile_level = \"off\"\n",
        )
        .expect("write");
        assert_eq!(log_file_of(&settings), None);
        std::fs::write(&settings, "[logging\nfile = \"x\"").expect("write");
        assert_eq!(
            log_file_of(&settings),
            None,
            "a syntax error: nothing to go by"
        );
        assert_eq!(log_file_of(&dir.path().join("missing.toml")), None);
    }
}
