//! `targets = [...]`: one `[[job]]` table that stands for one job per target (the
//! original's JobSpawner). Expansion replaces `{target}` in every string of the table —
//! lists and table values included — before the jobs are validated one by one.

use std::collections::BTreeMap;

use super::load::{key_line, FileCtx};
use super::raw::{OneOrMany, RawJob, TextList};

const PLACEHOLDER: &str = "{target}";

/// The jobs one table stands for: itself when it has no `targets`, else one per target.
/// Problems with `targets` itself are reported and give no job.
pub(super) fn expand(
    cx: &mut FileCtx<'_>,
    mut raw: RawJob,
    offset: usize,
    line: usize,
) -> Vec<RawJob> {
    let Some(targets) = raw.targets.take() else {
        return vec![raw];
    };
    let label = raw.name.clone().unwrap_or_else(|| "(no name)".into());
    let targets_line = key_line(cx.src, cx.lines, offset, "targets");
    if targets.is_empty() {
        cx.at_line(
            targets_line,
            format!("job {label:?}: `targets` is empty: list at least one target, or remove it"),
        );
        return Vec::new();
    }
    if let Some(bad) = targets.iter().find(|t| t.trim().is_empty()) {
        cx.at_line(
            targets_line,
            format!("job {label:?}: `targets` holds an empty target ({bad:?})"),
        );
        return Vec::new();
    }
    let named_per_target = raw.name.as_deref().is_some_and(|n| n.contains(PLACEHOLDER));
    if targets.len() > 1 && raw.name.is_some() && !named_per_target {
        cx.at_line(
            key_line(cx.src, cx.lines, offset, "name").max(line),
            format!(
                "job {label:?}: with {} `targets` every job would be named {label:?}: put {PLACEHOLDER} in `name`, e.g. name = \"{label} {PLACEHOLDER}\"",
                targets.len()
            ),
        );
        return Vec::new();
    }
    targets
        .iter()
        .map(|target| {
            let mut job = raw.clone();
            job.substitute(target);
            job
        })
        .collect()
}

/// Replaces `{target}` in every string a value holds.
trait Substitute {
    fn substitute(&mut self, target: &str);
}

impl Substitute for String {
    fn substitute(&mut self, target: &str) {
        if self.contains(PLACEHOLDER) {
            *self = self.replace(PLACEHOLDER, target);
        }
    }
}

impl<T: Substitute> Substitute for Option<T> {
    fn substitute(&mut self, target: &str) {
        if let Some(v) = self {
            v.substitute(target);
        }
    }
}

impl<T: Substitute> Substitute for Vec<T> {
    fn substitute(&mut self, target: &str) {
        self.iter_mut().for_each(|v| v.substitute(target));
    }
}

impl<T: Substitute> Substitute for BTreeMap<String, T> {
    fn substitute(&mut self, target: &str) {
        self.values_mut().for_each(|v| v.substitute(target));
    }
}

impl Substitute for toml::Table {
    fn substitute(&mut self, target: &str) {
        self.iter_mut().for_each(|(_, v)| v.substitute(target));
    }
}

impl Substitute for toml::Value {
    fn substitute(&mut self, target: &str) {
        match self {
            toml::Value::String(s) => s.substitute(target),
            toml::Value::Array(a) => a.substitute(target),
            toml::Value::Table(t) => t.substitute(target),
            _ => {}
        }
    }
}

impl Substitute for OneOrMany {
    fn substitute(&mut self, target: &str) {
        match self {
            OneOrMany::One(s) => s.substitute(target),
            OneOrMany::Many(v) => v.substitute(target),
        }
    }
}

impl Substitute for TextList {
    fn substitute(&mut self, target: &str) {
        match self {
            TextList::One(s) => s.substitute(target),
            TextList::Many(v) => v.substitute(target),
        }
    }
}

impl RawJob {
    /// Every field is named here (no `..`), so a key added to `RawJob` without deciding
    /// whether `{target}` applies to it does not compile.
    fn substitute(&mut self, target: &str) {
        let RawJob {
            name,
            kind,
            description,
            enabled: _,
            frequency,
            every,
            notify_every,
            failures_before_notify: _,
            failing_for,
            notify,
            contact,
            notify_recovery: _,
            timeout,
            retries: _,
            retry_backoff,
            targets: _,
            url,
            method,
            headers,
            body,
            expect_status: _,
            contains,
            max_response_time,
            follow_redirects: _,
            accept_invalid_certs: _,
            not_contains,
            json,
            host,
            port: _,
            sni,
            warn_days: _,
            verify: _,
            ca_file,
            command,
            env,
            cwd,
            warning_is_failure: _,
            path,
            max_age,
            min_size: _,
            query,
            record,
            expect,
            server,
            expect_every,
            grace,
        } = self;
        for s in [
            name,
            kind,
            description,
            frequency,
            every,
            notify_every,
            failing_for,
            timeout,
            retry_backoff,
            url,
            method,
            body,
            contains,
            max_response_time,
            not_contains,
            host,
            sni,
            ca_file,
            cwd,
            path,
            max_age,
            query,
            record,
            server,
            expect_every,
            grace,
        ] {
            s.substitute(target);
        }
        notify.substitute(target);
        contact.substitute(target);
        headers.substitute(target);
        json.substitute(target);
        command.substitute(target);
        env.substitute(target);
        expect.substitute(target);
    }
}
