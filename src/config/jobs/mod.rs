//! The job files: every `*.toml` in `jobs_dir`, each `[[job]]` table expanded over its
//! `targets`, its common keys checked here (schedule, rules, channels, timeout) and its
//! kind's keys in the kind's own file.

mod command;
mod confirm;
mod dns;
mod file;
mod http;
mod passive;
mod pieces;
mod plain;
pub(super) mod raw;
mod targets;
mod tcp;
mod tls_cert;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::names::Seen;
use raw::{kind_keys, value, JobCx, RawJob, KIND_KEYS};
use toml::Spanned;

use super::context::{nearest, quoted, EnvSource, FileCtx};
use super::defaults::Defaults;
use super::files::{RawJobFile, JOB_FILE};
use super::job::{Job, JobKind};
use super::parse::parse_toml;
use super::problem::{Problem, SourceLoc};
use super::read::{read_text, Lines, MAX_CONFIG_BYTES};
use super::when::{every_hint, NotifyEvery, FREQUENCIES, NOTIFY_EVERY};
use crate::schedule::{Schedule, Tick};

/// Where `jobs_dir` was set, for problems with the folder itself.
pub(super) struct JobsDirKey<'a> {
    pub(super) settings: &'a Path,
    pub(super) line: usize,
}

/// What the job files hold.
pub(super) struct JobFiles {
    /// The jobs that were checked without a problem. A file with problems may still
    /// have some: loading leaves them out, `validate` counts them.
    pub(super) jobs: Vec<Job>,
    /// What is allowed but probably not meant: an empty folder.
    pub(super) warnings: Vec<Problem>,
    /// The name of every table of the files read the careful way (those of a file with
    /// a problem), whether it loaded or not; the other files' names are their jobs'.
    pub(super) names: Vec<String>,
}

/// Reads every job file of `dir`; `channels` are the names jobs may list in `notify`.
pub(super) fn load(
    dir: &Path,
    defaults: &Defaults,
    channels: &[String],
    key: JobsDirKey<'_>,
    problems: &mut Vec<Problem>,
) -> JobFiles {
    let mut out = JobFiles {
        jobs: Vec::new(),
        warnings: Vec::new(),
        names: Vec::new(),
    };
    let folder_problem = |message: String| Problem {
        file: key.settings.to_path_buf(),
        line: key.line,
        message,
    };
    let files = match job_files(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(folder_problem(format!(
                "the jobs folder {} does not exist: create it (it may stay empty), or point `jobs_dir` in [general] at the folder of your job files",
                dir.display()
            )));
            return out;
        }
        Err(e) => {
            problems.push(folder_problem(format!(
                "cannot read the jobs folder {}: {e}",
                dir.display()
            )));
            return out;
        }
    };
    if files.is_empty() {
        out.warnings.push(folder_problem(format!(
            "the jobs folder {} holds no *.toml job files: no jobs are checked",
            dir.display()
        )));
    }
    let mut seen = Seen::default();
    for (index, file) in files.iter().enumerate() {
        let src = match read_text(file, MAX_CONFIG_BYTES) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem {
                    file: file.clone(),
                    line: 0,
                    message: format!("cannot read job file: {e}"),
                });
                continue;
            }
        };
        let mut f = FileJobs {
            file,
            index,
            files: &files,
            src: &src,
            dir,
            defaults,
            channels,
            names: Vec::new(),
        };
        let mark = out.jobs.len();
        if f.check_pieces(None, &mut seen, &mut out.jobs) {
            continue;
        }
        // A problem, or a piece that cannot be read alone: the file again, whole, the
        // careful way that reports every problem at its line.
        out.jobs.truncate(mark);
        let lines = Lines::new(&src);
        let Some((parsed, set_aside)) =
            parse_toml::<RawJobFile>(file, &src, &lines, &JOB_FILE, problems)
        else {
            continue;
        };
        f.check(
            &lines,
            parsed.job,
            &set_aside,
            &mut seen,
            &mut out.jobs,
            problems,
        );
        out.names.append(&mut f.names);
    }
    out
}

/// One job file's checking: what every table of it needs.
struct FileJobs<'a> {
    file: &'a Path,
    /// Where `file` is in `files`, every job file.
    index: usize,
    files: &'a [PathBuf],
    src: &'a str,
    dir: &'a Path,
    defaults: &'a Defaults,
    channels: &'a [String],
    /// Every job name its tables give, good or not (for `depends_on`), when it is read
    /// the careful way; read in pieces, its names are its jobs'.
    names: Vec<String>,
}

