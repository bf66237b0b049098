//! Reading a configuration file safely (a regular file of bounded size, UTF-8), and
//! turning byte offsets into line numbers.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The largest settings or job file read (10 MiB): far more than any real configuration,
/// small enough that a wrong `-f` (a device, a log file) cannot eat the machine's memory.
pub const MAX_CONFIG_BYTES: u64 = 10 * 1024 * 1024;
/// The largest secret read from a `<key>_file`.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// A FIFO, a device, a directory, a socket: never read.
    NotRegular(&'static str),
    TooBig {
        max: u64,
    },
    NotText,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooBig { max } => write!(f, "it is larger than {}", size(*max)),
            ReadError::NotText => f.write_str("it is not UTF-8 text"),
        }
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads a regular file of at most `max` bytes as text. It is opened without blocking (a
/// FIFO must not hang the command), checked to be a regular file, and read through a
/// limit, so neither `/dev/zero` nor a file that grows while it is read can exhaust memory.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        }));
    }
    if meta.len() > max {
        return Err(ReadError::TooBig { max });
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooBig { max });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

/// Where each line of a file starts, so that an offset becomes a line number without
/// rescanning the file: a file of thousands of problems must not cost a scan per problem.
pub struct Lines {
    /// The offsets where lines start, the first at `starts[0]`...
    starts: Vec<usize>,
    /// ...whose line is `before + 1`.
    before: usize,
}

/// Eight bytes at a time: the high bit of each byte of `word` that is a newline, and no
/// other (short lines make a search per line cost more).
fn newlines(word: &[u8]) -> u64 {
    const LOW: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut w = [0u8; 8];
    w.copy_from_slice(word);
    let x = u64::from_le_bytes(w) ^ NEWLINES;
    !(((x & LOW).wrapping_add(LOW)) | x | LOW)
}

impl Lines {
    pub fn new(src: &str) -> Self {
        Self::part(src, 0, src.len())
    }

    /// The lines of `src[from..to]`, numbered as in the whole of `src`: the line of an
    /// offset from `from` to `to` is the one [`Lines::new`] gives; others are not asked.
    /// Only the bytes before `from` are counted, not listed: the threads reading a
    /// file's pieces each list their own part.
    pub fn part(src: &str, from: usize, to: usize) -> Self {
        let bytes = src.as_bytes();
        let from = from.min(bytes.len());
        let part = bytes
            .get(from..to.clamp(from, bytes.len()))
            .unwrap_or_default();
        let mut before_words = bytes[..from].chunks_exact(8);
        let mut before: usize = (&mut before_words)
            .map(|w| newlines(w).count_ones() as usize)
            .sum();
        before += before_words
            .remainder()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        // A line of a job file is rarely shorter than 8 bytes: the list is seldom grown.
        let mut starts = Vec::with_capacity(part.len() / 8 + 1);
        starts.push(from);
        let mut words = part.chunks_exact(8);
        let mut at = from;
        for word in &mut words {
            let mut found = newlines(word);
            while found != 0 {
                starts.push(at + (found.trailing_zeros() / 8) as usize + 1);
                found &= found - 1;
            }
            at += 8;
        }
        for (i, b) in words.remainder().iter().enumerate() {
            if *b == b'\n' {
                starts.push(at + i + 1);
            }
        }
        Lines { starts, before }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.before + self.starts.partition_point(|&s| s <= offset).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_one_and_a_newline_ends_its_line() {
        let src = "a\nbb\n\nc";
        let lines = Lines::new(src);
        let naive = |o: usize| src.as_bytes()[..o].iter().filter(|&&b| b == b'\n').count() + 1;
        for o in 0..=src.len() {
            assert_eq!(lines.line(o), naive(o), "offset {o}");
        }
        assert_eq!(lines.line(usize::MAX), 4);
    }

    proptest::proptest! {
        #[test]
        fn every_offset_of_any_text_is_on_the_line_a_count_of_newlines_gives(
            text in "([a-z\u{e9}\n\r\u{0}\u{8a}\u{ff}\u{10a}\u{a0a}]|\n\n){0,80}"
        ) {
            let lines = Lines::new(&text);
            let mut line = 1;
            for (o, b) in text.bytes().enumerate() {
                proptest::prop_assert_eq!(lines.line(o), line, "offset {} of {:?}", o, text);
                line += usize::from(b == b'\n');
            }
            proptest::prop_assert_eq!(lines.line(text.len()), line);
            proptest::prop_assert_eq!(lines.starts.len(), line);
        }

        #[test]
        fn a_part_of_a_text_numbers_its_lines_as_the_whole_text_does(
            text in "([a-z\u{e9}\n\r\u{8a}\u{a0a}]|\n\n){0,80}", a in 0usize..90, b in 0usize..90
        ) {
            let whole = Lines::new(&text);
            let (from, to) = (a.min(b), a.max(b));
            let part = Lines::part(&text, from, to);
            for o in from..=to.min(text.len()) {
                proptest::prop_assert_eq!(part.line(o), whole.line(o), "offset {} of {:?} in {}..{}", o, text, from, to);
            }
        }
    }
}
