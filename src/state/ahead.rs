//! The state file read ahead of its lock: a tick starts reading it on a thread of its own
//! while its job files load, and under the lock uses what it read only if the file is
//! still the very one it read (the same device, inode, size, and modification and change
//! times). checker never changes the state file in place (it writes a new file and
//! renames it over), so a save in between gives another inode, and the tick reads again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{State, STATE_VERSION};
use crate::safe_file;

/// A state file read without the lock, with what identified it.
pub struct ReadAhead {
    target: PathBuf,
    seen: FileId,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn id(path: &Path) -> Option<FileId> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileId {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

impl ReadAhead {
    /// The state file at `path`, read and parsed by the fast reader; `None` for anything
    /// else (no file, not a regular one, changed while read, left to serde, from a newer
    /// checker...): the lock's reading then does it all, as always.
    pub fn read(path: &Path) -> Option<ReadAhead> {
        let target = safe_file::resolve(path).ok()?;
        let seen = id(&target)?;
        let bytes = safe_file::read(&target).ok()??;
        if id(&target)? != seen || u64::try_from(bytes.len()).ok()? != seen.len {
            return None;
        }
        let state = super::fast::parse(Arc::new(String::from_utf8(bytes).ok()?))?;
        (state.version <= STATE_VERSION).then_some(ReadAhead {
            target,
            seen,
            state,
        })
    }

    /// The state read, if `target` (resolved under the lock) is still the file read and no
    /// secret is configured (a state read before the secrets were known was not masked).
    pub(super) fn take_if_current(self, target: &Path) -> Option<State> {
        let current =
            !crate::redact::is_active() && self.target == target && id(target) == Some(self.seen);
        current.then_some(self.state)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::state::Store;

    /// Saves the state with job "a" at `attempts`, as a tick would (lock, load, save).
    fn save(store: &Store, attempts: u64) {
        let guard = store.lock().expect("lock");
        let mut state = store.load_locked(&guard).expect("loads");
        state.jobs.entry("a".into()).or_default().total_attempts = attempts;
        store.save_locked(&guard, &state).expect("saved");
    }

    fn store_with(dir: &Path, attempts: u64) -> Store {
        let store = Store::new(&dir.join("state.json"), Duration::from_secs(1));
        save(&store, attempts);
        store
    }

    fn load(store: &Store, ahead: Option<ReadAhead>) -> u64 {
        let guard = store.lock().expect("lock");
        let state = store.load_locked_ahead(&guard, ahead).expect("loads");
        state.jobs["a"].total_attempts
    }

    #[test]
    fn a_state_read_ahead_is_taken_while_the_file_is_the_one_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        store_with(dir.path(), 3);
        let ahead = ReadAhead::read(&path).expect("read ahead");
        assert_eq!(ahead.state.jobs["a"].total_attempts, 3);
        assert!(ahead.take_if_current(&path).is_some());
        // Once secrets are configured, a state read before they were known (unmasked) is
        // not taken. (The secret is this test's own; the list is emptied again at once.)
        let ahead = ReadAhead::read(&path).expect("read ahead");
        crate::redact::install(["read-ahead-test-secret-4f9c2"]);
        let taken = ahead.take_if_current(&path).is_some();
        crate::redact::install(Vec::<String>::new());
        assert!(!taken);
    }

    #[test]
    fn a_state_saved_after_it_was_read_ahead_is_read_again_under_the_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let store = store_with(dir.path(), 3);
        let ahead = ReadAhead::read(&path).expect("read ahead");
        // Another process's tick saves in between (a new file renamed over).
        save(&store, 4);
        assert_eq!(load(&store, Some(ahead)), 4);
    }

    #[test]
    fn a_state_changed_in_place_after_it_was_read_ahead_is_read_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let store = store_with(dir.path(), 3);
        let ahead = ReadAhead::read(&path).expect("read ahead");
        // Edited in place by hand, to the same size: only its times tell.
        let text = std::fs::read_to_string(&path).expect("read");
        let edited = text.replace("\"total_attempts\":3", "\"total_attempts\":7");
        assert_eq!(edited.len(), text.len());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut &f, edited.as_bytes()).expect("write");
        f.set_modified(SystemTime::now() + Duration::from_secs(60))
            .expect("set time");
        assert_eq!(load(&store, Some(ahead)), 7);
    }

    #[test]
    fn a_state_read_ahead_for_another_file_is_not_taken() {
        let (one, two) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        store_with(one.path(), 3);
        let store = store_with(two.path(), 5);
        let ahead = ReadAhead::read(&one.path().join("state.json")).expect("read ahead");
        assert_eq!(load(&store, Some(ahead)), 5);
    }

    #[test]
    fn nothing_is_read_ahead_from_a_missing_unreadable_or_fifo_state_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        assert!(ReadAhead::read(&path).is_none());
        std::fs::write(&path, "{\"version\":1,\"jobs\":{\"a\":").expect("write");
        assert!(ReadAhead::read(&path).is_none());
        std::fs::write(&path, "{\"version\":2,\"jobs\":{}}").expect("write");
        assert!(ReadAhead::read(&path).is_none(), "a newer checker's");
        std::fs::remove_file(&path).expect("remove");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Refused without being opened: this returns instead of waiting for a writer.
        assert!(ReadAhead::read(&path).is_none());
    }
}