impl FileJobs<'_> {
    /// Checks every table of the file read whole (with its `lines`; `set_aside`: the
    /// offsets of the keys parsing set aside, sorted), adding the good jobs to `jobs` and every problem to
    /// `problems`.
    fn check(
        &mut self,
        lines: &Lines,
        tables: Vec<Spanned<RawJob>>,
        set_aside: &[usize],
        seen: &mut Seen,
        jobs: &mut Vec<Job>,
        problems: &mut Vec<Problem>,
    ) {
        let starts: Vec<usize> = tables.iter().map(|j| j.span().start).collect();
        let mut no_env = EnvSource::default();
        let mut cx = FileCtx::new(self.file, self.src, lines, problems, &mut no_env);
        for (i, raw) in tables.into_iter().enumerate() {
            let offset = raw.span().start.min(self.src.len());
            let line = lines.line(offset);
            let end = starts.get(i + 1).copied().unwrap_or(usize::MAX);
            // The first offset set aside at or after this table's start.
            let lost_key = set_aside
                .get(set_aside.partition_point(|&o| o < offset))
                .is_some_and(|&o| o < end);
            // `targets` first: every job it makes is then checked like a table of its own.
            for mut raw in targets::expand(&mut cx, raw.into_inner(), line) {
                // Names are claimed before the job is checked, so a duplicate is reported
                // even when either table has problems of its own.
                let name = value(&raw.name).filter(|n| !n.trim().is_empty());
                self.names.extend(name.clone());
                let duplicate_of = name.as_ref().and_then(|n| seen.get(n)).map(|&(i, line)| {
                    let file = self.files.get(i).cloned().unwrap_or_default();
                    SourceLoc { file, line }
                });
                match (&duplicate_of, name) {
                    (Some(first), Some(name)) => cx.at_line(
                        line,
                        format!("duplicate job name {name:?}: already defined at {first}; job names must be unique"),
                    ),
                    (None, Some(name)) => {
                        seen.insert(name, (self.index, line));
                    }
                    _ => {}
                }
                // A job that lost a bad key has been reported; the rest of it is checked
                // too (every problem in one round), without "needs `url`" after
                // "unknown key `urll`". It is not loaded: its file has a problem.
                cx.quiet_missing = lost_key;
                let job = resolve_job(
                    &mut cx,
                    self.dir,
                    self.defaults,
                    self.channels,
                    &mut raw,
                    line,
                );
                cx.quiet_missing = false;
                if let (Some(job), None, false) = (job, duplicate_of, lost_key) {
                    jobs.push(job);
                }
            }
        }
    }
}

