//! `kind = "command"`: a program (a script, a monitoring plugin) whose exit status is the
//! result.

use super::raw::{value, JobCx, RawJob};
use crate::config::context::env_problem;
use crate::config::job::CommandSpec;

pub(in crate::config) fn resolve(k: &mut JobCx<'_, '_>, r: &RawJob) -> CommandSpec {
    let name = k.name;
    let mut command = value(&r.command).unwrap_or_default();
    if command.first().is_none_or(|p| p.is_empty()) {
        k.missing(format!("job {name:?}: kind \"command\" needs `command`, e.g. command = [\"./check_backup.sh\", \"--quiet\"]"));
    }
    if let Some(p) = command.first_mut() {
        if p.contains('/') {
            *p = k.path(p).to_string_lossy().into_owned();
        }
    }
    if let Some(at) = r
        .command
        .as_ref()
        .filter(|_| command.iter().any(|a| a.contains('\0')))
    {
        k.at(
            at,
            format!("job {name:?}: `command` holds a NUL character, which no program can receive"),
        );
    }
    if let Some(env) = &r.env {
        for why in env
            .get_ref()
            .iter()
            .filter_map(|(key, v)| env_problem(key, v))
        {
            k.at(env, format!("job {name:?}: `env`: {why}"));
        }
    }
    if let Some(c) = &r.cwd {
        let dir = k.path(c.get_ref());
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => k.at(
                c,
                format!("job {name:?}: `cwd` {} is not a folder", dir.display()),
            ),
            Err(e) => k.at(c, format!("job {name:?}: `cwd` {}: {e}", dir.display())),
        }
    }
    CommandSpec {
        command,
        env: value(&r.env).unwrap_or_default(),
        cwd: Some(
            r.cwd
                .as_ref()
                .map(|c| k.path(c.get_ref()))
                .unwrap_or_else(|| k.jobs_dir.to_path_buf()),
        ),
        warning_is_failure: value(&r.warning_is_failure).unwrap_or(true),
    }
}
