//! One `[[job]]` table as written: every key of every kind, each value with where it was
//! written, so a problem names its key's line. Which keys each kind takes is listed here
//! too (whether they apply is checked in validation), and [`JobCx`], what checking one
//! table's keys needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::context::{duration_limit, resolve_path, FileCtx, OneOrMany, S};

/// One `[[job]]` table. Every key of every kind is here; which keys apply to which kind
/// is checked in validation, so a key of the wrong kind is an error with its line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub name: Option<S<String>>,
    pub kind: Option<S<String>>,
    pub description: Option<S<String>>,
    pub group: Option<S<String>>,
    pub enabled: Option<S<bool>>,
    pub frequency: Option<S<String>>,
    pub every: Option<S<String>>,
    pub notify_every: Option<S<String>>,
    pub failures_before_notify: Option<S<i64>>,
    pub failing_for: Option<S<String>>,
    pub notify: Option<S<Vec<String>>>,
    pub contact: Option<S<OneOrMany>>,
    pub notify_recovery: Option<S<bool>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub retry_backoff: Option<S<String>>,
    /// Jobs whose failure holds back this one's failure alerts (SPEC §10).
    pub depends_on: Option<S<Vec<String>>>,
    /// One job per target, `{target}` replaced in every string (SPEC §3).
    pub targets: Option<S<Vec<String>>>,
    /// Whether the status page shows the job, whatever `[status_page] public_jobs` says.
    pub public: Option<S<bool>>,
    /// Confirmation from other places (SPEC §12): `[[peers]]` names.
    pub confirm_with: Option<S<Vec<String>>>,
    pub confirm_min: Option<S<i64>>,
    pub confirm_job: Option<S<String>>,
    pub confirm_unknown: Option<S<String>>,
    // http
    pub url: Option<S<String>>,
    pub method: Option<S<String>>,
    pub headers: Option<S<BTreeMap<String, String>>>,
    pub body: Option<S<String>>,
    pub expect_status: Option<S<StatusList>>,
    pub contains: Option<S<String>>,
    pub max_response_time: Option<S<String>>,
    pub follow_redirects: Option<S<bool>>,
    pub accept_invalid_certs: Option<S<bool>>,
    pub not_contains: Option<S<String>>,
    /// JSON pointer -> expected value.
    pub json: Option<S<toml::Table>>,
    // tcp (and tls_cert)
    pub host: Option<S<String>>,
    pub port: Option<S<i64>>,
    // tls_cert
    pub sni: Option<S<String>>,
    pub warn_days: Option<S<i64>>,
    pub verify: Option<S<bool>>,
    pub ca_file: Option<S<String>>,
    // command
    pub command: Option<S<Vec<String>>>,
    pub env: Option<S<BTreeMap<String, String>>>,
    pub cwd: Option<S<String>>,
    pub warning_is_failure: Option<S<bool>>,
    // file
    pub path: Option<S<String>>,
    pub max_age: Option<S<String>>,
    pub min_size: Option<S<i64>>,
    // dns
    pub query: Option<S<String>>,
    pub record: Option<S<String>>,
    pub expect: Option<S<TextList>>,
    pub server: Option<S<String>>,
    // passive
    pub expect_every: Option<S<String>>,
    pub grace: Option<S<String>>,
}

/// A text or a list of texts (a dns job's `expect`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TextList {
    One(String),
    Many(Vec<String>),
}

impl TextList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            TextList::One(s) => vec![s],
            TextList::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusList {
    One(i64),
    Many(Vec<i64>),
}

/// Keys every job kind accepts (the fields of [`RawJob`] that
/// [`RawJob::kind_keys_set`] passes over; its test holds the two together).
#[cfg(test)]
pub const COMMON_JOB_KEYS: &[&str] = &[
    "name",
    "kind",
    "description",
    "group",
    "enabled",
    "frequency",
    "every",
    "notify_every",
    "failures_before_notify",
    "failing_for",
    "notify",
    "contact",
    "notify_recovery",
    "timeout",
    "retries",
    "retry_backoff",
    "targets",
    "depends_on",
    "public",
    "confirm_with",
    "confirm_min",
    "confirm_job",
    "confirm_unknown",
];

/// The job kinds and the keys each adds to the common ones.
pub const KIND_KEYS: &[(&str, &[&str])] = &[
    (
        "http",
        &[
            "url",
            "method",
            "headers",
            "body",
            "expect_status",
            "contains",
            "max_response_time",
            "follow_redirects",
            "accept_invalid_certs",
            "not_contains",
            "json",
            "ca_file",
        ],
    ),
    ("tcp", &["host", "port"]),
    ("command", &["command", "env", "cwd", "warning_is_failure"]),
    (
        "tls_cert",
        &["host", "port", "sni", "warn_days", "verify", "ca_file"],
    ),
    ("file", &["path", "max_age", "min_size"]),
    ("dns", &["query", "record", "expect", "server"]),
    ("passive", &["expect_every", "grace"]),
];

pub fn kind_keys(kind: &str) -> Option<&'static [&'static str]> {
    KIND_KEYS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, keys)| *keys)
}