/// The `*.toml` files in `jobs_dir`, sorted by name so loading order (and `list`) is
/// stable. Anything else in the folder is ignored.
fn job_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// One `[[job]]` table (after `targets`) into a job; `None` when it has a problem, every
/// problem of the table reported. What the job keeps is taken out of `r`.
fn resolve_job(
    cx: &mut FileCtx<'_>,
    jobs_dir: &Path,
    d: &Defaults,
    channels: &[String],
    r: &mut RawJob,
    line: usize,
) -> Option<Job> {
    // Taken, not cloned: nothing reads `r.name` after this.
    let name = r.name.take().map(Spanned::into_inner);
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        cx.missing(
            line,
            "[[job]] has no `name`: give each job a unique name, e.g. name = \"shop front page\"",
        );
        return None;
    };
    // For messages only.
    let kinds = || -> Vec<&str> { KIND_KEYS.iter().map(|(k, _)| *k).collect() };
    let Some(kind_at) = &r.kind else {
        cx.missing(
            line,
            format!(
                "job {name:?} has no `kind`: use one of {}",
                quoted(&kinds())
            ),
        );
        return None;
    };
    let kind = kind_at.get_ref().as_str();
    let Some(own_keys) = kind_keys(kind) else {
        let kinds = kinds();
        let hint = nearest(kind, &kinds)
            .map(|k| format!("; did you mean \"{k}\"?"))
            .unwrap_or_default();
        cx.at(
            kind_at.span().start,
            format!(
                "job {name:?}: unknown kind {kind:?}{hint} (kinds: {})",
                quoted(&kinds)
            ),
        );
        return None;
    };
    let before = cx.problems.len();
    r.kind_keys_set(|key, offset| {
        if !own_keys.contains(&key) {
            let owner = KIND_KEYS
                .iter()
                .find(|(_, ks)| ks.contains(&key))
                .map(|(k, _)| *k)
                .unwrap_or("?");
            cx.at(
                offset,
                format!("job {name:?}: `{key}` belongs to kind \"{owner}\", not \"{kind}\": remove it or change `kind`"),
            );
        }
    });
    let mut k = JobCx {
        cx,
        name: &name,
        line,
        jobs_dir,
    };

    let mut schedule = d.schedule;
    if let Some(f) = &r.frequency {
        match Tick::parse(f.get_ref()) {
            Some(f) => schedule = Schedule::Tick(f),
            None => k.at(
                f,
                format!(
                    "job {name:?}: `frequency` = {:?} is not valid: use one of {}{}",
                    f.get_ref(),
                    quoted(FREQUENCIES),
                    every_hint(f.get_ref())
                ),
            ),
        }
    }
    if let (Some(e), Some(_)) = (&r.every, &r.frequency) {
        k.at(
            e,
            format!("job {name:?} sets both `frequency` and `every`: keep one"),
        );
    }
    if let Some(e) = k.duration("every", &r.every) {
        if let Some(at) = r.every.as_ref().filter(|_| e < Duration::from_secs(1)) {
            k.at(at, format!("job {name:?}: `every` must be at least 1s"));
        }
        schedule = Schedule::Every(e);
    }
    let mut rules = d.rules.clone();
    if r.notify_every.is_none() && kind == "tls_cert" {
        // A certificate near its expiry stays so for days: a reminder a day, not one per
        // check, whatever `[defaults]` says (a job may still set its own).
        rules.notify_every = NotifyEvery::Day;
    }
    if let Some(n) = &r.notify_every {
        match NotifyEvery::parse(n.get_ref()) {
            Some(n) => rules.notify_every = n,
            None => k.at(
                n,
                format!(
                    "job {name:?}: `notify_every` = {:?} is not valid: use one of {}",
                    n.get_ref(),
                    quoted(NOTIFY_EVERY)
                ),
            ),
        }
    }
    if let Some(m) = &r.failures_before_notify {
        if *m.get_ref() < 1 {
            k.at(
                m,
                format!("job {name:?}: `failures_before_notify` must be 1 or more"),
            );
        } else {
            rules.failures_before_notify = (*m.get_ref()).min(u32::MAX as i64) as u32;
        }
    }
    if r.failing_for.is_some() {
        rules.failing_for = k.duration("failing_for", &r.failing_for);
    }
    if let Some(nr) = value(&r.notify_recovery) {
        rules.notify_recovery = nr;
    }
    let timeout = k.duration("timeout", &r.timeout).unwrap_or(d.timeout);
    if timeout.is_zero() {
        // Zero from `[defaults]` too: then at the table.
        k.at_key(
            r.timeout.as_ref(),
            format!("job {name:?}: `timeout` must be more than 0s"),
        );
    }
    let retries = match &r.retries {
        Some(n) if !(0..=100).contains(n.get_ref()) => {
            k.at(n, format!("job {name:?}: `retries` must be from 0 to 100"));
            0
        }
        Some(n) => *n.get_ref() as u32,
        None => d.retries,
    };
    let retry_backoff = k
        .duration("retry_backoff", &r.retry_backoff)
        .unwrap_or(d.retry_backoff);

    let confirm = confirm::resolve(&mut k, r, kind);
    let kind = match kind {
        "http" => JobKind::Http(Box::new(http::resolve(&mut k, r))),
        "tcp" => JobKind::Tcp(tcp::resolve(&mut k, r)),
        "tls_cert" => JobKind::TlsCert(tls_cert::resolve(&mut k, r)),
        "file" => JobKind::File(file::resolve(&mut k, r)),
        "dns" => JobKind::Dns(dns::resolve(&mut k, r)),
        "passive" => JobKind::Passive(passive::resolve(&mut k, r)),
        _ => JobKind::Command(command::resolve(&mut k, r)),
    };
    // Here rather than after loading, so a job with other problems has this one reported too.
    if let Some(notify) = &r.notify {
        for ch in notify.get_ref().iter().filter(|c| !channels.contains(c)) {
            let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
            let hint = nearest(ch, &refs)
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            k.at(
                notify,
                format!(
                    "job {name:?}: unknown channel {ch:?} in `notify`{hint} (channels: {})",
                    channels.join(", ")
                ),
            );
        }
    }
    let group = match &r.group {
        Some(g) if g.get_ref().trim().is_empty() => {
            k.at(g, format!("job {name:?}: `group` is empty: name what the job belongs to, e.g. group = \"shop\", or leave the key out"));
            None
        }
        Some(g) => Some(g.get_ref().trim().to_string()),
        None => None,
    };
    let mut depends_on: Vec<String> = Vec::new();
    if let Some(parents) = &r.depends_on {
        for p in parents.get_ref() {
            if p.trim().is_empty() {
                k.at(
                    parents,
                    format!("job {name:?}: `depends_on` holds an empty name"),
                );
            } else if !depends_on.contains(p) {
                depends_on.push(p.clone());
            }
        }
    }
    if k.cx.problems.len() > before {
        return None;
    }
    let file = k.cx.path.to_path_buf();
    Some(Job {
        name,
        kind,
        schedule,
        rules,
        notify: r
            .notify
            .take()
            .map_or_else(|| d.notify.clone(), Spanned::into_inner),
        contact: r
            .contact
            .take()
            .map(Spanned::into_inner)
            .map(|c| c.into_vec())
            .or_else(|| d.contact.clone()),
        timeout,
        retries,
        retry_backoff,
        enabled: value(&r.enabled).unwrap_or(true),
        description: r.description.take().map(Spanned::into_inner),
        group,
        depends_on,
        public: value(&r.public),
        source: SourceLoc { file, line },
        confirm,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use crate::config::load_checked;
    use crate::config::LoadOptions;

    /// The problems of one job file, as `file:line: message` without the folder.
    fn problems(jobs: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(&settings, "[general]\nalertcontact = \"a@b.c\"\n").expect("settings");
        std::fs::write(dir.path().join("jobs/a.toml"), jobs).expect("job file");
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect()
    }

    #[test]
    fn a_problem_names_the_line_its_key_was_written_on_sub_tables_too() {
        let jobs = "[[job]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = 70000\n\n\
                    [job.headers]\nA = \"b\"\n\n\
                    [[job]]\nname = \"y\"\nkind = \"http\"\nurl = \"http://example.com/\"\n\
                    timeout = \"0s\"\n[job.json]\n\"status\" = 1\n";
        assert_eq!(
            problems(jobs),
            [
                "5: job \"x\": `port` = 70000 is not a TCP port (1-65535)",
                "7: job \"x\": `headers` belongs to kind \"http\", not \"tcp\": remove it or change `kind`",
                "14: job \"y\": `timeout` must be more than 0s",
                "15: job \"y\": `json` key \"status\" is not a JSON pointer: start it with /, e.g. \"/status\" or \"/items/0/name\"",
            ]
        );
    }

    #[test]
    fn a_zero_timeout_from_defaults_is_reported_at_each_job_that_takes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            "[general]\nalertcontact = \"a@b.c\"\n[defaults]\ntimeout = \"0s\"\n",
        )
        .expect("settings");
        std::fs::write(
            dir.path().join("jobs/a.toml"),
            "[[job]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n",
        )
        .expect("job file");
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        let lines: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(lines, [(1, "job \"x\": `timeout` must be more than 0s")]);
    }

    pub(super) fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(&settings, "[general]\nalertcontact = \"a@b.c\"\n").expect("settings");
        for (name, text) in files {
            std::fs::write(dir.path().join("jobs").join(name), text).expect("job file");
        }
        (dir, settings)
    }

    #[test]
    fn jobs_read_table_by_table_keep_the_line_of_their_table_and_their_order() {
        let tcp = |name: &str| {
            format!("[[job]]\nname = \"{name}\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n\n")
        };
        let text = format!(
            "# web\n{}{}[[job]]\nname = \"t-{{target}}\"\nkind = \"tcp\"\nhost = \"{{target}}\"\nport = 2\ntargets = [\"a\", \"b\"]\n",
            tcp("one"),
            tcp("two")
        );
        let (_dir, settings) = folder(&[("a.toml", &text)]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        assert!(problems.is_empty(), "{problems:?}");
        let jobs: Vec<(String, usize)> = config
            .expect("loads")
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.source.line))
            .collect();
        let expected = [("one", 2), ("two", 8), ("t-a", 14), ("t-b", 14)];
        assert_eq!(jobs, expected.map(|(n, l)| (n.to_string(), l)));
    }

    #[test]
    fn a_file_read_again_the_careful_way_tells_each_problem_once() {
        // b.toml's second table has a key of the wrong type: the file is read table by
        // table, then again the careful way; what the first reading found is told once.
        let (_dir, settings) = folder(&[
            ("a.toml", "[[job]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n"),
            (
                "b.toml",
                "[[job]]\nname = \"x\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n\n\
                 [[job]]\nname = \"y\"\nkind = \"tcp\"\nhost = \"h\"\nport = 70000\nretries = \"two\"\n",
            ),
        ]);
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        let told: Vec<String> = problems
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p.file.file_name().unwrap().to_string_lossy(),
                    p.line
                )
            })
            .collect();
        assert_eq!(told, ["b.toml:1", "b.toml:11", "b.toml:12"], "{problems:?}");
        assert!(problems[0].message.starts_with("duplicate job name \"x\""));
        let names: Vec<String> = config
            .expect("loads")
            .jobs
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["x"], "b.toml adds nothing: its jobs are not loaded");
    }
}
