//! Reading a good job file in pieces: a large file is cut before `[[job]]` lines into
//! pieces of about 64 KB, each read (the plain way when it can, `plain`, else by the toml
//! crate) and its tables checked and dropped in turn, so the memory a file takes stays
//! that of a piece per thread. A file of several pieces is read on a few threads, each
//! taking a run of pieces, and their jobs are put back in file order. A file with any
//! problem is read whole instead (`parse_toml`), which tells each at its line.

use std::num::NonZeroUsize;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::raw::RawJob;
use super::{plain, resolve_job, targets, FileJobs};
use crate::config::context::{EnvSource, FileCtx};
use crate::config::job::Job;
use crate::config::names::{ByName, Seen};
use crate::config::read::Lines;

/// About how many bytes of a job file are parsed at once.
const PIECE: usize = 64 * 1024;

impl FileJobs<'_> {
    /// Checks the file read in pieces (on `threads`, or as many as suit its size),
    /// adding its jobs to `jobs` and, unless it is the last file, their names to `seen`.
    /// `false`, with `jobs` and `seen` as they were, when a piece or table does not read
    /// alone or a problem is found, a name taken included: then the file must be read
    /// whole, the careful way.
    pub(super) fn check_pieces(
        &mut self,
        threads: Option<usize>,
        seen: &mut Seen,
        jobs: &mut Vec<Job>,
    ) -> bool {
        let Some(mut read) = checked(self, threads) else {
            return false;
        };
        // A name taken by an earlier file or twice in this one: the careful reading
        // tells where. This file's names are looked up without copying them.
        let mut own: ByName<&str, ()> = ByName::default();
        own.reserve(read.len());
        for job in &read {
            let name = job.name.as_str();
            if own.insert(name, ()).is_some() || (!seen.is_empty() && seen.contains_key(name)) {
                return false;
            }
        }
        // Only the files after this one look names up in `seen`.
        if self.index + 1 < self.files.len() {
            seen.reserve(read.len());
            for job in &read {
                seen.insert(job.name.clone(), (self.index, job.source.line));
            }
        }
        // Their names are not kept in `names`: they are the names of these jobs.
        if jobs.is_empty() {
            *jobs = read;
        } else {
            jobs.append(&mut read);
        }
        true
    }
}

/// Where `src` is cut into pieces: offsets of lines starting with `[[job]]`, one about
/// every [`PIECE`] bytes. A cut inside a multi-line string or array leaves a piece that
/// does not parse, and the file is read whole instead.
fn cuts(src: &str) -> Vec<usize> {
    const HEADER: &[u8] = b"\n[[job]]";
    let bytes = src.as_bytes();
    let mut out = vec![0];
    // The first header line at least PIECE bytes past the last cut: only the bytes from
    // there to it are looked at, not the whole file.
    let mut from = PIECE - 1;
    while let Some(rest) = bytes.get(from..) {
        let Some(at) = rest
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .map(|(i, _)| from + i)
            .find(|&at| bytes[at..].starts_with(HEADER))
        else {
            break;
        };
        out.push(at + 1);
        from = at + PIECE;
    }
    out.push(src.len());
    out
}

/// The tables of one piece of a job file (at `offset` in it), each with its span in the
/// file; `None` when the piece holds anything but `[[job]]` tables or does not parse.
pub(super) fn piece_tables(piece: &str, offset: usize) -> Option<Vec<Spanned<DeTable<'_>>>> {
    let mut root = DeTable::parse(piece).ok()?.into_inner();
    let jobs = root.remove("job");
    if !root.is_empty() {
        return None;
    }
    let items: Vec<Spanned<DeValue<'_>>> = match jobs.map(Spanned::into_inner) {
        None => Vec::new(),
        Some(DeValue::Array(a)) => a.into_iter().collect(),
        Some(_) => return None,
    };
    items
        .into_iter()
        .map(|t| {
            let span = t.span();
            match t.into_inner() {
                DeValue::Table(table) => {
                    Some(Spanned::new(span.start + offset..span.end + offset, table))
                }
                _ => None,
            }
        })
        .collect()
}

