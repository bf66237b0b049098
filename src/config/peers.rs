//! `[[peers]]` in the settings file: other checkers (or original Python Checkers) this one
//! asks whether they run their jobs and can send mail. Each peer becomes a job named
//! `peer <name>` that takes `[defaults]` like every other job (channels, rules, timeout,
//! retries), is asked hourly unless it says otherwise, as the original asked its peers,
//! and alerts the peer's `admin` by email. Problems are reported with file and line like
//! every other key.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::context::{nearest, quoted, resolve_path, FileCtx, OneOrMany, S};
use super::defaults::Defaults;
use super::job::{CommandSpec, Job, JobKind, PeerSpec, PeerTarget};
use super::problem::SourceLoc;
use super::secret::token;
use super::when::{frequency_key, rules_from};
use crate::schedule::{Schedule, Tick};

/// One `[[peers]]` table: becomes a job named `peer <name>`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeer {
    pub name: Option<S<String>>,
    pub url: Option<S<String>>,
    pub command: Option<S<Vec<String>>>,
    pub admin: Option<S<OneOrMany>>,
    pub token: Option<String>,
    pub token_env: Option<S<String>>,
    pub token_file: Option<S<String>>,
    pub frequency: Option<S<String>>,
    pub every: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub failures_before_notify: Option<S<i64>>,
    pub failing_for: Option<S<String>>,
    pub notify_every: Option<S<String>>,
    pub notify: Option<S<Vec<String>>>,
    pub notify_recovery: Option<bool>,
    pub accept_invalid_certs: Option<bool>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    /// Where its `/jobs.json` is, when not beside `url` (confirmation, SPEC §12).
    pub jobs_url: Option<S<String>>,
    /// The command that prints its `jobs-json`, when `command` cannot be turned into one.
    pub jobs_command: Option<S<Vec<String>>>,
}

/// Peers are asked hourly unless they say otherwise, as the original asked them.
const PEER_SCHEDULE: Schedule = Schedule::Tick(Tick::Hour);

/// Turns every `[[peers]]` table into a job and adds it to the configuration; a job file
/// that already uses the name is a problem reported at the peer.
/// `cx` is the settings file's; `channels` the channel names jobs may list.
pub(super) fn add_peer_jobs(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: &[Spanned<RawPeer>],
    defaults: &Defaults,
    channels: &[String],
    jobs: &mut Vec<Job>,
) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for p in raw {
        let line = cx.line_of(p);
        let Some(job) = resolve_peer(cx, base, p.get_ref(), line, channels, &mut seen, defaults)
        else {
            continue;
        };
        if let Some(other) = jobs.iter().find(|j| j.name == job.name) {
            cx.at_line(
                line,
                format!(
                    "peer {:?} makes a job named {:?}, which {} already uses: rename the peer or the job",
                    peer_name(&job),
                    job.name,
                    other.source
                ),
            );
            continue;
        }
        jobs.push(job);
    }
}

fn peer_name(job: &Job) -> &str {
    match &job.kind {
        JobKind::Peer(p) => &p.name,
        _ => &job.name,
    }
}

