//! The metrics as a file for node_exporter's textfile collector: `DIR/checker.prom`,
//! replaced atomically (a temp file in the same folder whose name does not end in `.prom`,
//! so the collector never reads half of it, fsync, rename). The folder must exist; a
//! `checker.prom` that is not a regular file (a directory, a FIFO...) is refused, never
//! replaced; a symlink is followed, and the file it names is replaced.

use std::path::{Path, PathBuf};

use crate::safe_file::{self, ReplaceError};

/// The file's name in the folder.
pub const FILE_NAME: &str = "checker.prom";

/// Why the file was not written.
#[derive(Debug, thiserror::Error)]
pub enum TextfileError {
    #[error("metrics textfile folder {}: {why}", dir.display())]
    Dir { dir: PathBuf, why: String },
    #[error("metrics textfile {} is {kind}, not a regular file: refused (remove it, or give another folder)", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("metrics textfile {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `text` to `dir/checker.prom` atomically; returns the path written.
pub fn write(dir: &Path, text: &str) -> Result<PathBuf, TextfileError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(TextfileError::Dir {
                dir: dir.to_path_buf(),
                why: "not a directory".into(),
            })
        }
        Err(e) => {
            return Err(TextfileError::Dir {
                dir: dir.to_path_buf(),
                why: format!("{e} (create it, or point textfile_dir at node_exporter's --collector.textfile.directory)"),
            })
        }
    }
    let path = dir.join(FILE_NAME);
    // Readable by node_exporter, which runs as another user.
    match safe_file::replace(&path, text.as_bytes(), 0o644, true) {
        Ok(_) => Ok(path),
        Err(ReplaceError::NotRegular { path, kind }) => {
            Err(TextfileError::NotRegular { path, kind })
        }
        Err(ReplaceError::Io { path, source }) => Err(TextfileError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_no_temp_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a 1\n").unwrap();
        let path = write(dir.path(), "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![FILE_NAME.to_string()]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o044, 0o044, "others can read it: {mode:o}");
    }

    #[test]
    fn a_missing_folder_or_a_non_regular_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            write(&missing, "x 1\n"),
            Err(TextfileError::Dir { .. })
        ));
        std::fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let e = write(dir.path(), "x 1\n").unwrap_err();
        assert!(
            e.to_string().contains("is a directory, not a regular file"),
            "{e}"
        );
        assert!(dir.path().join(FILE_NAME).is_dir(), "left alone");
    }

    #[test]
    fn through_a_symlink_the_file_it_names_is_replaced_and_the_link_stays() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old\n").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&real, out.join(FILE_NAME)).unwrap();
        write(&out, "new 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new 1\n");
        assert!(std::fs::symlink_metadata(out.join(FILE_NAME))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
