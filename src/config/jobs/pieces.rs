//! Reading a good job file in pieces: a large file is cut before `[[job]]` lines into
//! pieces of about 64 KB, each parsed when reached and each table read, checked and
//! dropped in turn, so the memory a file takes stays that of one piece. A file with any
//! problem is read whole instead (`parse_toml`), which tells each at its line.

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::raw::RawJob;

/// The `[[job]]` tables of one file, as checking takes them.
pub(super) enum Tables<'s> {
    /// A file read in pieces of about [`PIECE`] bytes, each cut before a `[[job]]` line,
    /// parsed when reached; each table read, checked and dropped in turn. The parser keeps
    /// some 14 bytes of tokens per byte of text, so a 1 MB file of 10,000 jobs read whole
    /// would take 14 MB for its tokens and 20 MB for its raw tables at once. Only a file
    /// without any problem is taken this way (the spans inside a piece count from its
    /// start, so a problem's line would be wrong): at the first problem, or anything a
    /// piece cannot tell alone, the file is read again whole, the careful way.
    Pieces(&'s str),
    /// A file read whole, as parsing recovered it: the offsets of the keys set aside.
    Recovered(Vec<Spanned<RawJob>>, Vec<usize>),
}

/// About how many bytes of a job file are parsed at once.
const PIECE: usize = 64 * 1024;

/// Where `src` is cut into pieces: offsets of lines starting with `[[job]]`, one about
/// every [`PIECE`] bytes. A cut inside a multi-line string or array leaves a piece that
/// does not parse, and the file is read whole instead.
fn cuts(src: &str) -> Vec<usize> {
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

/// The tables of one piece of a job file (at `offset` in it), each with its span in the
/// file; `None` when the piece holds anything but `[[job]]` tables or does not parse.
fn piece_tables(piece: &str, offset: usize) -> Option<Vec<Spanned<DeTable<'_>>>> {
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
fn read_table(t: Spanned<DeTable<'_>>) -> Option<Spanned<RawJob>> {
    let span = t.span();
    let table = t.into_inner();
    let de = toml::de::Deserializer::from(Spanned::new(0..0, table));
    RawJob::deserialize(de).ok().map(|r| Spanned::new(span, r))
}

/// The tables of `src` piece by piece, each piece parsed when the one before is used up;
/// a `None` item when a piece or a table cannot be read alone.
pub(super) fn pieces(src: &str) -> impl Iterator<Item = Option<Spanned<RawJob>>> + '_ {
    let cuts = cuts(src);
    let bounds: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    bounds.into_iter().flat_map(move |(from, to)| {
        let tables: Box<dyn Iterator<Item = Option<Spanned<RawJob>>>> = match src
            .get(from..to)
            .and_then(|piece| piece_tables(piece, from))
        {
            Some(tables) => Box::new(tables.into_iter().map(read_table)),
            None => Box::new(std::iter::once(None)),
        };
        tables
    })
}

#[cfg(test)]
mod tests {
    use super::PIECE;
    use crate::config::jobs::tests::folder;
    use crate::config::{load_checked, LoadOptions};

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
}