fn resolve_peer(
    cx: &mut FileCtx<'_>,
    base: &Path,
    r: &RawPeer,
    line: usize,
    channels: &[String],
    seen: &mut HashMap<String, usize>,
    d: &Defaults,
) -> Option<Job> {
    let Some(name) = r
        .name
        .as_ref()
        .map(|n| n.get_ref().trim().to_string())
        .filter(|n| !n.is_empty())
    else {
        cx.at_line(line, "[[peers]] entry has no `name`: give each peer a unique name, e.g. name = \"backup-box\"");
        return None;
    };
    let before = cx.problems.len();
    let what = format!("peer {name:?}");
    match seen.get(&name) {
        Some(first) => cx.at_line(
            line,
            format!("{what} is defined twice (first at line {first}): peer names must be unique"),
        ),
        None => {
            seen.insert(name.clone(), line);
        }
    }

    let target = match (&r.url, &r.command) {
        (Some(_), Some(c)) => {
            cx.at(
                c.span().start,
                format!("{what} sets both `url` and `command`: keep one"),
            );
            None
        }
        (None, None) => {
            cx.at_line(
                line,
                format!(
                    "{what} needs `url` (its status page, e.g. \"http://backup.example.com:5000/\") or `command` \
                     (e.g. [\"ssh\", \"backup\", \"checker\", \"peer-status\"])"
                ),
            );
            None
        }
        (Some(url), None) => {
            let u = url.get_ref().trim();
            if u.starts_with("http://") || u.starts_with("https://") {
                Some(PeerTarget::Url(u.to_string()))
            } else {
                cx.at(
                    url.span().start,
                    format!("{what}: `url` {u:?} must start with http:// or https://"),
                );
                None
            }
        }
        (None, Some(command)) => {
            let mut argv = command.get_ref().clone();
            match argv.first_mut() {
                Some(program) if !program.is_empty() => {
                    if program.contains('/') {
                        *program = resolve_path(base, program).to_string_lossy().into_owned();
                    }
                    Some(PeerTarget::Command(CommandSpec {
                        command: argv,
                        env: Default::default(),
                        cwd: Some(base.to_path_buf()),
                        warning_is_failure: true,
                    }))
                }
                _ => {
                    cx.at(
                        command.span().start,
                        format!("{what}: `command` must name a program"),
                    );
                    None
                }
            }
        }
    };
    let is_command = r.command.is_some() && r.url.is_none();
    let jobs = jobs_target(cx, base, r, &what, target.as_ref());
    if is_command {
        if let Some(at) = r
            .token_env
            .as_ref()
            .or(r.token_file.as_ref())
            .map(|v| v.span().start)
        {
            cx.at(at, format!("{what}: a token is sent with `url` requests only; a `command` peer authenticates its own way (ssh keys)"));
        } else if r.token.is_some() {
            cx.at_line(line, format!("{what}: a token is sent with `url` requests only; a `command` peer authenticates its own way (ssh keys)"));
        }
        if r.accept_invalid_certs.is_some() {
            cx.at_line(
                line,
                format!("{what}: `accept_invalid_certs` applies to `url` peers only"),
            );
        }
    }
    let enabled = r.enabled.unwrap_or(true);
    // A disabled peer may name a token variable that is not set on this machine.
    let token = if enabled && !is_command {
        token(
            cx,
            base,
            &what,
            line,
            r.token.as_ref(),
            r.token_env.as_ref(),
            r.token_file.as_ref(),
        )
    } else {
        None
    };

    let mut schedule = PEER_SCHEDULE;
    if let Some(f) = &r.frequency {
        if let Some(f) = frequency_key(cx, f) {
            schedule = Schedule::Tick(f);
        }
    }
    if let Some(e) = &r.every {
        if r.frequency.is_some() {
            cx.at(
                e.span().start,
                format!("{what} sets both `frequency` and `every`: keep one"),
            );
        }
        match cx.duration("every", e) {
            Some(d) if d < Duration::from_secs(1) => cx.at(
                e.span().start,
                format!("{what}: `every` must be at least 1s"),
            ),
            Some(d) => schedule = Schedule::Every(d),
            None => {}
        }
    }
    let timeout = match &r.timeout {
        Some(v) => match cx.duration("timeout", v) {
            Some(t) if t.is_zero() => {
                cx.at(
                    v.span().start,
                    format!("{what}: `timeout` must be more than 0s"),
                );
                d.timeout
            }
            Some(t) => t,
            None => d.timeout,
        },
        None => d.timeout,
    };
    let rules = rules_from(
        cx,
        &d.rules,
        r.notify_every.as_ref(),
        r.failures_before_notify.as_ref(),
        r.failing_for.as_ref(),
        r.notify_recovery,
    );
    let retries = cx.ranged_or("retries", &r.retries, 0, 100, i64::from(d.retries)) as u32;
    let notify = match &r.notify {
        Some(n) => {
            let refs: Vec<&str> = channels.iter().map(String::as_str).collect();
            for ch in n.get_ref().iter().filter(|c| !channels.contains(c)) {
                let hint = nearest(ch, &refs)
                    .map(|k| format!("; did you mean {k:?}?"))
                    .unwrap_or_default();
                cx.at(
                    n.span().start,
                    format!(
                        "{what}: unknown channel {ch:?} in `notify`{hint} (channels: {})",
                        quoted(&refs)
                    ),
                );
            }
            n.get_ref().clone()
        }
        None => d.notify.clone(),
    };

    if cx.problems.len() > before {
        return None;
    }
    let target = target?;
    Some(Job {
        name: format!("peer {name}"),
        kind: JobKind::Peer(Box::new(PeerSpec {
            name,
            target,
            jobs,
            token,
            accept_invalid_certs: r.accept_invalid_certs.unwrap_or(false),
        })),
        schedule,
        rules,
        notify,
        contact: r
            .admin
            .as_ref()
            .map(|a| a.get_ref().clone().into_vec())
            .or_else(|| d.contact.clone()),
        timeout,
        retries,
        retry_backoff: d.retry_backoff,
        enabled,
        description: r.description.clone(),
        group: None,
        depends_on: Vec::new(),
        public: None,
        source: SourceLoc {
            file: cx.path.to_path_buf(),
            line,
        },
        confirm: None,
    })
}

