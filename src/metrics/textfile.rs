//! The metrics as a file for node_exporter's textfile collector: `DIR/checker.prom`,
//! replaced atomically (a temp file in the same folder whose name does not end in `.prom`,
//! so the collector never reads half of it, fsync, rename). The folder must exist; a
//! `checker.prom` that is not a regular file (a directory, a FIFO...) is refused, never
//! replaced; a symlink is followed, and the file it names is replaced.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::safe_file::{self, OpenError};

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
    let io = |path: &Path, source| TextfileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let target = safe_file::resolve(&path).map_err(|e| io(&path, e))?;
    if let Some(kind) = safe_file::non_regular(&target).map_err(|e| io(&target, e))? {
        return Err(TextfileError::NotRegular { path: target, kind });
    }
    let folder = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| FILE_NAME.to_string());
    let tmp = folder.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<(), OpenError> {
        // Readable by node_exporter, which runs as another user.
        let mut f = safe_file::open(
            &tmp,
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644),
        )?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        if let Ok(d) = File::open(folder) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(path),
        Err(OpenError::NotRegular(kind)) => Err(TextfileError::NotRegular { path: tmp, kind }),
        Err(OpenError::Io(e)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(io(&target, e))
        }
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