/// Reads one table of a piece as a job's keys; `None` when it does not read.
pub(super) fn read_table(t: Spanned<DeTable<'_>>) -> Option<Spanned<RawJob>> {
    let span = t.span();
    let table = t.into_inner();
    let de = toml::de::Deserializer::from(Spanned::new(0..0, table));
    RawJob::deserialize(de).ok().map(|r| Spanned::new(span, r))
}

/// How many threads read a file of `pieces` pieces: one for a small file, else as many
/// as there are cores, at most 4.
pub(super) fn threads_for(pieces: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .clamp(1, 4)
        .min(pieces.max(1))
}

/// Every job of `f`'s file with the line of its table, in file order, read in pieces on
/// up to `threads` threads (each a run of pieces); `None` when a piece or table does not
/// read alone or any problem is found: then the file must be read whole, the careful
/// way. Names are compared by the caller, in order.
pub(super) fn checked(f: &FileJobs<'_>, threads: Option<usize>) -> Option<Vec<Job>> {
    let cuts = cuts(f.src);
    let bounds: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let threads = threads.unwrap_or_else(|| threads_for(bounds.len())).max(1);
    let mut runs = bounds.chunks(bounds.len().div_ceil(threads).max(1));
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = runs
            .map(|run| {
                std::thread::Builder::new()
                    .name("checker-jobs".into())
                    .spawn_scoped(scope, move || checked_run(f, run))
                    .map_err(|_| run)
            })
            .collect();
        let mut jobs = checked_run(f, first)?;
        for other in others {
            let more = match other {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: the run is read here.
                Err(run) => checked_run(f, run),
            };
            jobs.append(&mut more?);
        }
        Some(jobs)
    })
}

/// The jobs of a run of pieces, each table expanded over its `targets` and checked;
/// `None` at the first problem.
fn checked_run(f: &FileJobs<'_>, run: &[(usize, usize)]) -> Option<Vec<Job>> {
    let mut problems = Vec::new();
    let mut no_env = EnvSource::default();
    // The lines of this run of pieces only: what its tables and keys are looked up in.
    let from = run.first().map_or(0, |r| r.0);
    let lines = Lines::part(f.src, from, run.last().map_or(from, |r| r.1));
    let mut cx = FileCtx::new(f.file, f.src, &lines, &mut problems, &mut no_env);
    let mut jobs = Vec::new();
    for &(from, to) in run {
        let piece = f.src.get(from..to)?;
        let mark = jobs.len();
        // Table by table as the plain reading gives them; when it declines the piece
        // (not a problem found: that ends it all), what it gave is dropped and the toml
        // crate reads the piece.
        let plain = plain::each_table(piece, from, |at, raw| take(f, &mut cx, &mut jobs, at, raw));
        if plain.is_some() {
            continue;
        }
        if !cx.problems.is_empty() {
            return None;
        }
        jobs.truncate(mark);
        for table in piece_tables(piece, from)? {
            let table = read_table(table)?;
            let at = table.span().start;
            take(f, &mut cx, &mut jobs, at, &mut table.into_inner())?;
        }
    }
    Some(jobs)
}

/// One table of a piece, its header at byte `at` of the file: its jobs (one per target)
/// checked and added to `jobs`; `None` at the first problem.
fn take(
    f: &FileJobs<'_>,
    cx: &mut FileCtx<'_>,
    jobs: &mut Vec<Job>,
    at: usize,
    raw: &mut RawJob,
) -> Option<()> {
    let line = cx.line_at(at.min(f.src.len()));
    if raw.targets.is_none() {
        // Most tables: checked where they are, not moved.
        let job = resolve_job(cx, f.dir, f.defaults, f.channels, raw, line);
        jobs.push(job.filter(|_| cx.problems.is_empty())?);
        return Some(());
    }
    for mut raw in targets::expand(cx, std::mem::take(raw), line) {
        match resolve_job(cx, f.dir, f.defaults, f.channels, &mut raw, line) {
            Some(job) if cx.problems.is_empty() => jobs.push(job),
            _ => return None,
        }
    }
    cx.problems.is_empty().then_some(())
}

