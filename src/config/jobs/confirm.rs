//! `confirm_with`, `confirm_min`, `confirm_job` and `confirm_unknown` (SPEC §12), keys
//! every kind that runs a check takes: what can be checked within the job's own table.
//! Whether each name is a configured peer is checked once the peers are read
//! (`config::load`).

use super::raw::{value, JobCx, RawJob};
use crate::config::context::quoted;
use crate::config::job::{Confirm, UnknownCounts};

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob, kind: &str) -> Option<Confirm> {
    let name = k.name;
    let Some(with_at) = &r.confirm_with else {
        let only_with = |key: &str| {
            format!("job {name:?}: `{key}` applies with `confirm_with` only: add `confirm_with = [\"peer name\", ...]` or remove it")
        };
        if let Some(v) = &r.confirm_min {
            k.at(v, only_with("confirm_min"));
        }
        if let Some(v) = &r.confirm_job {
            k.at(v, only_with("confirm_job"));
        }
        if let Some(v) = &r.confirm_unknown {
            k.at(v, only_with("confirm_unknown"));
        }
        return None;
    };
    let line = k.cx.line_of(with_at);
    if kind == "passive" {
        k.at(
            with_at,
            format!("job {name:?}: `confirm_with` needs a check this instance runs; a passive job's results are pushed to it alone"),
        );
    }
    let mut with: Vec<String> = Vec::new();
    for peer in with_at.get_ref() {
        let peer = peer.trim();
        if peer.is_empty() {
            k.at(
                with_at,
                format!("job {name:?}: `confirm_with` has an empty name: list `[[peers]]` names"),
            );
        } else if with.iter().any(|w| w == peer) {
            k.at(
                with_at,
                format!("job {name:?}: `confirm_with` names peer {peer:?} twice"),
            );
        } else {
            with.push(peer.to_string());
        }
    }
    if with_at.get_ref().is_empty() {
        k.at(
            with_at,
            format!("job {name:?}: `confirm_with` is empty: name the peers that must confirm a failure, or remove it"),
        );
    }
    let places = with.len().saturating_add(1);
    let min = match &r.confirm_min {
        None => Confirm::majority(places),
        Some(m) => {
            let n = *m.get_ref();
            if n < 1 {
                k.at(m, format!("job {name:?}: `confirm_min` must be 1 or more"));
                1
            } else if usize::try_from(n).ok().is_none_or(|n| n > places) {
                k.at(
                    m,
                    format!(
                        "job {name:?}: `confirm_min` = {n} is more than the {places} places that can see a failure (this instance and {} peer(s) in `confirm_with`)",
                        with.len()
                    ),
                );
                1
            } else {
                u32::try_from(n).unwrap_or(u32::MAX)
            }
        }
    };
    let unknown = match &r.confirm_unknown {
        None => UnknownCounts::NotConfirming,
        Some(u) => UnknownCounts::parse(u.get_ref().trim()).unwrap_or_else(|| {
            k.at(
                u,
                format!(
                    "job {name:?}: `confirm_unknown` = {:?} is not valid: use one of {}",
                    u.get_ref(),
                    quoted(UnknownCounts::NAMES)
                ),
            );
            UnknownCounts::NotConfirming
        }),
    };
    let job = value(&r.confirm_job).map(|j| j.trim().to_string());
    if let (Some(at), Some("")) = (&r.confirm_job, job.as_deref()) {
        k.at(
            at,
            format!("job {name:?}: `confirm_job` is empty: give the job's name on the peers, or remove it"),
        );
    }
    Some(Confirm {
        with,
        min,
        job,
        unknown,
        line,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::job::{Confirm, UnknownCounts};
    use crate::config::peers::{jobs_command_from, jobs_url_beside};
    use crate::config::{load_checked, JobKind, LoadOptions, PeerTarget};

    const SETTINGS: &str = "[general]\nalertcontact = \"a@b.c\"\n\n\
        [[peers]]\nname = \"paris\"\nurl = \"http://paris.example.com:5000/\"\n\n\
        [[peers]]\nname = \"tokyo\"\ncommand = [\"ssh\", \"tokyo\", \"checker\", \"peer-status\"]\n\n\
        [[peers]]\nname = \"old\"\ncommand = [\"ssh\", \"old\", \"status\"]\n";

    /// The configuration (when it loads) and the problems of one job file, as
    /// `line: message`.
    fn load(jobs: &str) -> (Option<crate::config::Config>, Vec<String>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(&settings, SETTINGS).expect("settings");
        std::fs::write(dir.path().join("jobs/a.toml"), jobs).expect("job file");
        let (config, problems) = load_checked(&settings, LoadOptions::default());
        let problems = problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect();
        (config, problems)
    }

    const JOB: &str = "[[job]]\nname = \"shop\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n";

    #[test]
    fn confirm_min_defaults_to_a_majority_of_this_instance_and_the_peers() {
        let (config, problems) = load(&format!("{JOB}confirm_with = [\"paris\", \"tokyo\"]\n"));
        assert_eq!(problems, Vec::<String>::new());
        let config = config.unwrap();
        let c = config.job("shop").unwrap().confirm.clone().unwrap();
        assert_eq!(
            c,
            Confirm {
                with: vec!["paris".into(), "tokyo".into()],
                min: 2,
                job: None,
                unknown: UnknownCounts::NotConfirming,
                line: 6,
            }
        );
        assert_eq!(
            [1, 2, 3, 4, 5].map(Confirm::majority),
            [1, 2, 2, 3, 3],
            "of 1, 2, 3, 4, 5 places"
        );
        let (config, problems) = load(&format!(
            "{JOB}confirm_with = [\"paris\"]\nconfirm_min = 1\nconfirm_job = \"shop front\"\nconfirm_unknown = \"failing\"\n"
        ));
        assert_eq!(problems, Vec::<String>::new());
        let c = config
            .unwrap()
            .job("shop")
            .unwrap()
            .confirm
            .clone()
            .unwrap();
        assert_eq!(
            (c.min, c.job.as_deref(), c.unknown),
            (1, Some("shop front"), UnknownCounts::Failing)
        );
        // A job without the keys has no confirmation.
        let (config, _) = load(JOB);
        assert_eq!(config.unwrap().job("shop").unwrap().confirm, None);
    }

    #[test]
    fn validate_rejects_an_unknown_peer_and_a_confirm_min_larger_than_the_places() {
        let cases: &[(&str, &str)] = &[
            (
                "confirm_with = [\"pariss\"]\n",
                "6: job \"shop\": unknown peer \"pariss\" in `confirm_with`; did you mean \"paris\"? (peers: paris, tokyo, old)",
            ),
            (
                "confirm_with = [\"paris\", \"tokyo\"]\nconfirm_min = 4\n",
                "7: job \"shop\": `confirm_min` = 4 is more than the 3 places that can see a failure (this instance and 2 peer(s) in `confirm_with`)",
            ),
            (
                "confirm_with = [\"paris\"]\nconfirm_min = 0\n",
                "7: job \"shop\": `confirm_min` must be 1 or more",
            ),
            (
                "confirm_with = [\"paris\"]\nconfirm_unknown = \"maybe\"\n",
                "7: job \"shop\": `confirm_unknown` = \"maybe\" is not valid: use one of \"not_confirming\", \"failing\"",
            ),
            (
                "confirm_with = []\n",
                "6: job \"shop\": `confirm_with` is empty: name the peers that must confirm a failure, or remove it",
            ),
            (
                "confirm_with = [\"paris\", \"paris\"]\n",
                "6: job \"shop\": `confirm_with` names peer \"paris\" twice",
            ),
            (
                "confirm_min = 2\n",
                "6: job \"shop\": `confirm_min` applies with `confirm_with` only: add `confirm_with = [\"peer name\", ...]` or remove it",
            ),
            (
                "confirm_with = [\"old\"]\n",
                "6: job \"shop\": peer \"old\" in `confirm_with` is asked by a `command` that does not end in `peer-status`: give the peer `jobs_command`, the command that prints its `checker jobs-json`",
            ),
        ];
        for (keys, problem) in cases {
            let (config, problems) = load(&format!("{JOB}{keys}"));
            assert_eq!(problems, vec![problem.to_string()], "{keys}");
            // The job file is left out; the settings still load.
            assert!(config.is_some());
        }
        let (_, problems) =
            load("[[job]]\nname = \"backup\"\nkind = \"passive\"\nconfirm_with = [\"paris\"]\n");
        assert_eq!(
            problems,
            ["4: job \"backup\": `confirm_with` needs a check this instance runs; a passive job's results are pushed to it alone"]
        );
    }

    #[test]
    fn jobs_url_and_jobs_command_go_with_their_kind_of_peer() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            "[general]\nalertcontact = \"a@b.c\"\n\n\
             [[peers]]\nname = \"u\"\nurl = \"http://u/\"\njobs_command = [\"x\"]\n\n\
             [[peers]]\nname = \"c\"\ncommand = [\"ssh\", \"c\", \"status\"]\njobs_url = \"http://c/jobs.json\"\n\n\
             [[peers]]\nname = \"ok\"\ncommand = [\"ssh\", \"ok\", \"status\"]\njobs_command = [\"ssh\", \"ok\", \"jobs\"]\n\n\
             [[peers]]\nname = \"far\"\nurl = \"http://far/\"\njobs_url = \"ftp://far/jobs.json\"\n",
        )
        .expect("settings");
        let (_, problems) = load_checked(&settings, LoadOptions::default());
        let problems: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.line, p.message))
            .collect();
        assert_eq!(
            problems,
            [
                "7: peer \"u\": `jobs_command` goes with `command`; a `url` peer takes `jobs_url`",
                "12: peer \"c\": `jobs_url` goes with `url`; a `command` peer takes `jobs_command`",
                "22: peer \"far\": `jobs_url` \"ftp://far/jobs.json\" must start with http:// or https://",
            ]
        );
    }

    #[test]
    fn a_peer_is_asked_for_its_jobs_beside_its_status_page_or_by_its_command_made_jobs_json() {
        let (config, _) = load(JOB);
        let config = config.unwrap();
        let jobs: Vec<(String, Option<String>)> = config
            .jobs
            .iter()
            .filter_map(|j| match &j.kind {
                JobKind::Peer(p) => {
                    Some((p.name.clone(), p.jobs.as_ref().map(PeerTarget::describe)))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            jobs,
            [
                (
                    "paris".to_string(),
                    Some("http://paris.example.com:5000/jobs.json".to_string())
                ),
                (
                    "tokyo".to_string(),
                    Some("ssh tokyo checker jobs-json".to_string())
                ),
                ("old".to_string(), None),
            ]
        );
        for (url, want) in [
            ("http://h:5000/", "http://h:5000/jobs.json"),
            ("http://h:5000", "http://h:5000/jobs.json"),
            ("https://h/checker/status", "https://h/checker/jobs.json"),
            ("https://h/checker/?x=1#y", "https://h/checker/jobs.json"),
        ] {
            assert_eq!(jobs_url_beside(url), want, "{url}");
        }
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            jobs_command_from(&argv(&["ssh", "h", "checker -f /etc/c.toml peer-status"])),
            Some(argv(&["ssh", "h", "checker -f /etc/c.toml jobs-json"]))
        );
        assert_eq!(jobs_command_from(&argv(&["/usr/bin/my-peer-status"])), None);
        assert_eq!(
            jobs_command_from(&argv(&["ssh", "h", "not-peer-status"])),
            None
        );
        assert_eq!(jobs_command_from(&[]), None);
    }
}
