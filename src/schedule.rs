//! When jobs run: the cron tick kinds and their inclusion rule (the original's), and
//! `every = "<duration>"` jobs that run on any tick once their interval has passed.
//!
//! [`Tick`] is one type for one idea: the tick a cron line runs (`checker -c TICK`, a
//! clap value) and the `frequency` a job is written with (`frequency = "hour"`).

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A cron tick (`checker -c TICK`), and the `frequency` of jobs that run on it. The
/// variants carry no doc comments: clap would show them as help for each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Tick {
    Minute,
    Hour,
    Day,
    #[value(name = "day_noon")]
    DayNoon,
}

impl Tick {
    /// Every tick, smallest first.
    pub const ALL: [Tick; 4] = [Tick::Minute, Tick::Hour, Tick::Day, Tick::DayNoon];
    /// Their names, as written in settings and on the command line.
    pub const NAMES: &'static [&'static str] = &["minute", "hour", "day", "day_noon"];

    pub fn parse(s: &str) -> Option<Tick> {
        match s {
            "minute" => Some(Tick::Minute),
            "hour" => Some(Tick::Hour),
            "day" => Some(Tick::Day),
            "day_noon" => Some(Tick::DayNoon),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tick::Minute => "minute",
            Tick::Hour => "hour",
            Tick::Day => "day",
            Tick::DayNoon => "day_noon",
        }
    }

    /// The original's inclusion rule: a tick runs the jobs of its own frequency and of
    /// every smaller one. `day` and `day_noon` both include `hour` and `minute`, but not
    /// each other.
    pub fn runs(self, f: Tick) -> bool {
        match self {
            Tick::Minute => f == Tick::Minute,
            Tick::Hour => matches!(f, Tick::Minute | Tick::Hour),
            Tick::Day => matches!(f, Tick::Minute | Tick::Hour | Tick::Day),
            Tick::DayNoon => matches!(f, Tick::Minute | Tick::Hour | Tick::DayNoon),
        }
    }
}

/// How often a job (or the email self-check) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// On ticks that include this frequency.
    Tick(Tick),
    /// On any tick once this long has passed since the last run started.
    Every(Duration),
}

impl Schedule {
    pub fn describe(&self) -> String {
        match self {
            Schedule::Tick(f) => f.as_str().to_string(),
            Schedule::Every(d) => format!("every {}", crate::duration::format(*d)),
        }
    }

    /// How often it comes round: its frequency's period (`day_noon`: a day), or its
    /// interval.
    pub fn period(&self) -> Duration {
        match self {
            Schedule::Tick(Tick::Minute) => Duration::from_secs(60),
            Schedule::Tick(Tick::Hour) => Duration::from_secs(3600),
            Schedule::Tick(Tick::Day | Tick::DayNoon) => Duration::from_secs(86_400),
            Schedule::Every(d) => *d,
        }
    }

    /// Whether a job on this schedule is due on `tick` at `now`, given when its last run
    /// started. Cron starts ticks a little late and runs take time, so an interval counts
    /// as passed a little early: by a tenth of it, at most 30 s. Without that slack a
    /// 5-minute job started at 10:00:00.8 would be skipped at 10:05:00.3 and run at 10:06.
    pub fn is_due(
        &self,
        tick: Tick,
        now: DateTime<Utc>,
        last_started: Option<DateTime<Utc>>,
    ) -> bool {
        match self {
            Schedule::Tick(f) => tick.runs(*f),
            Schedule::Every(every) => match last_started {
                None => true,
                Some(last) => {
                    let slack = (*every / 10).min(Duration::from_secs(30));
                    let needed = every.saturating_sub(slack);
                    let elapsed = now.signed_duration_since(last);
                    // A clock set backwards makes `elapsed` negative: run, rather than
                    // wait for the clock to catch up.
                    elapsed < chrono::Duration::zero()
                        || elapsed.to_std().map(|e| e >= needed).unwrap_or(true)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_tick_runs_its_own_frequency_and_every_smaller_one() {
        use Tick::*;
        let table = [
            (Minute, [true, false, false, false]),
            (Hour, [true, true, false, false]),
            (Day, [true, true, true, false]),
            (DayNoon, [true, true, false, true]),
        ];
        for (tick, expected) in table {
            for (f, want) in [Minute, Hour, Day, DayNoon].into_iter().zip(expected) {
                assert_eq!(tick.runs(f), want, "{tick:?} runs {f:?}");
            }
        }
    }

    #[test]
    fn a_tick_reads_back_from_its_name_in_settings_and_on_the_command_line() {
        use clap::ValueEnum;
        for (tick, name) in Tick::ALL.into_iter().zip(Tick::NAMES) {
            assert_eq!(tick.as_str(), *name);
            assert_eq!(Tick::parse(name), Some(tick));
            let value = tick.to_possible_value().expect("every tick is a value");
            assert_eq!(value.get_name(), *name);
            assert_eq!(Tick::from_str(name, false), Ok(tick));
        }
        assert_eq!(Tick::parse("Minute"), None);
        assert_eq!(Tick::parse("5m"), None);
    }

    #[test]
    fn every_jobs_run_once_their_interval_has_passed_on_any_tick() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let s = Schedule::Every(Duration::from_secs(300));
        assert!(s.is_due(Tick::Minute, t0, None));
        assert!(!s.is_due(Tick::Minute, t0 + chrono::Duration::seconds(60), Some(t0)));
        assert!(!s.is_due(Tick::Day, t0 + chrono::Duration::seconds(240), Some(t0)));
        // Within the slack (30 s for 5 minutes) counts as passed.
        assert!(s.is_due(Tick::Minute, t0 + chrono::Duration::seconds(299), Some(t0)));
        assert!(s.is_due(Tick::Hour, t0 + chrono::Duration::seconds(600), Some(t0)));
        // A clock that went backwards does not stall the job.
        assert!(s.is_due(Tick::Minute, t0 - chrono::Duration::seconds(10), Some(t0)));
    }
}
