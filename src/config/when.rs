//! The keys that say when a job runs and when it alerts, wherever they are written
//! (`[defaults]`, `[[job]]`, `[[peers]]`, `[email] self_check`): `frequency`, `every`,
//! `notify_every`, `failures_before_notify`, `failing_for`, `notify_recovery`; and the
//! notification rules they make.

use std::time::Duration;

use toml::Spanned;

use super::context::{duration_limit, quoted, FileCtx};
use crate::schedule::{Schedule, Tick};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvery {
    Every,
    FiveMin,
    TenMin,
    Hour,
    Day,
    StateChange,
}

impl NotifyEvery {
    pub fn parse(s: &str) -> Option<NotifyEvery> {
        match s {
            "every" => Some(NotifyEvery::Every),
            "5min" => Some(NotifyEvery::FiveMin),
            "10min" => Some(NotifyEvery::TenMin),
            "hour" => Some(NotifyEvery::Hour),
            "day" => Some(NotifyEvery::Day),
            "state_change" => Some(NotifyEvery::StateChange),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvery::Every => "every",
            NotifyEvery::FiveMin => "5min",
            NotifyEvery::TenMin => "10min",
            NotifyEvery::Hour => "hour",
            NotifyEvery::Day => "day",
            NotifyEvery::StateChange => "state_change",
        }
    }
}

/// The notification rules of one job (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub notify_every: NotifyEvery,
    pub failures_before_notify: u32,
    pub failing_for: Option<Duration>,
    pub notify_recovery: bool,
}

/// A schedule from `frequency`-style words or an `every`-style duration.
pub(super) fn schedule_from(
    cx: &mut FileCtx<'_>,
    key: &str,
    text: &str,
    offset: usize,
    allow_duration: bool,
) -> Option<Schedule> {
    if let Some(f) = Tick::parse(text) {
        return Some(Schedule::Tick(f));
    }
    // A number first: a duration, and its own error says what is wrong with it.
    if allow_duration && text.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
        return match crate::duration::parse_at_most(text, duration_limit(key)) {
            Ok(d) => Some(Schedule::Every(d)),
            Err(e) => {
                cx.at(offset, format!("`{key}`: {e}"));
                None
            }
        };
    }
    cx.at(
        offset,
        format!(
            "`{key}` = {text:?} is not valid: use one of \"minute\", \"hour\", \"day\", \"day_noon\"{}",
            if allow_duration { ", \"never\" or a duration such as \"30m\"" } else { "" }
        ),
    );
    None
}

pub(super) const NOTIFY_EVERY: &[&str] = &["every", "5min", "10min", "hour", "day", "state_change"];
pub(super) const FREQUENCIES: &[&str] = Tick::NAMES;

/// The built-in notification rules, what `[defaults]` starts from: one alert per
/// incident, after two failures in a row, and a recovery notice. Reminders only when
/// asked for (`notify_every`).
pub const DEFAULT_RULES: Rules = Rules {
    notify_every: NotifyEvery::StateChange,
    failures_before_notify: 2,
    failing_for: None,
    notify_recovery: true,
};

/// Notification rules from settings keys (`[defaults]`, `[[peers]]`); `base`'s where a
/// key is absent.
pub(super) fn rules_from(
    cx: &mut FileCtx<'_>,
    base: &Rules,
    notify_every: Option<&Spanned<String>>,
    failures_before_notify: Option<&Spanned<i64>>,
    failing_for: Option<&Spanned<String>>,
    notify_recovery: Option<bool>,
) -> Rules {
    Rules {
        notify_every: notify_every
            .and_then(|v| cx.choice("notify_every", v, NotifyEvery::parse, NOTIFY_EVERY))
            .unwrap_or(base.notify_every),
        failures_before_notify: failures_before_notify
            .and_then(|v| cx.ranged("failures_before_notify", v, 1, 1_000_000))
            .map_or(base.failures_before_notify, |n| n as u32),
        failing_for: match failing_for {
            Some(v) => cx.duration("failing_for", v),
            None => base.failing_for,
        },
        notify_recovery: notify_recovery.unwrap_or(base.notify_recovery),
    }
}

/// "; for an interval write `every = "5m"`" when a `frequency` value is a duration.
pub(super) fn every_hint(frequency: &str) -> String {
    if crate::duration::parse(frequency).is_ok() {
        format!("; for an interval write `every = {frequency:?}` instead")
    } else {
        String::new()
    }
}

/// A `frequency` key of the settings (`[defaults]`, `[[peers]]`): one of the tick names,
/// with a hint towards `every` when a duration was written.
pub(super) fn frequency_key(cx: &mut FileCtx<'_>, v: &Spanned<String>) -> Option<Tick> {
    let f = Tick::parse(v.get_ref());
    if f.is_none() {
        cx.at(
            v.span().start,
            format!(
                "`frequency` = {:?} is not valid: use one of {}{}",
                v.get_ref(),
                quoted(FREQUENCIES),
                every_hint(v.get_ref())
            ),
        );
    }
    f
}
