//! Loading and saving the state file safely: an exclusive lock on a sidecar lock file
//! serialises writers, saves are atomic (temp file, fsync, rename), and an unreadable
//! file is moved aside instead of stopping the monitor. Only regular files are read,
//! replaced or moved aside: anything else at the path is refused (`safe_file`), and a
//! symlink is followed, so the file it points to is the one written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::FileExt;

use super::{State, STATE_VERSION};
use crate::safe_file::{self, OpenError};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("could not lock {path} within {secs}s: another checker holds it (raise [general] lock_timeout if runs are long)")]
    LockTimeout { path: PathBuf, secs: u64 },
    #[error("state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} has version {found}, newer than this checker understands ({STATE_VERSION}): upgrade checker, or move the file aside")]
    TooNew { path: PathBuf, found: String },
    #[error("state file {path} is unreadable: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{what} {path} is {kind}, not a regular file: checker refuses to read, replace or move it; point {key} at a regular file (or a symlink to one)")]
    NotRegular {
        what: &'static str,
        key: &'static str,
        path: PathBuf,
        kind: &'static str,
    },
}

/// The state file and its lock.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
}

/// Holds the exclusive lock until dropped.
pub struct Guard {
    file: File,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it immediate.
        let _ = FileExt::unlock(&self.file);
    }
}