#[cfg(test)]
mod tests {
    use crate::config::names::Seen;
    use std::path::{Path, PathBuf};

    use super::PIECE;
    use crate::config::context::{EnvSource, FileCtx};
    use crate::config::defaults::{resolve, Defaults, RawDefaults};
    use crate::config::jobs::tests::folder;
    use crate::config::jobs::FileJobs;
    use crate::config::read::Lines;
    use crate::config::{load_checked, LoadOptions};

    fn defaults() -> Defaults {
        let (mut problems, mut env, lines) = (Vec::new(), EnvSource::default(), Lines::new(""));
        let mut cx = FileCtx::new(Path::new("s"), "", &lines, &mut problems, &mut env);
        resolve(&mut cx, &RawDefaults::default())
    }

    /// The jobs, names and claimed names of `text` read in pieces on `threads` threads,
    /// as text; `None` when the pieces decline.
    fn read_on(text: &str, threads: usize) -> Option<String> {
        let (d, channels) = (defaults(), ["email".to_string()]);
        let files = [PathBuf::from("/jobs/a.toml")];
        let mut f = FileJobs {
            file: &files[0],
            index: 0,
            files: &files,
            src: text,
            dir: Path::new("/jobs"),
            defaults: &d,
            channels: &channels,
            names: Vec::new(),
        };
        let (mut seen, mut jobs) = (Seen::default(), Vec::new());
        if !f.check_pieces(Some(threads), &mut seen, &mut jobs) {
            assert!(
                seen.is_empty() && jobs.is_empty(),
                "{threads} threads leave no trace"
            );
            return None;
        }
        let mut seen: Vec<_> = seen.into_iter().collect();
        seen.sort();
        Some(format!("{jobs:?}\n{:?}\n{seen:?}", f.names))
    }

    /// Jobs of every sort, `targets` and tables the plain reading declines included.
    fn mixed_jobs(n: usize) -> String {
        (0..n)
            .map(|i| match i % 4 {
                0 => format!("[[job]]\nname = \"t{i}\"\nkind = \"tcp\"\nhost = \"h\"\nport = {}\n\n", i % 60000 + 1),
                1 => format!("[[job]]\nname = \"h{i}-{{target}}\"\nkind = \"http\"\nurl = \"http://{{target}}/{i}\"\ntargets = [\"a\", \"b\"]\n\n"),
                2 => format!("[[job]]\nname = \"c{i}\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\n[job.env]\nA = \"{i}\"\n\n"),
                _ => format!("[[job]]\nname = 'f{i}' # a file\nkind = \"file\"\npath = \"/tmp/{i}\"\nmax_age = \"1h\"\nnotify = [\"email\"]\n\n"),
            })
            .collect()
    }

