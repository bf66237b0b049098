//! When maintenance windows are (SPEC §10): a start, either "HH:MM" on some days of the
//! week or a five-field cron expression, read in an IANA time zone, and a duration. Pure:
//! every question takes the time it is asked at.
//!
//! Daylight saving changes are read as cron reads them: a start in the hour skipped in
//! spring (02:30 in Europe/Berlin on the last Sunday of March) begins when the clock
//! jumps (03:00), and a start in the hour repeated in autumn begins at its first
//! occurrence only. A duration is elapsed time, whatever the clock on the wall does.

use chrono::Offset;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// One occurrence of a window: from `start` (included) to `end` (excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A window's times.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub starts: Starts,
    /// Elapsed time from each start; more than zero (the settings bound it).
    pub duration: Duration,
    pub tz: Tz,
}

/// When a window starts, in its time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Starts {
    /// `start = "HH:MM"` on `days`.
    At { time: NaiveTime, days: Days },
    /// `cron = "..."`.
    Cron(Cron),
}

impl Calendar {
    /// The occurrence that covers `now` (the latest one, when several overlap).
    pub fn active_at(&self, now: DateTime<Utc>) -> Option<Occurrence> {
        let today = local_date(self.tz, now)?;
        let back = self.duration.num_days().saturating_add(1);
        let mut found = None;
        for offset in (0..=back).rev() {
            let Some(date) = today.checked_sub_signed(Duration::days(offset)) else {
                continue;
            };
            for start in self.starts_on(date) {
                if start > now {
                    break;
                }
                let end = crate::saturating::add(start, self.duration);
                if now < end {
                    found = Some(Occurrence { start, end });
                }
            }
        }
        found
    }

    /// The first occurrence that starts after `after`, if there is one within eight years
    /// (a cron expression for the 29th of February needs that long).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<Occurrence> {
        let first = local_date(self.tz, after)?;
        let days = match self.starts {
            Starts::At { .. } => 8,
            Starts::Cron(_) => 8 * 366 + 2,
        };
        for offset in 0..days {
            let date = first.checked_add_signed(Duration::days(offset))?;
            if let Some(start) = self.starts_on(date).into_iter().find(|s| *s > after) {
                return Some(Occurrence {
                    start,
                    end: crate::saturating::add(start, self.duration),
                });
            }
        }
        None
    }

    /// The starts of the local day `date`, as instants, earliest first.
    fn starts_on(&self, date: NaiveDate) -> Vec<DateTime<Utc>> {
        let times: Vec<NaiveTime> = match &self.starts {
            Starts::At { time, days } if days.contains(date.weekday()) => vec![*time],
            Starts::At { .. } => Vec::new(),
            Starts::Cron(c) if c.day_matches(date) => c.times().collect(),
            Starts::Cron(_) => Vec::new(),
        };
        let mut out: Vec<DateTime<Utc>> = times
            .into_iter()
            .filter_map(|t| instant(self.tz, date.and_time(t)))
            .collect();
        // Starts in a skipped hour all begin when the clock jumps: once.
        out.dedup();
        out
    }

    /// "02:30 on mon, fri" or "cron \"30 2 * * sun\"", then the duration and zone.
    pub fn describe(&self) -> String {
        let when = match &self.starts {
            Starts::At { time, days } => {
                format!("{} {}", time.format("%H:%M"), days.describe())
            }
            Starts::Cron(c) => format!("cron {:?}", c.text),
        };
        let d = self.duration.to_std().unwrap_or_default();
        format!(
            "{when}, for {} ({})",
            crate::duration::format(d),
            self.tz.name()
        )
    }
}

/// The date on the wall in `tz` at `t`; `None` past the end of the calendar.
fn local_date(tz: Tz, t: DateTime<Utc>) -> Option<NaiveDate> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc()
        .checked_add_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
        .map(|l| l.date())
}

/// The instant a local time in `tz` stands for: the earlier one when the clock shows it
/// twice, and the moment the clock jumps when it skips it.
fn instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut t = local;
    // No zone skips more than a day; the bound only keeps the loop finite.
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, _) => return Some(first.with_timezone(&Utc)),
            LocalResult::None => t = t.checked_add_signed(Duration::minutes(1))?,
        }
    }
    None
}

/// Days of the week: bit 0 is Monday, bit 6 Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Days {
    pub const ALL: Days = Days(0x7f);

    /// `["mon", "fri"]` (full names and any case too); an empty list or an unknown name
    /// is an error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Days, String> {
        if names.is_empty() {
            return Err("is empty: leave `days` out for every day, or list some of mon, tue, wed, thu, fri, sat, sun".into());
        }
        let mut bits = 0u8;
        for name in names {
            let n = name.as_ref().trim().to_ascii_lowercase();
            let Some(i) = DAY_NAMES
                .iter()
                .position(|d| *d == n)
                .or_else(|| FULL_DAY_NAMES.iter().position(|d| *d == n))
            else {
                return Err(format!(
                    "{:?} is not a day: use mon, tue, wed, thu, fri, sat or sun",
                    name.as_ref()
                ));
            };
            bits |= 1 << i;
        }
        Ok(Days(bits))
    }

    pub fn contains(self, d: Weekday) -> bool {
        self.0 & (1 << d.num_days_from_monday()) != 0
    }

    /// "every day", or "on mon, fri".
    pub fn describe(self) -> String {
        if self == Days::ALL {
            return "every day".into();
        }
        let names: Vec<&str> = (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect();
        format!("on {}", names.join(", "))
    }
}

