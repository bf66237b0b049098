//! `[defaults]`: what every job (and peer) gets for each key it does not set.

use std::time::Duration;

use serde::Deserialize;

use super::context::{FileCtx, OneOrMany, S};
use super::email::EMAIL;
use super::when::{frequency_key, rules_from, Rules, DEFAULT_RULES};
use crate::schedule::{Schedule, Tick};

/// `[defaults]`: the job keys that make sense for every job.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub frequency: Option<S<String>>,
    pub every: Option<S<String>>,
    pub notify_every: Option<S<String>>,
    pub failures_before_notify: Option<S<i64>>,
    pub failing_for: Option<S<String>>,
    pub notify: Option<S<Vec<String>>>,
    pub contact: Option<S<OneOrMany>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<i64>>,
    pub retry_backoff: Option<S<String>>,
    pub notify_recovery: Option<bool>,
    /// Not a job key: whether channels that do not say send digests.
    pub digest: Option<bool>,
}

/// `[defaults]` resolved: what a job gets for each key it does not set.
pub(super) struct Defaults {
    pub(super) schedule: Schedule,
    pub(super) rules: Rules,
    pub(super) notify: Vec<String>,
    pub(super) contact: Option<Vec<String>>,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) retry_backoff: Duration,
    /// `digest` for the channels that do not set their own.
    pub(super) digest: bool,
}

pub(super) fn resolve(cx: &mut FileCtx<'_>, d: &RawDefaults) -> Defaults {
    let mut schedule = Schedule::Tick(Tick::Minute);
    if let Some(f) = &d.frequency {
        if let Some(f) = frequency_key(cx, f) {
            schedule = Schedule::Tick(f);
        }
    }
    if let Some(e) = &d.every {
        if d.frequency.is_some() {
            cx.at(
                e.span().start,
                "[defaults] sets both `frequency` and `every`: keep one",
            );
        }
        if let Some(e) = cx.duration("every", e) {
            schedule = Schedule::Every(e);
        }
    }
    Defaults {
        schedule,
        rules: rules_from(
            cx,
            &DEFAULT_RULES,
            d.notify_every.as_ref(),
            d.failures_before_notify.as_ref(),
            d.failing_for.as_ref(),
            d.notify_recovery,
        ),
        notify: d
            .notify
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_else(|| vec![EMAIL.into()]),
        contact: d.contact.as_ref().map(|c| c.get_ref().clone().into_vec()),
        timeout: cx.duration_or("timeout", &d.timeout, Duration::from_secs(10)),
        retries: cx.ranged_or("retries", &d.retries, 0, 100, 0) as u32,
        retry_backoff: cx.duration_or("retry_backoff", &d.retry_backoff, Duration::from_secs(1)),
        digest: d.digest.unwrap_or(false),
    }
}
