//! `depends_on` across every job file and the peers: each name must be a job, and no job
//! may depend on itself through others. A problem is reported at the job that names the
//! parent (for a cycle: at the cycle's first job in loading order, with its path).

use std::collections::{HashMap, HashSet};

use super::context::nearest;
use super::job::Job;
use super::problem::Problem;

/// `names`: every job name (those of tables with problems of their own too), sorted.
pub(super) fn check(jobs: &[Job], names: &[&str], problems: &mut Vec<Problem>) {
    for job in jobs {
        for parent in &job.depends_on {
            if names.binary_search(&parent.as_str()).is_ok() {
                continue;
            }
            let hint = nearest(parent, names)
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_default();
            problems.push(Problem {
                file: job.source.file.clone(),
                line: job.source.line,
                message: format!(
                    "job {:?}: `depends_on` names {parent:?}, which is not a job{hint} (a peer's job is \"peer NAME\")",
                    job.name
                ),
            });
        }
    }
    for cycle in cycles(jobs) {
        let first = &jobs[cycle[0]];
        let mut path: Vec<&str> = cycle.iter().map(|&i| jobs[i].name.as_str()).collect();
        path.push(&first.name);
        problems.push(Problem {
            file: first.source.file.clone(),
            line: first.source.line,
            message: format!(
                "job {:?}: `depends_on` makes a cycle: {}; a job cannot wait for itself, so remove one of these",
                first.name,
                path.join(" -> ")
            ),
        });
    }
}

/// Each cycle once, as indexes into `jobs`, starting at its job that comes first.
fn cycles(jobs: &[Job]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = jobs
        .iter()
        .map(|j| {
            j.depends_on
                .iter()
                .filter_map(|p| index.get(p.as_str()).copied())
                .collect()
        })
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; jobs.len()];
    let mut found: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    // Depth first without recursion: a long chain of jobs cannot exhaust the stack.
    for start in 0..jobs.len() {
        if mark[start] != Mark::New {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&child) = edges[node].get(*next) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[child] {
                Mark::New => {
                    mark[child] = Mark::OnPath;
                    path.push((child, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if seen.insert(key) {
                        let lowest = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, n)| **n)
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(lowest);
                        found.push(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use crate::config::{load_checked, LoadOptions};

    fn problems(jobs: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            "[general]\nalertcontact = \"a@b.c\"\n[[peers]]\nname = \"backup\"\nurl = \"http://127.0.0.1:9/\"\n",
        )
        .expect("settings");
        std::fs::write(dir.path().join("jobs/a.toml"), jobs).expect("job file");
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect()
    }

    fn job(name: &str, parents: &[&str]) -> String {
        let list: Vec<String> = parents.iter().map(|p| format!("{p:?}")).collect();
        format!(
            "[[job]]\nname = \"{name}\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ndepends_on = [{}]\n",
            list.join(", ")
        )
    }

    #[test]
    fn a_cycle_is_reported_once_with_its_path_at_its_first_job() {
        let jobs = [
            job("a", &["b"]),
            job("b", &["c"]),
            job("c", &["a"]),
            job("d", &["d"]),
            job("e", &["a", "peer backup"]),
        ]
        .concat();
        assert_eq!(
            problems(&jobs),
            [
                "1: job \"a\": `depends_on` makes a cycle: a -> b -> c -> a; a job cannot wait for itself, so remove one of these",
                "19: job \"d\": `depends_on` makes a cycle: d -> d; a job cannot wait for itself, so remove one of these",
            ]
        );
    }

    #[test]
    fn an_unknown_parent_is_named_with_a_hint_and_a_peer_or_a_broken_table_is_known() {
        let jobs = [
            job("web", &["internet lnk", "backup"]),
            job("api", &["web", "peer backup", "broken"]),
            "[[job]]\nname = \"broken\"\nkind = \"tcp\"\nhost = \"h\"\nport = 70000\n".into(),
            job("internet link", &[]),
        ]
        .concat();
        assert_eq!(
            problems(&jobs),
            [
                "1: job \"web\": `depends_on` names \"internet lnk\", which is not a job; did you mean \"internet link\"? (a peer's job is \"peer NAME\")",
                "1: job \"web\": `depends_on` names \"backup\", which is not a job; did you mean \"peer backup\"? (a peer's job is \"peer NAME\")",
                "17: job \"broken\": `port` = 70000 is not a TCP port (1-65535)",
            ]
        );
    }

    #[test]
    fn a_long_chain_is_no_cycle_and_does_not_exhaust_the_stack() {
        let mut jobs = String::new();
        for i in 0..3000 {
            let parents: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("j{}", i - 1)]
            };
            let refs: Vec<&str> = parents.iter().map(String::as_str).collect();
            jobs.push_str(&job(&format!("j{i}"), &refs));
        }
        assert_eq!(problems(&jobs), Vec::<String>::new());
    }
}