/// Where the peer's job states are asked for (confirmation, SPEC §12): `jobs_url` or
/// `jobs_command` when given, else made from how its status is asked.
fn jobs_target(
    cx: &mut FileCtx<'_>,
    base: &Path,
    r: &RawPeer,
    what: &str,
    target: Option<&PeerTarget>,
) -> Option<PeerTarget> {
    match (&r.jobs_url, &r.jobs_command, target) {
        (Some(u), Some(_), _) => {
            cx.at(
                u.span().start,
                format!("{what} sets both `jobs_url` and `jobs_command`: keep one"),
            );
            None
        }
        (Some(u), None, _) if r.url.is_none() => {
            cx.at(
                u.span().start,
                format!(
                    "{what}: `jobs_url` goes with `url`; a `command` peer takes `jobs_command`"
                ),
            );
            None
        }
        (None, Some(c), _) if r.command.is_none() => {
            cx.at(
                c.span().start,
                format!(
                    "{what}: `jobs_command` goes with `command`; a `url` peer takes `jobs_url`"
                ),
            );
            None
        }
        (Some(u), None, _) => {
            let url = u.get_ref().trim();
            if url.starts_with("http://") || url.starts_with("https://") {
                Some(PeerTarget::Url(url.to_string()))
            } else {
                cx.at(
                    u.span().start,
                    format!("{what}: `jobs_url` {url:?} must start with http:// or https://"),
                );
                None
            }
        }
        (None, Some(c), Some(PeerTarget::Command(spec))) => {
            let mut argv = c.get_ref().clone();
            match argv.first_mut() {
                Some(program) if !program.is_empty() => {
                    if program.contains('/') {
                        *program = resolve_path(base, program).to_string_lossy().into_owned();
                    }
                    Some(PeerTarget::Command(CommandSpec {
                        command: argv,
                        ..spec.clone()
                    }))
                }
                _ => {
                    cx.at(
                        c.span().start,
                        format!("{what}: `jobs_command` must name a program"),
                    );
                    None
                }
            }
        }
        (None, None, Some(PeerTarget::Url(url))) => Some(PeerTarget::Url(jobs_url_beside(url))),
        (None, None, Some(PeerTarget::Command(spec))) => {
            jobs_command_from(&spec.command).map(|command| {
                PeerTarget::Command(CommandSpec {
                    command,
                    ..spec.clone()
                })
            })
        }
        _ => None,
    }
}

/// `/jobs.json` beside the status page: `http://backup:5000/` gives
/// `http://backup:5000/jobs.json`, `https://web1/checker/status` gives
/// `https://web1/checker/jobs.json` (a reverse proxy's folder is kept).
pub(crate) fn jobs_url_beside(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        None => format!("{url}/jobs.json"),
        Some(slash) => {
            let path_start = after_scheme + slash;
            let last = url[path_start..]
                .rfind('/')
                .map_or(path_start, |i| path_start + i);
            format!("{}/jobs.json", &url[..last])
        }
    }
}

/// The command that prints the peer's `jobs-json`, made from the one that prints its
/// `peer-status`: the last `peer-status` (an argument, or the end of one, as in
/// `ssh host "checker peer-status"`) becomes `jobs-json`. `None` when there is none.
pub(crate) fn jobs_command_from(command: &[String]) -> Option<Vec<String>> {
    let (last, rest) = command.split_last()?;
    let trimmed = last.trim_end();
    let head = trimmed.strip_suffix("peer-status")?;
    if !(head.is_empty() || head.ends_with(char::is_whitespace))
        || rest.is_empty() && head.is_empty()
    {
        return None;
    }
    let mut out = rest.to_vec();
    out.push(format!("{head}jobs-json"));
    Some(out)
}
