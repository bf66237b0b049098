//! `[status_page]`: the HTML status page (SPEC §11): where a tick writes it, its title,
//! which jobs it shows, and whether `serve` answers it and the badges without the token.
//! A job's own `group` and `public` keys are read with the job (`jobs/mod.rs`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::context::{resolve_path, FileCtx, S};
use crate::pattern::NamePattern;

/// The longest title, group name or `public_jobs` pattern, in characters.
pub const MAX_LABEL: usize = 200;
/// The most `public_jobs` patterns.
const MAX_PATTERNS: usize = 1_000;

/// `[status_page]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusPage {
    pub path: Option<S<String>>,
    pub title: Option<S<String>>,
    pub public_jobs: Option<S<Vec<String>>>,
    pub public: Option<bool>,
}

/// `[status_page]`: the page a tick writes and `serve` answers at `/status`.
#[derive(Debug, Clone)]
pub struct StatusPage {
    /// Where each tick that changed something writes the page; `None`: no file.
    pub path: Option<PathBuf>,
    pub title: String,
    /// Names or globs of the jobs shown; `None`: every job. A job's own `public` key
    /// wins over them.
    pub public_jobs: Option<Vec<NamePattern>>,
    /// `serve` answers `/status` and `/badge/...` without the `[serve]` token.
    pub public: bool,
}

impl Default for StatusPage {
    fn default() -> Self {
        StatusPage {
            path: None,
            title: "Status".into(),
            public_jobs: None,
            public: false,
        }
    }
}

impl StatusPage {
    /// Whether a job is on the page: its own `public` key, else the `public_jobs`
    /// patterns (every job when there are none).
    pub fn shows(&self, name: &str, public: Option<bool>) -> bool {
        if let Some(p) = public {
            return p;
        }
        match &self.public_jobs {
            None => true,
            Some(patterns) => patterns.iter().any(|p| p.matches(name)),
        }
    }
}

pub(super) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    raw: Option<&RawStatusPage>,
) -> StatusPage {
    let mut page = StatusPage::default();
    let Some(r) = raw else { return page };
    if let Some(p) = &r.path {
        if p.get_ref().trim().is_empty() {
            cx.at(
                p.span().start,
                "[status_page] `path` is empty: name the HTML file to write, e.g. \"/var/www/html/status.html\", or remove the key",
            );
        } else {
            page.path = Some(resolve_path(base, p.get_ref()));
        }
    }
    if let Some(t) = &r.title {
        match label_problem(t.get_ref()) {
            Some(why) => cx.at(t.span().start, format!("[status_page] `title` {why}")),
            None => page.title = t.get_ref().trim().to_string(),
        }
    }
    if let Some(globs) = &r.public_jobs {
        let list = globs.get_ref();
        if list.len() > MAX_PATTERNS {
            cx.at(
                globs.span().start,
                format!("[status_page] `public_jobs` has more than {MAX_PATTERNS} patterns"),
            );
        } else if let Some(bad) = list.iter().find_map(|g| label_problem(g)) {
            cx.at(
                globs.span().start,
                format!("[status_page] a `public_jobs` pattern {bad}"),
            );
        } else {
            match list.iter().map(|g| NamePattern::new(g)).collect() {
                Ok(patterns) => page.public_jobs = Some(patterns),
                Err(why) => cx.at(
                    globs.span().start,
                    format!("[status_page] `public_jobs`: {why}"),
                ),
            }
        }
    }
    page.public = r.public.unwrap_or(false);
    page
}

/// What is wrong with a title, a group name or a pattern, if anything.
pub(super) fn label_problem(s: &str) -> Option<String> {
    if s.trim().is_empty() {
        Some("is empty".into())
    } else if s.chars().count() > MAX_LABEL {
        Some(format!("is longer than {MAX_LABEL} characters"))
    } else if s.chars().any(char::is_control) {
        Some("contains a control character (a line break, a tab...)".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_own_public_key_wins_over_the_patterns() {
        let mut p = StatusPage::default();
        assert!(p.shows("anything", None), "every job without patterns");
        assert!(!p.shows("anything", Some(false)));
        p.public_jobs = Some(vec![NamePattern::new("web*").unwrap()]);
        assert!(p.shows("web-eu", None));
        assert!(!p.shows("db", None));
        assert!(p.shows("db", Some(true)));
        assert!(!p.shows("web-eu", Some(false)));
    }
}
