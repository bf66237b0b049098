//! `[[commands]]`: channels that hand each alert to a program.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::context::{env_problem, resolve_path, FileCtx, S};
use crate::config::email::EMAIL;

/// One `[[commands]]` table, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandChannel {
    pub name: String,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub timeout: Option<S<String>>,
    pub digest: Option<bool>,
}

/// A `[[commands]]` channel: a program that receives the alert.
#[derive(Debug, Clone)]
pub struct CommandChannel {
    pub name: String,
    /// Program and arguments; a relative program path resolves against the settings folder.
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    /// `digest` as written: `None` takes `[defaults] digest` (`Config::digest`).
    pub digest: Option<bool>,
}

/// `[[commands]]`; each name must differ from "email" and from the others'.
pub(in crate::config) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: &[S<RawCommandChannel>],
) -> Vec<CommandChannel> {
    let mut commands = Vec::new();
    for c in raw {
        let span = c.span();
        let c = c.get_ref();
        if c.command.is_empty() || c.command[0].is_empty() {
            cx.at(span.start, format!("[[commands]] {:?}: `command` must name a program, e.g. [\"/usr/local/bin/page-me\"]", c.name));
        }
        if c.name == EMAIL || commands.iter().any(|o: &CommandChannel| o.name == c.name) {
            cx.at(
                span.start,
                format!(
                    "[[commands]] name {:?} is already taken: channel names must be unique",
                    c.name
                ),
            );
        }
        let mut command = c.command.clone();
        if let Some(p) = command.first_mut() {
            if p.contains('/') {
                *p = resolve_path(base, p).to_string_lossy().into_owned();
            }
        }
        if c.command.iter().any(|a| a.contains('\0')) {
            cx.at(
                span.start,
                format!("[[commands]] {:?}: `command` holds a NUL character", c.name),
            );
        }
        for why in c.env.iter().filter_map(|(k, v)| env_problem(k, v)) {
            cx.at(
                span.start,
                format!("[[commands]] {:?}: `env`: {why}", c.name),
            );
        }
        commands.push(CommandChannel {
            name: c.name.clone(),
            command,
            env: c.env.clone(),
            timeout: cx.duration_or("timeout", &c.timeout, Duration::from_secs(30)),
            digest: c.digest,
        });
    }
    commands
}
