//! The one-time import of earlier versions' history: JSON Lines day files in
//! `history_dir`. Each batch of lines goes in with its file's progress (byte offset) in one
//! transaction, so an import that is interrupted resumes where it stopped and one that is
//! run twice adds nothing. Unreadable lines (torn, invalid UTF-8) are skipped and counted.
//! Imported files are then moved to `<history_dir>.imported-<time>/`. One process imports
//! at a time (a lock file beside the database); the others wait for it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::FileExt;
use rusqlite::{params, Connection, OptionalExtension};

use super::record::append_tx;
use super::{Event, History, HistoryError};

const BATCH_LINES: usize = 20_000;
/// A longer line is not an event of ours: it is skipped without being held in memory.
const MAX_LINE: u64 = 1 << 20;

/// Day files (`YYYY-MM-DD.jsonl`) in `dir`, oldest first.
fn day_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let day = name.strip_suffix(".jsonl")?;
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
            e.file_type().ok()?.is_file().then(|| (name, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Parses JSON Lines: the events, and how many non-blank lines were unreadable.
pub(crate) fn parse_lines(buf: &[u8]) -> (Vec<Event>, usize) {
    let mut events = Vec::new();
    let mut bad = 0;
    for line in buf.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(e) => events.push(e),
            Err(_) => bad += 1,
        }
    }
    (events, bad)
}

/// What the import of one file did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub events: u64,
    pub skipped: u64,
    pub done: bool,
}

fn progress(conn: &Connection, file: &str) -> rusqlite::Result<(u64, u64, u64)> {
    Ok(conn
        .query_row(
            "SELECT offset, events, skipped FROM import_progress WHERE file = ?1",
            [file],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()?
        .map(|(o, e, s)| (o.max(0) as u64, e.max(0) as u64, s.max(0) as u64))
        .unwrap_or((0, 0, 0)))
}

/// Imports one file from where its progress says, at most `max_batches` batches of
/// `batch_lines` lines.
pub(crate) fn import_file(
    h: &History,
    conn: &mut Connection,
    name: &str,
    path: &Path,
    batch_lines: usize,
    max_batches: usize,
) -> Result<Outcome, HistoryError> {
    let io = |e| h.io(path, e);
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Outcome {
                done: true,
                ..Outcome::default()
            })
        }
        Err(e) => return Err(io(e)),
    };
    let (mut offset, mut events_total, mut skipped_total) =
        progress(conn, name).map_err(|e| h.err(e))?;
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    for _ in 0..max_batches {
        let mut buf: Vec<u8> = Vec::new();
        let mut lines = 0;
        let mut consumed = 0u64;
        let mut skipped_long = 0u64;
        while lines < batch_lines {
            let start = buf.len();
            let n = (&mut reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut buf)
                .map_err(io)?;
            if n == 0 {
                break;
            }
            consumed += n as u64;
            if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
                // Too long: drop it and the rest of it.
                buf.truncate(start);
                skipped_long += 1;
                loop {
                    let mut sink = Vec::new();
                    let m = (&mut reader)
                        .take(MAX_LINE)
                        .read_until(b'\n', &mut sink)
                        .map_err(io)?;
                    consumed += m as u64;
                    if m == 0 || sink.last() == Some(&b'\n') {
                        break;
                    }
                }
            }
            lines += 1;
        }
        if consumed == 0 {
            return Ok(Outcome {
                events: events_total,
                skipped: skipped_total,
                done: true,
            });
        }
        let (events, bad) = parse_lines(&buf);
        let bad = bad as u64 + skipped_long;
        let new_offset = offset + consumed;
        let (e_total, s_total) = (events_total + events.len() as u64, skipped_total + bad);
        h.write(conn, |tx| {
            append_tx(tx, &events)?;
            tx.execute(
                "INSERT INTO import_progress (file, offset, events, skipped) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (file) DO UPDATE SET offset = excluded.offset, events = excluded.events,
                 skipped = excluded.skipped",
                params![
                    name,
                    i64::try_from(new_offset).unwrap_or(i64::MAX),
                    i64::try_from(e_total).unwrap_or(i64::MAX),
                    i64::try_from(s_total).unwrap_or(i64::MAX)
                ],
            )?;
            Ok(())
        })?;
        offset = new_offset;
        events_total = e_total;
        skipped_total = s_total;
    }
    Ok(Outcome {
        events: events_total,
        skipped: skipped_total,
        done: false,
    })
}

