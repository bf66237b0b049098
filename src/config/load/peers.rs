//! `[[peers]]` and `[serve]` in the settings file. Each peer becomes a job named
//! `peer <name>` that takes `[defaults]` like every other job (channels, rules, timeout,
//! retries), is asked hourly unless it says otherwise, as the original asked its peers,
//! and alerts the peer's `admin` by email; `[serve]` configures the status server.
//! Problems are reported with file and line like every other key.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::{
    nearest, quoted, resolve_path, secret, section_line, Defaults, EnvSource, FileCtx, Lines,
    Problem,
};
use crate::config::raw::{RawPeer, RawServe};
use crate::config::{
    CommandSpec, Config, Frequency, Job, JobKind, PeerSpec, PeerTarget, Secret, Serve, SourceLoc,
};
use crate::schedule::Schedule;

/// Peers are asked hourly unless they say otherwise, as the original asked them.
const PEER_SCHEDULE: Schedule = Schedule::Tick(Frequency::Hour);

pub(super) fn resolve_serve(cx: &mut FileCtx<'_>, base: &Path, raw: Option<&RawServe>) -> Serve {
    let mut serve = Serve::default();
    let Some(r) = raw else { return serve };
    if let Some(listen) = &r.listen {
        if valid_listen(listen.get_ref()) {
            serve.listen = listen.get_ref().clone();
        } else {
            cx.at(
                listen.span().start,
                format!(
                    "[serve] `listen` = {:?} is not valid: use host:port, e.g. \"127.0.0.1:5000\" or \"0.0.0.0:5000\"",
                    listen.get_ref()
                ),
            );
        }
    }
    let line = section_line(cx.src, "[serve]");
    serve.token = token(
        cx,
        base,
        "[serve]",
        line,
        r.token.as_ref(),
        r.token_env.as_ref(),
        r.token_file.as_ref(),
    );
    if let Some(n) = r
        .max_connections
        .as_ref()
        .and_then(|v| cx.ranged("max_connections", v, 1, 100_000))
    {
        serve.max_connections = n as usize;
    }
    if let Some(v) = &r.header_timeout {
        match cx.duration("header_timeout", v) {
            Some(d) if d < Duration::from_millis(100) => cx.at(
                v.span().start,
                "[serve] `header_timeout` must be at least 100ms",
            ),
            Some(d) => serve.header_timeout = d,
            None => {}
        }
    }
    serve
}

/// `host:port` with a numeric port; the host may be a name, an IPv4 address or a
/// bracketed IPv6 address.
fn valid_listen(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// A bearer token given inline, as `token_env` or as `token_file`; never empty. `line`
/// is where its table starts, for an inline token (which has no span of its own).
fn token(
    cx: &mut FileCtx<'_>,
    base: &Path,
    what: &str,
    line: usize,
    inline: Option<&String>,
    env: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
) -> Option<Secret> {
    let t = secret(cx, base, "token", inline, env, file)?;
    if t.is_empty() {
        let line = file.map(|f| cx.lines.line(f.span().start)).unwrap_or(line);
        cx.at_line(
            line,
            format!("{what}: `token` is empty: give a long random string, or remove it"),
        );
        return None;
    }
    Some(t)
}

/// Turns every `[[peers]]` table into a job and adds it to the configuration; a job file
/// that already uses the name is a problem reported at the peer.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_peer_jobs(
    config: &mut Config,
    base: &Path,
    src: &str,
    lines: &Lines,
    raw: &[Spanned<RawPeer>],
    defaults: &Defaults,
    problems: &mut Vec<Problem>,
    env: &mut EnvSource,
) {
    let path = config.path.clone();
    let mut cx = FileCtx {
        path: &path,
        src,
        lines,
        problems,
        quiet_missing: false,
        env,
    };
    let channels = config.channel_names();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for p in raw {
        let line = lines.line(p.span().start);
        let Some(job) = resolve_peer(
            &mut cx,
            base,
            p.get_ref(),
            line,
            &channels,
            &mut seen,
            defaults,
        ) else {
            continue;
        };
        if let Some(other) = config.job(&job.name) {
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
        config.jobs.push(job);
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
        if let Some(f) = super::frequency_key(cx, f) {
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
    let rules = super::rules_from(
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
        kind: JobKind::Peer(PeerSpec {
            name,
            target,
            token,
            accept_invalid_certs: r.accept_invalid_certs.unwrap_or(false),
        }),
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
        source: SourceLoc {
            file: cx.path.to_path_buf(),
            line,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_need_a_host_and_a_numeric_port() {
        for ok in ["127.0.0.1:5000", "0.0.0.0:0", "[::1]:5000", "localhost:80"] {
            assert!(valid_listen(ok), "{ok}");
        }
        for bad in ["5000", ":5000", "127.0.0.1", "127.0.0.1:http", "host:70000"] {
            assert!(!valid_listen(bad), "{bad}");
        }
    }
}