    fn tcp_jobs(n: usize, port: impl Fn(usize) -> u32) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[job]]\nname = \"j{i}\"\nkind = \"tcp\"\nhost = \"h\"\nport = {}\n\n",
                    port(i)
                )
            })
            .collect()
    }

    /// The cuts as they were first found: every header line of the file looked at.
    fn cuts_by_every_header(src: &str) -> Vec<usize> {
        let mut out = vec![0];
        let mut last = 0;
        for (at, _) in src.match_indices("\n[[job]]") {
            if at + 1 - last >= PIECE {
                last = at + 1;
                out.push(last);
            }
        }
        out.push(src.len());
        out
    }

    proptest::proptest! {
        #![proptest_config(crate::config::proptest_config(64))]

        #[test]
        fn a_file_is_cut_where_a_look_at_every_header_line_cuts_it(
            tables in proptest::collection::vec(
                ("[a-z\n\\[\\]é]{0,40}", 0usize..3000, proptest::bool::ANY), 0..120
            )
        ) {
            // Tables of every length about a piece's, some headers not at a line's start.
            let src: String = tables
                .iter()
                .map(|(text, pad, newline)| {
                    format!("{}[[job]]\n{text}{}", if *newline { "\n" } else { " " }, "x".repeat(*pad))
                })
                .collect();
            proptest::prop_assert_eq!(super::cuts(&src), cuts_by_every_header(&src));
        }
    }

    #[test]
    fn a_file_is_cut_at_the_first_header_a_piece_past_the_last_cut() {
        let tcp = tcp_jobs(3000, |_| 1);
        for src in [
            "",
            "[[job]]\n",
            tcp.as_str(),
            &tcp[..PIECE],
            &tcp[..PIECE + 40],
        ] {
            assert_eq!(
                super::cuts(src),
                cuts_by_every_header(src),
                "{} bytes",
                src.len()
            );
        }
        let cuts = super::cuts(&tcp);
        assert!(cuts.len() > 3, "{cuts:?}");
        assert!(cuts[1] >= PIECE && tcp[cuts[1]..].starts_with("[[job]]"));
    }

    #[test]
    fn a_large_file_read_in_pieces_gives_every_job_at_its_line() {
        let text = tcp_jobs(3000, |_| 1);
        assert!(text.len() > 2 * PIECE, "several pieces");
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        assert!(problems.is_empty(), "{problems:?}");
        let jobs = config.expect("loads").jobs;
        assert_eq!(jobs.len(), 3000);
        for (i, j) in jobs.iter().enumerate() {
            assert_eq!(
                (j.name.as_str(), j.source.line),
                (format!("j{i}").as_str(), 6 * i + 1)
            );
        }
    }

    #[test]
    fn a_problem_deep_in_a_large_file_is_told_at_its_line() {
        let text = tcp_jobs(3000, |i| if i == 2500 { 70000 } else { 1 });
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        let told: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            told,
            [(
                6 * 2500 + 5,
                "job \"j2500\": `port` = 70000 is not a TCP port (1-65535)"
            )]
        );
    }

    #[test]
    fn a_job_line_inside_a_multi_line_string_is_text_not_a_place_to_cut() {
        // The description holds `[[job]]` lines past the first piece: cut there, the
        // piece before would end inside the string; the file is read whole instead.
        let lines = "\n[[job]]\nname = \"not a job\"\n".repeat(5000);
        let text = format!(
            "{}[[job]]\nname = \"long\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ndescription = \"\"\"{lines}\"\"\"\n\n{}",
            tcp_jobs(10, |_| 1),
            tcp_jobs(1, |_| 2).replace("j0", "after")
        );
        assert!(text.len() > 2 * PIECE);
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        assert!(problems.is_empty(), "{problems:?}");
        let jobs = config.expect("loads").jobs;
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names.len(), 12, "{:?}", &names[..names.len().min(20)]);
        assert_eq!((names[10], names[11]), ("long", "after"));
        assert_eq!(
            jobs[10].description.as_deref().map(str::len),
            Some(lines.len() - 1)
        );
    }

    #[test]
    fn a_file_read_on_several_threads_gives_what_one_thread_gives_in_file_order() {
        let text = mixed_jobs(5000);
        assert!(text.len() > 4 * PIECE, "several pieces for each thread");
        let one = read_on(&text, 1).expect("reads in pieces");
        assert!(
            one.contains("\"h1-b\"") && one.contains("\"c4998\""),
            "{}",
            &one[..200]
        );
        for threads in [2, 3, 4, 64] {
            assert_eq!(
                read_on(&text, threads).as_deref(),
                Some(one.as_str()),
                "{threads} threads"
            );
        }
    }

    #[test]
    fn a_piece_the_plain_reading_declines_half_way_gives_each_of_its_jobs_once() {
        // The plain reading hands over "a" and "b" before it meets `[job.env]`; the toml
        // crate then reads the piece from its start.
        let text = "[[job]]\nname = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n\n\
            [[job]]\nname = \"b\"\nkind = \"tcp\"\nhost = \"h\"\nport = 2\n\n\
            [[job]]\nname = \"c\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\n\
            [job.env]\nA = \"1\"\n\n\
            [[job]]\nname = \"d\"\nkind = \"tcp\"\nhost = \"h\"\nport = 3\n";
        let read = read_on(text, 1).expect("read in pieces, not the careful way");
        let names: Vec<&str> = read
            .match_indices("name: \"")
            .map(|(at, m)| {
                let rest = &read[at + m.len()..];
                &rest[..rest.find('"').unwrap_or(0)]
            })
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"], "{read}");
        // A table the plain reading gave that has a problem ends the reading in pieces.
        let bad = text.replace("port = 2", "port = 0");
        assert_eq!(read_on(&bad, 1), None);
    }

    #[test]
    fn a_name_taken_in_an_earlier_file_is_told_in_the_later_one_whichever_files_lie_between() {
        let job = |name: &str| {
            format!("[[job]]\nname = \"{name}\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n")
        };
        let (a, b) = (job("x"), format!("{}{}", job("y"), job("z")));
        let (c, d) = (job("w"), format!("{}{}", job("v"), job("x")));
        let (_dir, settings) = folder(&[
            ("a.toml", &a),
            ("b.toml", &b),
            ("c.toml", &c),
            ("d.toml", &d),
        ]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        let told: Vec<String> = problems
            .iter()
            .map(|p| {
                format!(
                    "{}:{}: {}",
                    p.file.file_name().unwrap().to_string_lossy(),
                    p.line,
                    p.message
                )
            })
            .collect();
        let a_file = settings.with_file_name("jobs/a.toml");
        assert_eq!(
            told,
            [format!(
                "d.toml:6: duplicate job name \"x\": already defined at {}:1; job names must be unique",
                a_file.display()
            )]
        );
        let names: Vec<String> = config
            .expect("loads")
            .jobs
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["x", "y", "z", "w", "v"]);
    }

    #[test]
    fn a_name_taken_in_another_threads_pieces_sends_the_file_to_the_careful_reading() {
        // j5 is in the first thread's pieces, its duplicate in the last one's.
        let text = tcp_jobs(3000, |_| 1).replace("\"j2900\"", "\"j5\"");
        for threads in [1, 2, 4] {
            assert_eq!(read_on(&text, threads), None, "{threads} threads");
        }
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        let told: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].0, 6 * 2900 + 1);
        assert!(
            told[0]
                .1
                .starts_with("duplicate job name \"j5\": already defined at "),
            "{told:?}"
        );
        let jobs = config.expect("loads").jobs;
        assert_eq!(jobs.len(), 2999, "the duplicate is left out");
    }

    #[test]
    fn problems_in_several_pieces_are_told_in_file_order_whatever_the_threads() {
        let bad = [3, 700, 1500, 2999];
        let text = tcp_jobs(3000, |i| if bad.contains(&i) { 70000 } else { 1 });
        for threads in [1, 2, 4] {
            assert_eq!(read_on(&text, threads), None, "{threads} threads");
        }
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        let told: Vec<(usize, String)> =
            problems.into_iter().map(|p| (p.line, p.message)).collect();
        let expected: Vec<(usize, String)> = bad
            .iter()
            .map(|i| {
                (
                    6 * i + 5,
                    format!("job \"j{i}\": `port` = 70000 is not a TCP port (1-65535)"),
                )
            })
            .collect();
        assert_eq!(told, expected);
    }
}