impl Store {
    pub fn new(path: &Path, lock_timeout: Duration) -> Self {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        Store {
            path: path.to_path_buf(),
            lock_path: PathBuf::from(lock),
            lock_timeout,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Takes the exclusive lock, waiting up to the lock timeout.
    pub fn lock(&self) -> Result<Guard, StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let lock_path = safe_file::resolve(&self.lock_path).map_err(|e| StateError::Io {
            path: self.lock_path.clone(),
            source: e,
        })?;
        let file = safe_file::open(
            &lock_path,
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true),
        )
        .map_err(|e| match e {
            OpenError::NotRegular(kind) => StateError::NotRegular {
                what: "lock file",
                key: "[general] state_file (the lock is beside it)",
                path: self.lock_path.clone(),
                kind,
            },
            OpenError::Io(source) => StateError::Io {
                path: self.lock_path.clone(),
                source,
            },
        })?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match FileExt::try_lock(&file) {
                Ok(()) => return Ok(Guard { file }),
                Err(_) if start.elapsed() < self.lock_timeout => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(_) => {
                    return Err(StateError::LockTimeout {
                        path: self.lock_path.clone(),
                        secs: self.lock_timeout.as_secs(),
                    })
                }
            }
        }
    }

    /// Reads the state without the lock (for readers such as `status` and
    /// `peer-status`): saves replace the file atomically, so a read sees one whole
    /// version. A missing file is a fresh state; an unreadable one is an error.
    pub fn read(&self) -> Result<State, StateError> {
        match self.read_bytes()? {
            Some(bytes) => self.parse(bytes).map_err(|reason| match reason {
                ParseFailure::TooNew(found) => StateError::TooNew {
                    path: self.path.clone(),
                    found,
                },
                ParseFailure::Corrupt(reason) => StateError::Unreadable {
                    path: self.path.clone(),
                    reason,
                },
            }),
            None => Ok(State::default()),
        }
    }

    /// The file the state lives in: the configured path, or where its symlinks lead.
    fn target(&self) -> Result<PathBuf, StateError> {
        safe_file::resolve(&self.path).map_err(|e| self.io(e))
    }

    fn not_regular(&self, kind: &'static str) -> StateError {
        StateError::NotRegular {
            what: "state file",
            key: "[general] state_file",
            path: self.path.clone(),
            kind,
        }
    }

    /// The bytes of the state file, `None` when there is none. Anything but a regular
    /// file is refused before it is opened.
    fn read_bytes(&self) -> Result<Option<Vec<u8>>, StateError> {
        safe_file::read(&self.target()?).map_err(|e| match e {
            OpenError::NotRegular(kind) => self.not_regular(kind),
            OpenError::Io(e) => self.io(e),
        })
    }

    fn parse(&self, bytes: Vec<u8>) -> Result<State, ParseFailure> {
        // A state written before a secret was configured (or by an older checker) is
        // shown masked all the same.
        let bytes = crate::redact::json_bytes::<State>(bytes);
        // One pass in the common case: the whole file, then its version. Text checked as
        // UTF-8 once is not checked again string by string.
        // The fast reader first; what it leaves (see `fast`) serde reads, and reports.
        // The text is kept (shared) by the state: its jobs are read from it as asked for.
        match String::from_utf8(bytes) {
            Ok(text) => {
                let text = std::sync::Arc::new(text);
                let parsed = match super::fast::parse(std::sync::Arc::clone(&text)) {
                    Some(state) => Ok(state),
                    None => serde_json::from_str::<State>(&text),
                };
                checked(parsed, text.as_bytes())
            }
            Err(e) => {
                let bytes = e.into_bytes();
                checked(serde_json::from_slice::<State>(&bytes), &bytes)
            }
        }
    }

    /// [`Store::load_locked`], taking the state read ahead when the file is still the one
    /// it was read from.
    pub fn load_locked_ahead(
        &self,
        guard: &Guard,
        ahead: Option<super::ReadAhead>,
    ) -> Result<State, StateError> {
        if let Some(ahead) = ahead {
            let target = self.target()?;
            if let Some(state) = ahead.take_if_current(&target) {
                return Ok(state);
            }
        }
        self.load_locked(guard)
    }

    /// Loads the state under a held lock. An unreadable file is renamed to
    /// `<name>.corrupt-<time>` and a fresh state is returned with `recovered_from` set,
    /// so the caller can raise an error event and an alert and carry on.
    pub fn load_locked(&self, _guard: &Guard) -> Result<State, StateError> {
        let Some(bytes) = self.read_bytes()? else {
            return Ok(State::default());
        };
        match self.parse(bytes) {
            Ok(s) => Ok(s),
            Err(ParseFailure::TooNew(found)) => Err(StateError::TooNew {
                path: self.path.clone(),
                found,
            }),
            Err(ParseFailure::Corrupt(reason)) => {
                // Only a regular file gets here (read_bytes refuses anything else), and
                // it is the symlink's target that is moved, so the link stays in place.
                let target = self.target()?;
                if let Some(kind) = safe_file::non_regular(&target).map_err(|e| self.io(e))? {
                    return Err(self.not_regular(kind));
                }
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                let mut aside = target.as_os_str().to_owned();
                aside.push(format!(".corrupt-{stamp}"));
                let aside = PathBuf::from(aside);
                std::fs::rename(&target, &aside).map_err(|e| self.io(e))?;
                log::error!(
                    "state file {} was unreadable ({reason}); moved it to {} and started afresh",
                    self.path.display(),
                    aside.display()
                );
                Ok(State {
                    recovered_from: Some(format!(
                        "state file was unreadable ({reason}); moved aside to {}",
                        aside.display()
                    )),
                    ..State::default()
                })
            }
        }
    }

    /// Saves under a held lock: temp file in the same folder, fsync, rename over the old
    /// file, fsync the folder. A crash at any point leaves either the old or the new file.
    pub fn save_locked(&self, _guard: &Guard, state: &State) -> Result<(), StateError> {
        // Through a symlink, the file it points to is replaced (the temp file beside it,
        // so the rename stays within one file system), and the link stays a link.
        let target = self.target()?;
        if let Some(kind) = safe_file::non_regular(&target).map_err(|e| self.io(e))? {
            return Err(self.not_regular(kind));
        }
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> Result<(), OpenError> {
            let mut f = safe_file::open(
                &tmp,
                OpenOptions::new().write(true).create(true).truncate(true),
            )?;
            if crate::redact::is_active() {
                // Masked as a whole when secrets are configured: the text is made in
                // memory (sized for the usual few hundred bytes a job) and written at once.
                let mut bytes = Vec::with_capacity(4096 + state.jobs.len().saturating_mul(512));
                super::fast::write(state, &mut bytes)?;
                let mut bytes = crate::redact::json_bytes::<State>(bytes);
                bytes.push(b'\n');
                f.write_all(&bytes)?;
            } else {
                // Else written as it is made, a piece at a time: a state of 10,000 jobs
                // is not held twice in memory (once as read, once as written).
                let mut piece = Vec::with_capacity(2 * super::fast::PIECE);
                super::fast::write_in_pieces(state, &mut piece, &mut |p: &mut Vec<u8>| {
                    f.write_all(p)?;
                    p.clear();
                    Ok(())
                })?;
                piece.push(b'\n');
                f.write_all(&piece)?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &target)?;
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        write().map_err(|e| match e {
            OpenError::NotRegular(kind) => StateError::NotRegular {
                what: "temporary state file",
                key: "[general] state_file",
                path: tmp.clone(),
                kind,
            },
            OpenError::Io(e) => {
                let _ = std::fs::remove_file(&tmp);
                self.io(e)
            }
        })
    }
}