/// `"HH:MM"`, 00:00 to 23:59.
pub fn parse_time_of_day(text: &str) -> Result<NaiveTime, String> {
    let t = text.trim();
    let parsed = t
        .split_once(':')
        .filter(|(h, m)| (1..=2).contains(&h.len()) && m.len() == 2)
        .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
        .and_then(|(h, m)| NaiveTime::from_hms_opt(h, m, 0));
    parsed.ok_or_else(|| {
        format!("{text:?} is not a time of day: write \"HH:MM\", 00:00 to 23:59, e.g. \"02:30\"")
    })
}

/// An IANA time zone name (`Europe/Berlin`), with a hint when it is near a real one.
pub fn parse_zone(text: &str) -> Result<Tz, String> {
    if let Ok(tz) = text.parse::<Tz>() {
        return Ok(tz);
    }
    // Only a close name is a hint: any zone is a little like any other.
    let hint = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| {
            (
                strsim::normalized_damerau_levenshtein(text, z.name()),
                z.name(),
            )
        })
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| format!("; did you mean {n:?}?"))
        .unwrap_or_default();
    Err(format!(
        "{text:?} is not an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"{hint}"
    ))
}

/// A five-field cron expression: minute, hour, day of month, month, day of week. Each
/// field is `*`, a number, a range `a-b`, any of them with a step `/n`, or a list of
/// those; months and days of the week may be names (`jan`, `sun`), and 7 is Sunday too.
/// When both day fields are restricted, a day matching either one matches (as cron).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bit 0 is Sunday.
    days_of_week: u64,
    any_day_of_month: bool,
    any_day_of_week: bool,
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const CRON_DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// One cron field's limits and names.
struct Field {
    what: &'static str,
    min: u32,
    max: u32,
    /// The largest value `*` stands for (day of week: 6, though 7 is accepted).
    star_max: u32,
    /// Names for `min`, `min + 1`...
    names: &'static [&'static str],
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "{text:?} has {} field(s); a cron expression has five: minute hour day-of-month month day-of-week, e.g. \"30 2 * * sun\"",
                fields.len()
            ));
        }
        let minutes = field(
            fields[0],
            &Field {
                what: "minute",
                min: 0,
                max: 59,
                star_max: 59,
                names: &[],
            },
        )?;
        let hours = field(
            fields[1],
            &Field {
                what: "hour",
                min: 0,
                max: 23,
                star_max: 23,
                names: &[],
            },
        )?;
        let days_of_month = field(
            fields[2],
            &Field {
                what: "day of month",
                min: 1,
                max: 31,
                star_max: 31,
                names: &[],
            },
        )?;
        let months = field(
            fields[3],
            &Field {
                what: "month",
                min: 1,
                max: 12,
                star_max: 12,
                names: &MONTH_NAMES,
            },
        )?;
        let mut days_of_week = field(
            fields[4],
            &Field {
                what: "day of week",
                min: 0,
                max: 7,
                star_max: 6,
                names: &CRON_DAY_NAMES,
            },
        )?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let cron = Cron {
            text: fields.join(" "),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            any_day_of_month: fields[2].starts_with('*'),
            any_day_of_week: fields[4].starts_with('*'),
        };
        if !cron.can_match() {
            return Err(format!(
                "{text:?} never matches: no month it allows has the day of the month it asks for"
            ));
        }
        Ok(cron)
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << d.day()) != 0;
        let dow = self.days_of_week & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// Whether some day of some year matches (only a day of the month alone can miss:
    /// "31 in February").
    fn can_match(&self) -> bool {
        if !self.any_day_of_week {
            return true;
        }
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32).any(|m| {
            self.months & (1 << m) != 0
                && (1..=LONGEST[(m - 1) as usize]).any(|d| self.days_of_month & (1 << d) != 0)
        })
    }

    /// The times of a matching day, earliest first.
    fn times(&self) -> impl Iterator<Item = NaiveTime> + '_ {
        (0..24u32)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60u32)
                    .filter(|m| self.minutes & (1 << m) != 0)
                    .filter_map(move |m| NaiveTime::from_hms_opt(h, m, 0))
            })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One field as a bit set of the values it allows.
fn field(text: &str, f: &Field) -> Result<u64, String> {
    let what = f.what;
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step = s
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=f.max.max(1)).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "{what} {item:?}: the step after / must be a whole number from 1 to {}",
                            f.max.max(1)
                        )
                    })?;
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.star_max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, f)?, value(b, f)?)
        } else {
            let v = value(range, f)?;
            // "5/15" is cron's "5-59/15".
            (v, if step.is_some() { f.star_max.max(v) } else { v })
        };
        if lo > hi {
            return Err(format!(
                "{what} {item:?}: the range goes backwards; write the smaller value first"
            ));
        }
        let step = step.unwrap_or(1) as usize;
        for v in (lo..=hi).step_by(step) {
            bits |= 1u64 << v;
        }
    }
    Ok(bits)
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    let what = f.what;
    let lower = text.to_ascii_lowercase();
    let v = match f.names.iter().position(|n| *n == lower) {
        Some(i) => f.min + i as u32,
        None => text.parse::<u32>().map_err(|_| {
            let names = if f.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({})", f.names.join(", "))
            };
            format!(
                "{what} {text:?} is not valid: use a number from {} to {}{names}, *, a range a-b, a step /n, or a list",
                f.min, f.max
            )
        })?,
    };
    if v < f.min || v > f.max {
        return Err(format!(
            "{what} {v} is out of range: use {} to {}",
            f.min, f.max
        ));
    }
    Ok(v)
}

/// For tests and `validate`: the local time of `t` in `tz`, "2026-03-29 03:00 CEST".
pub fn local(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!("{} {}", l.format("%Y-%m-%d %H:%M"), l.format("%Z"))
}

#[cfg(test)]
mod tests;
