//! What `serve` answers for the status page's paths: `/status` (the page),
//! `/badge/JOB.svg` (the job's state) and `/badge/JOB/uptime.svg?days=N`. Independent of
//! the HTTP library: `serve` turns a [`Reply`] into its response. Blocking (SQLite):
//! `serve` calls it off its async workers.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{badge, fingerprint, model, render};
use crate::config::Config;
use crate::history::History;
use crate::state::{JobStatus, State};

/// An answer: status code, content type, `Cache-Control`, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub cache: &'static str,
    pub body: Vec<u8>,
}

const SVG: &str = "image/svg+xml; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Whether `path` is one of the status page's (answered by [`Pages::answer`]).
pub fn is_page_path(path: &str) -> bool {
    path == "/status" || path.starts_with("/badge/")
}

/// The status page's routes, with the page last drawn (drawn again when its fingerprint
/// changes: a new result, the next hour).
pub struct Pages {
    config: Arc<Config>,
    history: History,
    last: Mutex<Option<(String, Arc<Vec<u8>>)>>,
}

impl Pages {
    pub fn new(config: &Config) -> Self {
        Pages {
            config: Arc::new(config.clone()),
            history: History::reader(&config.general),
            last: Mutex::new(None),
        }
    }

    /// The answer to `path` (with its `query`), for clients that may see it: `open`
    /// when they needed no token, so that shared caches may keep badges.
    pub fn answer(
        &self,
        path: &str,
        query: Option<&str>,
        state: &State,
        now: DateTime<Utc>,
        open: bool,
    ) -> Reply {
        let cache = if open {
            "public, max-age=60"
        } else {
            "private, max-age=60"
        };
        if path == "/status" {
            return Reply {
                status: 200,
                content_type: HTML,
                cache: "no-cache",
                body: self.page(state, now).to_vec(),
            };
        }
        let rest = path.strip_prefix("/badge/").unwrap_or_default();
        let (name, uptime) = match rest.strip_suffix("/uptime.svg") {
            Some(name) => (name, true),
            None => match rest.strip_suffix(".svg") {
                Some(name) if !name.contains('/') => (name, false),
                _ => {
                    return badge_reply(
                        404,
                        cache,
                        "badge",
                        "use /badge/JOB.svg or /badge/JOB/uptime.svg",
                        badge::GREY,
                    )
                }
            },
        };
        let Some(name) = percent_decode(name).filter(|n| !n.is_empty()) else {
            return badge_reply(404, cache, "badge", "not a job name", badge::GREY);
        };
        let shown = model::public_jobs(&self.config)
            .into_iter()
            .any(|j| j.name == name);
        if !shown {
            // A job not on the page is answered as one that does not exist.
            return badge_reply(404, cache, &name, "unknown job", badge::GREY);
        }
        if !uptime {
            let (word, color) = match state.jobs.get(&name).map(|j| j.status) {
                Some(JobStatus::Ok) => ("up", badge::GREEN),
                Some(JobStatus::Failing) => ("down", badge::RED),
                _ => ("pending", badge::GREY),
            };
            return badge_reply(200, cache, &name, word, color);
        }
        let max = self.config.general.rollup_days.max(1);
        let days = match days_param(query, max) {
            Ok(d) => d,
            Err(why) => return badge_reply(400, cache, "uptime", &why, badge::GREY),
        };
        let figure = match self.history.uptime(days, now, std::slice::from_ref(&name)) {
            Ok(f) => f.first().and_then(|f| f.uptime_percent),
            Err(e) => {
                log::warn!("uptime badge of {name:?}: {e}");
                return badge_reply(503, "no-store", "uptime", "history unreadable", badge::GREY);
            }
        };
        let (text, color) = badge::uptime(figure);
        badge_reply(200, cache, &format!("uptime {days}d"), &text, color)
    }

    fn page(&self, state: &State, now: DateTime<Utc>) -> Arc<Vec<u8>> {
        let fp = fingerprint(&self.config, state, now);
        if let Ok(last) = self.last.lock() {
            if let Some((f, body)) = last.as_ref() {
                if *f == fp {
                    return Arc::clone(body);
                }
            }
        }
        let body = Arc::new(render(&self.config, state, &self.history, now).into_bytes());
        if let Ok(mut last) = self.last.lock() {
            *last = Some((fp, Arc::clone(&body)));
        }
        body
    }
}

fn badge_reply(status: u16, cache: &'static str, label: &str, message: &str, color: &str) -> Reply {
    Reply {
        status,
        content_type: SVG,
        cache,
        body: badge::svg(label, message, color).into_bytes(),
    }
}

/// `days=N` from a query string: 30 when absent, else 1 to `max`.
fn days_param(query: Option<&str>, max: u32) -> Result<u32, String> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("days="));
    match value {
        None => Ok(30.min(max)),
        Some(v) => match v.parse::<u32>() {
            Ok(d) if (1..=max).contains(&d) => Ok(d),
            _ => Err(format!("days must be 1 to {max}")),
        },
    }
}

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_paths_are_percent_decoded_and_bad_escapes_refused() {
        assert_eq!(
            percent_decode("peer%20backup").as_deref(),
            Some("peer backup")
        );
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(percent_decode("web").as_deref(), Some("web"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn days_default_to_30_and_stay_within_bounds() {
        assert_eq!(days_param(None, 1830), Ok(30));
        assert_eq!(days_param(Some("x=1&days=7"), 1830), Ok(7));
        assert_eq!(days_param(Some("days=1830"), 1830), Ok(1830));
        assert!(days_param(Some("days=0"), 1830).is_err());
        assert!(days_param(Some("days=1831"), 1830).is_err());
        assert!(days_param(Some("days=-1"), 1830).is_err());
        assert!(days_param(Some("days=99999999999999"), 1830).is_err());
        assert_eq!(
            days_param(None, 7),
            Ok(7),
            "a shorter retention bounds the default"
        );
    }
}