enum ParseFailure {
    TooNew(String),
    Corrupt(String),
}

/// The version of a state file this build cannot read, when it is one a newer checker
/// wrote: any number above ours, however large (or fractional), is refused rather than
/// mistaken for damage and moved aside.
fn newer_version(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct VersionOnly {
        version: Option<serde_json::Value>,
    }
    let Ok(VersionOnly {
        version: Some(serde_json::Value::Number(v)),
    }) = serde_json::from_slice::<VersionOnly>(bytes)
    else {
        return None;
    };
    let newer = match v.as_u64() {
        Some(n) => n > u64::from(STATE_VERSION),
        None => v.as_f64().is_some_and(|f| f > f64::from(STATE_VERSION)),
    };
    newer.then(|| v.to_string())
}

/// A state read from `bytes`, refused when a newer checker wrote it.
fn checked(parsed: serde_json::Result<State>, bytes: &[u8]) -> Result<State, ParseFailure> {
    if let Ok(state) = &parsed {
        if state.version > STATE_VERSION {
            return Err(ParseFailure::TooNew(state.version.to_string()));
        }
    }
    parsed.map_err(|e| match newer_version(bytes) {
        Some(found) => ParseFailure::TooNew(found),
        None => ParseFailure::Corrupt(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lock, load, change, save, unlock. Writers outside these tests go through
    /// `engine::txn::Txn`, which also notes a recovered state file and the history.
    trait Update {
        fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StateError>;
    }

    impl Update for Store {
        fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StateError> {
            let guard = self.lock()?;
            let mut state = self.load_locked(&guard)?;
            let out = f(&mut state);
            self.save_locked(&guard, &state)?;
            Ok(out)
        }
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_a_fresh_state_returned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"version\": 1, \"jobs\": {\"x\": ").unwrap();
        let store = Store::new(&path, Duration::from_secs(1));
        let recovered = store.update(|s| s.recovered_from.clone()).unwrap();
        assert!(recovered.unwrap().contains("moved aside"));
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1);
        assert!(store.read().unwrap().jobs.is_empty());
    }

    #[test]
    fn a_newer_version_is_refused_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"version\": 99}").unwrap();
        let store = Store::new(&path, Duration::from_secs(1));
        assert!(matches!(
            store.update(|_| ()),
            Err(StateError::TooNew { ref found, .. }) if found == "99"
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\": 99}");
    }

    #[test]
    fn a_version_beyond_u32_is_refused_as_newer_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"version\": 4294967296}").unwrap();
        let store = Store::new(&path, Duration::from_secs(1));
        let err = store.update(|_| ()).unwrap_err();
        assert!(
            matches!(&err, StateError::TooNew { found, .. } if found == "4294967296"),
            "{err}"
        );
        assert!(err.to_string().contains("newer than this checker"), "{err}");
        assert!(matches!(store.read(), Err(StateError::TooNew { .. })));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "file and lock only"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\": 4294967296}");
    }

    fn mknod_null(path: &Path) {
        let made = std::process::Command::new("mknod")
            .args(["-m", "666"])
            .arg(path)
            .args(["c", "1", "3"])
            .status()
            .expect("mknod runs");
        assert!(made.success(), "mknod needs root: the tests run as root");
    }

    fn is_char_device(path: &Path) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(path)
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false)
    }

    #[test]
    fn a_device_node_as_state_file_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mynull");
        mknod_null(&path);
        let store = Store::new(&path, Duration::from_secs(1));
        let err = store
            .update(|s| {
                s.jobs.entry("x".into()).or_default();
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                StateError::NotRegular {
                    kind: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(matches!(store.read(), Err(StateError::NotRegular { .. })));
        assert!(is_char_device(&path), "the device node is still there");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("corrupt")), "{names:?}");
    }

    #[test]
    fn a_fifo_as_state_or_lock_file_is_refused_at_once_instead_of_hanging() {
        for which in ["state.json", "state.json.lock"] {
            let dir = tempfile::tempdir().unwrap();
            let fifo = dir.path().join(which);
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let store = Store::new(&dir.path().join("state.json"), Duration::from_secs(30));
            let started = Instant::now();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(store.update(|_| ()).map_err(|e| e.to_string()));
            });
            let outcome = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("a FIFO must not hang the store");
            let err = outcome.unwrap_err();
            assert!(
                err.contains("FIFO") && err.contains("not a regular file"),
                "{err}"
            );
            assert!(started.elapsed() < Duration::from_secs(5));
            let ft = std::fs::symlink_metadata(&fifo).unwrap().file_type();
            assert!(
                std::os::unix::fs::FileTypeExt::is_fifo(&ft),
                "{which} untouched"
            );
        }
    }

    #[test]
    fn a_directory_as_state_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap();
        let err = Store::new(&path, Duration::from_secs(1))
            .update(|_| ())
            .unwrap_err();
        assert!(
            matches!(
                err,
                StateError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
        assert!(path.is_dir());
    }

    #[test]
    fn a_symlinked_state_file_stays_a_link_and_its_target_is_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let link = dir.path().join("state.json");
        std::os::unix::fs::symlink("data/real.json", &link).unwrap();
        let store = Store::new(&link, Duration::from_secs(1));
        for _ in 0..2 {
            store
                .update(|s| s.jobs.entry("a".into()).or_default().total_attempts += 1)
                .unwrap();
        }
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let real: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("data/real.json")).unwrap())
                .unwrap();
        assert_eq!(real["jobs"]["a"]["total_attempts"], 2);
        // The temp file was made beside the target, and is gone.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .collect();
        assert_eq!(left.len(), 1);
        // A corrupt target is moved aside beside itself; the link still leads to the
        // fresh file.
        std::fs::write(dir.path().join("data/real.json"), b"{").unwrap();
        store.update(|_| ()).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let aside = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("real.json.corrupt-")
            })
            .count();
        assert_eq!(aside, 1);
        assert!(store.read().unwrap().jobs.is_empty());
    }

    #[test]
    fn a_held_lock_times_out_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("state.json"), Duration::from_millis(100));
        let _held = store.lock().unwrap();
        let err = store.update(|_| ()).unwrap_err();
        assert!(err.to_string().contains("could not lock"), "{err}");
    }

    #[test]
    fn updates_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("state.json"), Duration::from_secs(1));
        store
            .update(|s| s.jobs.entry("a".into()).or_default().total_attempts += 3)
            .unwrap();
        store
            .update(|s| s.jobs.entry("a".into()).or_default().total_attempts += 1)
            .unwrap();
        assert_eq!(store.read().unwrap().jobs["a"].total_attempts, 4);
    }
}