impl RawJob {
    /// The keys of a kind this table sets ([`COMMON_JOB_KEYS`] left out: every kind
    /// takes them), by their file names, each with where its value starts, in the order
    /// of the fields.
    pub(in crate::config) fn kind_keys_set(&self, mut each: impl FnMut(&'static str, usize)) {
        macro_rules! present {
            ($($f:ident),*) => {
                $( if let Some(v) = &self.$f { each(stringify!($f), v.span().start); } )*
            };
        }
        present!(
            url,
            method,
            headers,
            body,
            expect_status,
            contains,
            max_response_time,
            follow_redirects,
            accept_invalid_certs,
            not_contains,
            json,
            host,
            port,
            sni,
            warn_days,
            verify,
            ca_file,
            command,
            env,
            cwd,
            warning_is_failure,
            path,
            max_age,
            min_size,
            query,
            record,
            expect,
            server,
            expect_every,
            grace
        );
    }
}

/// What checking one job's keys needs: the file's context, the job's name (the messages
/// start with it), the line of its table (where a missing key is reported) and the jobs
/// folder (what relative paths resolve against).
pub(in crate::config) struct JobCx<'c, 'a> {
    pub(in crate::config) cx: &'c mut FileCtx<'a>,
    pub(in crate::config) name: &'c str,
    pub(in crate::config) line: usize,
    pub(in crate::config) jobs_dir: &'c Path,
}

impl JobCx<'_, '_> {
    /// A problem with a key, at the line its value was written on.
    pub(in crate::config) fn at<T>(&mut self, v: &S<T>, message: impl Into<String>) {
        let line = self.cx.line_of(v);
        self.cx.at_line(line, message);
    }

    /// A problem with a key, at its line; at the table's when it is not written (its
    /// value came from `[defaults]`).
    pub(in crate::config) fn at_key<T>(&mut self, v: Option<&S<T>>, message: impl Into<String>) {
        match v {
            Some(v) => self.at(v, message),
            None => self.cx.at_line(self.line, message),
        }
    }

    /// A required key is missing: reported at the table's line (unless a key of the
    /// table was set aside).
    pub(in crate::config) fn missing(&mut self, message: impl Into<String>) {
        self.cx.missing(self.line, message);
    }

    /// An optional duration key; `None` when absent or wrong (reported).
    pub(in crate::config) fn duration(
        &mut self,
        key: &str,
        v: &Option<S<String>>,
    ) -> Option<Duration> {
        let v = v.as_ref()?;
        match crate::duration::parse_at_most(v.get_ref(), duration_limit(key)) {
            Ok(d) => Some(d),
            Err(e) => {
                let name = self.name;
                self.at(v, format!("job {name:?}: `{key}`: {e}"));
                None
            }
        }
    }

    /// A path as written in the job file: absolute, or relative to the jobs folder.
    pub(in crate::config) fn path(&self, p: &str) -> PathBuf {
        resolve_path(self.jobs_dir, p)
    }
}

/// The value of an optional key, cloned.
pub(in crate::config) fn value<T: Clone>(v: &Option<S<T>>) -> Option<T> {
    v.as_ref().map(|v| v.get_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::{RawJob, COMMON_JOB_KEYS, KIND_KEYS};
    use crate::config::parse::fields_of;

    #[test]
    fn the_kind_keys_a_table_sets_are_every_field_but_the_common_ones_in_field_order() {
        let text = "url = \"u\"\nmethod = \"GET\"\nheaders = { a = \"b\" }\nbody = \"b\"\n\
            expect_status = 200\ncontains = \"c\"\nmax_response_time = \"1s\"\n\
            follow_redirects = true\naccept_invalid_certs = true\nhost = \"h\"\nport = 1\n\
            command = [\"x\"]\nenv = { A = \"b\" }\ncwd = \"/\"\nnot_contains = \"n\"\n\
            json = { \"/a\" = 1 }\nsni = \"s\"\nwarn_days = 1\nverify = true\nca_file = \"f\"\n\
            warning_is_failure = true\npath = \"/p\"\nmax_age = \"1h\"\nmin_size = 1\n\
            query = \"q\"\nrecord = \"A\"\nexpect = \"e\"\nserver = \"s\"\n\
            expect_every = \"1h\"\ngrace = \"1m\"\nname = \"n\"\nkind = \"tcp\"\n\
            targets = [\"t\"]\nnotify = []\n";
        let raw: RawJob = toml::from_str(text).expect("every kind key");
        let mut told = Vec::new();
        raw.kind_keys_set(|key, offset| {
            // Where its value starts, after `key = ` at the start of a line.
            let line = format!("\n{key} = ");
            let at = format!("\n{text}").find(&line).expect("written");
            assert_eq!(offset, at + line.len() - 1, "{key}");
            told.push(key);
        });
        let expected: Vec<&str> = fields_of::<RawJob>()
            .iter()
            .copied()
            .filter(|f| !COMMON_JOB_KEYS.contains(f))
            .collect();
        assert_eq!(told, expected);
        // Each is some kind's own key.
        for key in told {
            assert!(KIND_KEYS.iter().any(|(_, own)| own.contains(&key)), "{key}");
        }
        // A table of common keys only sets none.
        let common: RawJob =
            toml::from_str("name = \"n\"\nkind = \"tcp\"\ntargets = []\n").expect("common keys");
        common.kind_keys_set(|key, _| panic!("{key} is common"));
    }
}