/// Holds the import lock until dropped.
struct ImportLock(File);

impl Drop for ImportLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

fn lock(h: &History) -> Result<ImportLock, HistoryError> {
    let mut p = h.path.as_os_str().to_owned();
    p.push(".import-lock");
    let p = PathBuf::from(p);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| h.io(&p, e))?;
    let start = Instant::now();
    loop {
        match FileExt::try_lock(&file) {
            Ok(()) => return Ok(ImportLock(file)),
            Err(_) if start.elapsed() < h.busy => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => {
                return Err(HistoryError::Busy {
                    path: p,
                    secs: h.busy.as_secs(),
                })
            }
        }
    }
}

/// Imports every day file still in the legacy folder, then moves them aside.
pub(crate) fn run(h: &History, conn: &mut Connection) -> Result<(), HistoryError> {
    run_limited(h, conn, BATCH_LINES, usize::MAX).map(|_| ())
}

/// `run` with a batch size and a cap on batches per file; returns whether every file was
/// imported and moved aside.
pub(crate) fn run_limited(
    h: &History,
    conn: &mut Connection,
    batch_lines: usize,
    max_batches: usize,
) -> Result<bool, HistoryError> {
    let dir = &h.legacy_dir;
    if day_files(dir).map_err(|e| h.io(dir, e))?.is_empty() {
        return Ok(true);
    }
    let _lock = lock(h)?;
    // Again under the lock: another process may have imported them meanwhile.
    let files = day_files(dir).map_err(|e| h.io(dir, e))?;
    if files.is_empty() {
        return Ok(true);
    }
    log::info!(
        "importing {} history file(s) from {} into {}",
        files.len(),
        dir.display(),
        h.path.display()
    );
    let (mut events, mut skipped) = (0u64, 0u64);
    for (name, path) in &files {
        let o = import_file(h, conn, name, path, batch_lines, max_batches)?;
        if !o.done {
            log::warn!("history import of {name} stopped part-way; it resumes on the next run");
            return Ok(false);
        }
        log::info!(
            "imported {name}: {} event(s), {} unreadable line(s) skipped",
            o.events,
            o.skipped
        );
        events += o.events;
        skipped += o.skipped;
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut dest = dir.as_os_str().to_owned();
    dest.push(format!(".imported-{stamp}"));
    let dest = PathBuf::from(dest);
    std::fs::create_dir_all(&dest).map_err(|e| h.io(&dest, e))?;
    for (name, path) in &files {
        match std::fs::rename(path, dest.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(h.io(path, e)),
        }
        h.write(conn, |tx| {
            tx.execute("DELETE FROM import_progress WHERE file = ?1", [name])
                .map(|_| ())
        })?;
    }
    let _ = std::fs::remove_dir(dir);
    let text = format!(
        "imported {events} event(s) from {} JSON Lines file(s) into {}; {skipped} unreadable line(s) skipped; the files are now in {}",
        files.len(),
        h.path.display(),
        dest.display()
    );
    if skipped > 0 {
        log::warn!("{text}");
    } else {
        log::info!("{text}");
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Access, Query};
    use proptest::prelude::*;

    fn line(ts: &str, job: &str, ok: bool) -> String {
        format!("{{\"ts\":\"{ts}\",\"job\":\"{job}\",\"event\":\"result\",\"ok\":{ok},\"message\":\"m\",\"channel\":null}}\n")
    }

    fn fixture() -> (tempfile::TempDir, History) {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("history");
        std::fs::create_dir_all(&legacy).unwrap();
        let mut a = String::new();
        for m in 0..10 {
            a.push_str(&line(
                &format!("2026-03-01T10:{m:02}:00Z"),
                "web",
                m % 3 != 0,
            ));
        }
        a.push_str("{\"ts\": \"2026-03-01T11:00:00Z\", \"jo");
        a.push('\n');
        std::fs::write(legacy.join("2026-03-01.jsonl"), a).unwrap();
        let mut b = line("2026-03-02T10:00:00Z", "db", true).into_bytes();
        b.extend_from_slice(b"{\"ts\":\"2026-03-02T10:01:00Z\",\"job\":\"d\xc3");
        b.push(b'\n');
        b.extend_from_slice(line("2026-03-02T10:02:00Z", "db", false).as_bytes());
        std::fs::write(legacy.join("2026-03-02.jsonl"), b).unwrap();
        let h = History::new(
            &dir.path().join("history.db"),
            &legacy,
            Duration::from_secs(5),
            Access::Writer,
        );
        (dir, h)
    }

    #[test]
    fn an_interrupted_import_resumes_and_a_second_run_adds_nothing() {
        let (dir, h) = fixture();
        // Half-way: one batch of four lines of the first file, then the process "dies".
        {
            let raw = History::new(
                &h.path,
                &dir.path().join("elsewhere"),
                h.busy,
                Access::Writer,
            );
            raw.prepare().unwrap();
            let mut conn = Connection::open(&h.path).unwrap();
            crate::history::rollup::register(&conn).unwrap();
            assert!(!run_limited(&h, &mut conn, 4, 1).unwrap());
            let (offset, events, _) = progress(&conn, "2026-03-01.jsonl").unwrap();
            assert!(offset > 0 && events == 4, "{offset} {events}");
        }
        assert_eq!(h.read(&Query::default()).unwrap().len(), 12);
        let moved: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("history.imported-")
            })
            .collect();
        assert_eq!(moved.len(), 1, "files moved aside");
        assert!(!dir.path().join("history").exists());
        // Run twice: the files are gone, and putting one back is not imported twice.
        let again = History::new(&h.path, &h.legacy_dir, h.busy, Access::Writer);
        assert_eq!(again.read(&Query::default()).unwrap().len(), 12);
        let win = again
            .window(
                "2026-03-01T00:00:00Z".parse().unwrap(),
                "2026-03-03T00:00:00Z".parse().unwrap(),
            )
            .unwrap();
        assert_eq!((win["web"].attempts, win["web"].successes), (10, 6));
        assert_eq!((win["db"].attempts, win["db"].successes), (2, 1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_lines_and_bytes_never_panic_and_bad_lines_are_counted(
            good in proptest::collection::vec((0u32..59, any::<bool>()), 0..20),
            junk in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..60), 0..20),
            cut in any::<usize>(),
        ) {
            let mut buf = Vec::new();
            let mut expected_good = 0;
            let mut lines = Vec::new();
            for (m, ok) in &good {
                lines.push(line(&format!("2026-03-01T10:{m:02}:00Z"), "j", *ok).into_bytes());
            }
            for j in &junk {
                let mut l: Vec<u8> = j.iter().copied().filter(|&b| b != b'\n').collect();
                l.push(b'\n');
                lines.push(l);
            }
            // Interleave, and tear one good line mid-way (possibly mid-character).
            lines.sort_by_key(|l| l.len() ^ cut);
            let torn = if lines.is_empty() { None } else { Some(cut % lines.len()) };
            for (i, l) in lines.iter().enumerate() {
                if Some(i) == torn && l.len() > 2 {
                    let at = 1 + cut % (l.len() - 2);
                    buf.extend_from_slice(&l[..at]);
                    buf.push(b'\n');
                } else {
                    buf.extend_from_slice(l);
                    if serde_json::from_slice::<Event>(l.strip_suffix(b"\n").unwrap_or(l)).is_ok() {
                        expected_good += 1;
                    }
                }
            }
            let nonblank = buf
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .count();
            let (events, bad) = parse_lines(&buf);
            prop_assert!(events.len() >= expected_good);
            prop_assert_eq!(events.len() + bad, nonblank);

            // The whole import path takes the same bytes without failing.
            let dir = tempfile::tempdir().unwrap();
            let legacy = dir.path().join("history");
            std::fs::create_dir_all(&legacy).unwrap();
            std::fs::write(legacy.join("2026-03-01.jsonl"), &buf).unwrap();
            let h = History::new(&dir.path().join("h.db"), &legacy, Duration::from_secs(5), Access::Writer);
            let read = h.read(&Query::default()).unwrap();
            prop_assert_eq!(read.len(), events.len());
        }
    }
}
