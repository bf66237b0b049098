//! Loading and saving the state file safely: an exclusive lock on a sidecar lock file
//! serialises writers, saves are atomic (temp file, fsync, rename), and an unreadable
//! file is moved aside instead of stopping the monitor.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs2::FileExt;

use super::{State, STATE_VERSION};

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
    TooNew { path: PathBuf, found: u32 },
    #[error("state file {path} is unreadable: {reason}")]
    Unreadable { path: PathBuf, reason: String },
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
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| StateError::Io {
                path: self.lock_path.clone(),
                source: e,
            })?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            match FileExt::try_lock_exclusive(&file) {
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
        match std::fs::read(&self.path) {
            Ok(bytes) => self.parse(&bytes).map_err(|reason| match reason {
                ParseFailure::TooNew(found) => StateError::TooNew {
                    path: self.path.clone(),
                    found,
                },
                ParseFailure::Corrupt(reason) => StateError::Unreadable {
                    path: self.path.clone(),
                    reason,
                },
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<State, ParseFailure> {
        #[derive(serde::Deserialize)]
        struct VersionOnly {
            version: Option<u32>,
        }
        if let Ok(VersionOnly { version: Some(v) }) = serde_json::from_slice::<VersionOnly>(bytes) {
            if v > STATE_VERSION {
                return Err(ParseFailure::TooNew(v));
            }
        }
        serde_json::from_slice::<State>(bytes).map_err(|e| ParseFailure::Corrupt(e.to_string()))
    }

    /// Loads the state under a held lock. An unreadable file is renamed to
    /// `<name>.corrupt-<time>` and a fresh state is returned with `recovered_from` set,
    /// so the caller can raise an error event and an alert and carry on.
    pub fn load_locked(&self, _guard: &Guard) -> Result<State, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(self.io(e)),
        };
        match self.parse(&bytes) {
            Ok(s) => Ok(s),
            Err(ParseFailure::TooNew(found)) => Err(StateError::TooNew {
                path: self.path.clone(),
                found,
            }),
            Err(ParseFailure::Corrupt(reason)) => {
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                let mut aside = self.path.as_os_str().to_owned();
                aside.push(format!(".corrupt-{stamp}"));
                let aside = PathBuf::from(aside);
                std::fs::rename(&self.path, &aside).map_err(|e| self.io(e))?;
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
        let mut bytes = serde_json::to_vec(state).map_err(|e| self.io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(e)
        })
    }

    /// Lock, load, change, save, unlock: the one way writers touch the state.
    pub fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StateError> {
        let guard = self.lock()?;
        let mut state = self.load_locked(&guard)?;
        let out = f(&mut state);
        self.save_locked(&guard, &state)?;
        Ok(out)
    }
}

enum ParseFailure {
    TooNew(u32),
    Corrupt(String),
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(StateError::TooNew { found: 99, .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"version\": 99}");
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
