//! The files checker owns and rewrites (the state file, its lock, the log file) are used
//! only when they are regular files. A device node, a FIFO, a directory or a socket at
//! their path is refused, never opened for reading (a FIFO would hang), moved aside or
//! replaced. A symlink is followed: what is rewritten is the file it points to.

use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Symlinks followed before giving up, as the kernel does (ELOOP).
const MAX_LINKS: usize = 40;

/// What is at a path, in words for messages, when it is not a regular file.
pub fn kind(ft: &FileType) -> Option<&'static str> {
    if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else if ft.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// The file a path finally names: the path itself, or the target of its chain of
/// symlinks (relative targets resolve against the link's folder). A missing final target
/// is returned as is, so that it can be created there.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = if target.is_absolute() {
                    target
                } else {
                    p.parent().unwrap_or(Path::new("")).join(target)
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: more than {MAX_LINKS} levels of symbolic links",
        path.display()
    )))
}

/// `Some(kind)` when something other than a regular file is at `path` (after symlinks);
/// `None` when a regular file or nothing is there.
pub fn non_regular(path: &Path) -> io::Result<Option<&'static str>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(kind(&m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why a file was not opened: it is not a regular file, or the system said no.
#[derive(Debug)]
pub enum OpenError {
    NotRegular(&'static str),
    Io(io::Error),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            OpenError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Opens with `opts`, only a regular file: the type is checked before opening, the open
/// itself cannot block (O_NONBLOCK: a FIFO swapped in meanwhile does not hang it), and
/// the type is checked again on the open file. `NotFound` passes through as `Io`.
pub fn open(path: &Path, opts: &mut OpenOptions) -> Result<File, OpenError> {
    if let Some(kind) = non_regular(path)? {
        return Err(OpenError::NotRegular(kind));
    }
    let file = opts.custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    if let Some(kind) = kind(&file.metadata()?.file_type()) {
        return Err(OpenError::NotRegular(kind));
    }
    Ok(file)
}

/// Why [`replace`] wrote nothing, and at which path.
#[derive(Debug)]
pub enum ReplaceError {
    /// The file (or a temp file put in the way) is not a regular file: left as it is.
    NotRegular {
        path: PathBuf,
        kind: &'static str,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

/// Replaces the file at `path` by `bytes`, whole or not at all: a temp file beside it
/// (created with `mode`), then a rename over it. A symlink is followed and the file it
/// names is replaced; something that is not a regular file is refused. `durable` adds an
/// fsync of the file before the rename and of its folder after. Returns the file replaced.
pub fn replace(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    durable: bool,
) -> Result<PathBuf, ReplaceError> {
    let io_at = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ReplaceError::Io { path: p, source }
    };
    let target = resolve(path).map_err(io_at(path))?;
    if let Some(kind) = non_regular(&target).map_err(io_at(&target))? {
        return Err(ReplaceError::NotRegular { path: target, kind });
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> Result<(), OpenError> {
        let mut f = open(
            &tmp,
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode),
        )?;
        io::Write::write_all(&mut f, bytes)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, &target)?;
        if durable {
            let folder = target
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if let Ok(d) = File::open(folder) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    match write() {
        Ok(()) => Ok(target),
        Err(OpenError::NotRegular(kind)) => Err(ReplaceError::NotRegular { path: tmp, kind }),
        Err(OpenError::Io(source)) => {
            let _ = std::fs::remove_file(&tmp);
            Err(ReplaceError::Io {
                path: target,
                source,
            })
        }
    }
}

/// Reads a whole regular file; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, OpenError> {
    use std::io::Read;
    let mut file = match open(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_relative_symlinks_resolves_to_its_final_target() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::os::unix::fs::symlink("data/b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("real.json", dir.path().join("data/b")).unwrap();
        assert_eq!(
            resolve(&dir.path().join("a")).unwrap(),
            dir.path().join("data/real.json")
        );
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("y", dir.path().join("x")).unwrap();
        std::os::unix::fs::symlink("x", dir.path().join("y")).unwrap();
        assert!(resolve(&dir.path().join("x")).is_err());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking_and_a_directory_too() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(read(&fifo), Err(OpenError::NotRegular(k)) if k.contains("FIFO")));
        assert!(matches!(
            read(dir.path()),
            Err(OpenError::NotRegular("a directory"))
        ));
        assert!(matches!(read(&dir.path().join("none")), Ok(None)));
    }
}
