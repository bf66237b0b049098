//! `targets = [...]`: one `[[job]]` table that stands for one job per target (the
//! original's JobSpawner). Expansion replaces `{target}` in every string of the table —
//! lists and table values included — before the jobs are validated one by one.

use std::collections::BTreeMap;

use toml::Spanned;

use super::raw::{RawJob, TextList};
use crate::config::context::{FileCtx, OneOrMany};

const PLACEHOLDER: &str = "{target}";

/// The jobs one table stands for: itself when it has no `targets`, else one per target.
/// Problems with `targets` itself are reported and give no job. `line` is the table's.
pub(super) fn expand(cx: &mut FileCtx<'_>, mut raw: RawJob, line: usize) -> Expanded {
    let Some(targets_at) = raw.targets.take() else {
        // Most tables: no list to allocate.
        return Some(raw).into_iter().chain(Vec::new());
    };
    None.into_iter()
        .chain(expand_targets(cx, raw, targets_at, line))
}

/// What [`expand`] gives: the table itself, or its jobs one per target.
pub(super) type Expanded =
    std::iter::Chain<std::option::IntoIter<RawJob>, std::vec::IntoIter<RawJob>>;

/// The jobs of a table with `targets` (taken out of `raw`).
fn expand_targets(
    cx: &mut FileCtx<'_>,
    mut raw: RawJob,
    targets_at: Spanned<Vec<String>>,
    line: usize,
) -> Vec<RawJob> {
    let targets = targets_at.get_ref();
    let name = raw.name.as_ref().map(Spanned::get_ref);
    let label = name.cloned().unwrap_or_else(|| "(no name)".into());
    let targets_line = cx.line_of(&targets_at);
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
    let named_per_target = name.is_some_and(|n| n.contains(PLACEHOLDER));
    if let (true, Some(name_at), false) = (targets.len() > 1, &raw.name, named_per_target) {
        cx.at_line(
            cx.line_of(name_at).max(line),
            format!(
                "job {label:?}: with {} `targets` every job would be named {label:?}: put {PLACEHOLDER} in `name`, e.g. name = \"{label} {PLACEHOLDER}\"",
                targets.len()
            ),
        );
        return Vec::new();
    }
    // Each target copies the table and fills in its placeholders: bound what that makes,
    // or a short file (a long value, many targets) could ask for terabytes.
    let mut m = Measure::default();
    raw.measure(&mut m);
    let total = targets.iter().fold(0usize, |sum, t| {
        sum.saturating_add(PER_JOB_OVERHEAD)
            .saturating_add(m.bytes)
            .saturating_add(m.placeholders.saturating_mul(t.len()))
    });
    if total > MAX_EXPANSION {
        cx.at_line(
            targets_line,
            format!(
                "job {label:?}: its {} `targets` would make more than {} MiB of jobs: split the table, or shorten its values",
                targets.len(),
                MAX_EXPANSION / (1024 * 1024)
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

/// The most one table's `targets` may expand to, counting its text and a fixed cost per
/// job: far past any real use (a thousand targets of a 64 KiB table).
const MAX_EXPANSION: usize = 64 * 1024 * 1024;
/// What one job costs besides its text, roughly.
const PER_JOB_OVERHEAD: usize = 1024;

/// The text a table holds and the placeholders in it.
#[derive(Default)]
struct Measure {
    bytes: usize,
    placeholders: usize,
}

/// Replaces `{target}` in every string a value holds.
trait Substitute {
    fn substitute(&mut self, target: &str);
    /// Adds the value's text and placeholders to `m`.
    fn measure(&self, m: &mut Measure);
}

impl Substitute for String {
    fn substitute(&mut self, target: &str) {
        if self.contains(PLACEHOLDER) {
            *self = self.replace(PLACEHOLDER, target);
        }
    }
    fn measure(&self, m: &mut Measure) {
        m.bytes = m.bytes.saturating_add(self.len());
        m.placeholders = m
            .placeholders
            .saturating_add(self.matches(PLACEHOLDER).count());
    }
}

impl<T: Substitute> Substitute for Spanned<T> {
    fn substitute(&mut self, target: &str) {
        self.get_mut().substitute(target);
    }
    fn measure(&self, m: &mut Measure) {
        self.get_ref().measure(m);
    }
}

impl<T: Substitute> Substitute for Option<T> {
    fn substitute(&mut self, target: &str) {
        if let Some(v) = self {
            v.substitute(target);
        }
    }
    fn measure(&self, m: &mut Measure) {
        if let Some(v) = self {
            v.measure(m);
        }
    }
}

impl<T: Substitute> Substitute for Vec<T> {
    fn substitute(&mut self, target: &str) {
        self.iter_mut().for_each(|v| v.substitute(target));
    }
    fn measure(&self, m: &mut Measure) {
        self.iter().for_each(|v| v.measure(m));
    }
}

impl<T: Substitute> Substitute for BTreeMap<String, T> {
    fn substitute(&mut self, target: &str) {
        self.values_mut().for_each(|v| v.substitute(target));
    }
    fn measure(&self, m: &mut Measure) {
        self.iter().for_each(|(k, v)| {
            m.bytes = m.bytes.saturating_add(k.len());
            v.measure(m);
        });
    }
}

impl Substitute for toml::Table {
    fn substitute(&mut self, target: &str) {
        self.iter_mut().for_each(|(_, v)| v.substitute(target));
    }
    fn measure(&self, m: &mut Measure) {
        self.iter().for_each(|(k, v)| {
            m.bytes = m.bytes.saturating_add(k.len());
            v.measure(m);
        });
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
    fn measure(&self, m: &mut Measure) {
        match self {
            toml::Value::String(s) => s.measure(m),
            toml::Value::Array(a) => a.measure(m),
            toml::Value::Table(t) => t.measure(m),
            _ => m.bytes = m.bytes.saturating_add(16),
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
    fn measure(&self, m: &mut Measure) {
        match self {
            OneOrMany::One(s) => s.measure(m),
            OneOrMany::Many(v) => v.measure(m),
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
    fn measure(&self, m: &mut Measure) {
        match self {
            TextList::One(s) => s.measure(m),
            TextList::Many(v) => v.measure(m),
        }
    }
}

impl RawJob {
    /// The text of every field `substitute` fills in, and its placeholders (`&mut` only
    /// because the walk over the fields serves `substitute` too).
    fn measure(&mut self, m: &mut Measure) {
        self.for_each_text(&mut |v| v.measure(m));
    }

    fn substitute(&mut self, target: &str) {
        self.for_each_text(&mut |v| v.substitute(target));
    }

    /// Calls `f` on every field `{target}` applies to. Every field is named here (no
    /// `..`), so a key added to `RawJob` without deciding whether `{target}` applies to it
    /// does not compile.
    fn for_each_text(&mut self, f: &mut dyn FnMut(&mut dyn Substitute)) {
        let RawJob {
            name,
            kind,
            description,
            group,
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
            depends_on,
            targets: _,
            public: _,
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
            confirm_with: _,
            confirm_min: _,
            confirm_job,
            confirm_unknown,
        } = self;
        for s in [
            name,
            kind,
            description,
            group,
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
            confirm_job,
            confirm_unknown,
        ] {
            f(s);
        }
        f(notify);
        f(depends_on);
        f(contact);
        f(headers);
        f(json);
        f(command);
        f(env);
        f(expect);
    }
}
