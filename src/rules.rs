//! The notification decisions of SPEC §5, as pure functions of a job's state, the new
//! result, the rules and the time. No I/O: the tick applies what is decided here.

use chrono::{DateTime, Duration, Utc};

use crate::config::{NotifyEvery, Rules};
use crate::state::{JobState, JobStatus};

/// What a new result asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    /// Send a failure notification.
    Failure,
    /// Send a recovery notification for the streak that just ended.
    Recovery {
        failures: u32,
        since: Option<DateTime<Utc>>,
    },
}

/// The minimum gap between two failure notifications of a time-based mode, as the
/// original has them (a little under the nominal period so cron jitter cannot skip one).
pub fn reminder_gap(mode: NotifyEvery) -> Option<Duration> {
    match mode {
        NotifyEvery::FiveMin => Some(Duration::seconds(4 * 60 + 30)),
        NotifyEvery::TenMin => Some(Duration::seconds(9 * 60 + 15)),
        NotifyEvery::Hour => Some(Duration::minutes(59)),
        NotifyEvery::Day => Some(Duration::minutes(23 * 60 + 50)),
        NotifyEvery::Every | NotifyEvery::StateChange => None,
    }
}

/// Records one result in `js` and decides whether to notify.
pub fn record(
    js: &mut JobState,
    ok: bool,
    message: &str,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Decision {
    js.last_run = Some(now);
    js.total_attempts += 1;
    js.push_recent(ok);
    js.last_message = Some(message.to_string());
    if ok {
        js.successes += 1;
        let decision = if js.consecutive_failures > 0 && js.notified && rules.notify_recovery {
            Decision::Recovery {
                failures: js.consecutive_failures,
                since: js.first_failure,
            }
        } else {
            Decision::Nothing
        };
        js.status = JobStatus::Ok;
        js.last_success = Some(now);
        js.consecutive_failures = 0;
        js.first_failure = None;
        js.last_notify = None;
        js.notified = false;
        return decision;
    }
    js.failures += 1;
    js.status = JobStatus::Failing;
    js.last_error = Some(message.to_string());
    js.consecutive_failures = js.consecutive_failures.saturating_add(1);
    if js.consecutive_failures == 1 || js.first_failure.is_none() {
        js.first_failure = Some(now);
        js.last_notify = None;
        js.notified = false;
    }
    if should_notify(js, now, rules) {
        js.last_notify = Some(now);
        js.notified = true;
        Decision::Failure
    } else {
        Decision::Nothing
    }
}

/// What [`record`] changes when it decides a failure notification, as it was before the
/// result: a notification held back on purpose (SPEC §10) is undone with [`hold_back`].
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    last_notify: Option<DateTime<Utc>>,
    notified: bool,
    in_streak: bool,
}

impl Marks {
    /// Taken before [`record`].
    pub fn of(js: &JobState) -> Marks {
        Marks {
            last_notify: js.last_notify,
            notified: js.notified,
            in_streak: js.consecutive_failures > 0 && js.first_failure.is_some(),
        }
    }
}

/// Undoes the failure notification [`record`] just decided, as if it had not been due:
/// the streak is as alerted as it was before (not at all, for a new one), so when the
/// quiet ends the rules decide afresh, and a streak never alerted alerts at once.
pub fn hold_back(js: &mut JobState, before: Marks) {
    if before.in_streak {
        js.last_notify = before.last_notify;
        js.notified = before.notified;
    } else {
        js.last_notify = None;
        js.notified = false;
    }
}

/// SPEC §5 for a failure already counted in `js.consecutive_failures`.
fn should_notify(js: &JobState, now: DateTime<Utc>, rules: &Rules) -> bool {
    let n = js.consecutive_failures;
    let m = rules.failures_before_notify.max(1);
    if n < m {
        return false;
    }
    if let Some(window) = rules.failing_for {
        let since = js.first_failure.unwrap_or(now);
        let window = Duration::from_std(window).unwrap_or(Duration::MAX);
        if now - since < window {
            return false;
        }
    }
    match rules.notify_every {
        NotifyEvery::Every => true,
        // Once per streak: with m = 1 at the first failure, else at n = m — that is, the
        // first failure at which every gate is open. (Also correct when `failing_for`
        // holds the gate past n = m, or when m was lowered mid-streak.)
        NotifyEvery::StateChange => !js.notified,
        mode => match (js.last_notify, reminder_gap(mode)) {
            (None, _) => true,
            (Some(last), Some(gap)) => now - last > gap,
            (Some(_), None) => true,
        },
    }
}

/// When the next failure notification would come if the job keeps failing, in words.
pub fn next_reminder(js: &JobState, rules: &Rules) -> String {
    match rules.notify_every {
        NotifyEvery::StateChange => {
            "none: state_change sends one alert per failure streak (a recovery notice follows)"
                .into()
        }
        NotifyEvery::Every => "at the next failing check".into(),
        mode => match (js.last_notify, reminder_gap(mode)) {
            (Some(last), Some(gap)) => format!(
                "at the first failing check after {} ({})",
                crate::saturating::add(last, gap).format("%Y-%m-%d %H:%M:%S UTC"),
                mode.as_str()
            ),
            _ => "at the next failing check".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rules(mode: NotifyEvery, m: u32) -> Rules {
        Rules {
            notify_every: mode,
            failures_before_notify: m,
            failing_for: None,
            notify_recovery: true,
        }
    }

    /// Feeds results at the given minutes (from t0) and returns the minutes at which a
    /// failure ('F') or recovery ('R') notification was decided.
    fn run(r: &Rules, steps: &[(i64, bool)]) -> Vec<(i64, char)> {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut js = JobState::default();
        let mut out = Vec::new();
        for &(minute, ok) in steps {
            match record(&mut js, ok, "x", t0 + Duration::seconds(minute * 60), r) {
                Decision::Failure => out.push((minute, 'F')),
                Decision::Recovery { .. } => out.push((minute, 'R')),
                Decision::Nothing => {}
            }
        }
        out
    }

    /// Failing every minute for 0..=n-1, then a success at minute n.
    fn fail_minutes(n: i64) -> Vec<(i64, bool)> {
        let mut v: Vec<_> = (0..n).map(|m| (m, false)).collect();
        v.push((n, true));
        v
    }

    #[test]
    fn every_mode_table_for_one_two_and_five_failures_before_notify() {
        use NotifyEvery::*;
        // 12 failures one minute apart (minutes 0..=11), a success at minute 12.
        let seq = fail_minutes(12);
        type Row<'a> = (NotifyEvery, u32, &'a [(i64, char)]);
        let table: &[Row] = &[
            (
                Every,
                1,
                &[
                    (0, 'F'),
                    (1, 'F'),
                    (2, 'F'),
                    (3, 'F'),
                    (4, 'F'),
                    (5, 'F'),
                    (6, 'F'),
                    (7, 'F'),
                    (8, 'F'),
                    (9, 'F'),
                    (10, 'F'),
                    (11, 'F'),
                    (12, 'R'),
                ],
            ),
            (
                Every,
                2,
                &[
                    (1, 'F'),
                    (2, 'F'),
                    (3, 'F'),
                    (4, 'F'),
                    (5, 'F'),
                    (6, 'F'),
                    (7, 'F'),
                    (8, 'F'),
                    (9, 'F'),
                    (10, 'F'),
                    (11, 'F'),
                    (12, 'R'),
                ],
            ),
            (
                Every,
                5,
                &[
                    (4, 'F'),
                    (5, 'F'),
                    (6, 'F'),
                    (7, 'F'),
                    (8, 'F'),
                    (9, 'F'),
                    (10, 'F'),
                    (11, 'F'),
                    (12, 'R'),
                ],
            ),
            // 5min: > 4m30s since the last notification: minutes 0, 5, 10.
            (FiveMin, 1, &[(0, 'F'), (5, 'F'), (10, 'F'), (12, 'R')]),
            (FiveMin, 2, &[(1, 'F'), (6, 'F'), (11, 'F'), (12, 'R')]),
            (FiveMin, 5, &[(4, 'F'), (9, 'F'), (12, 'R')]),
            // 10min: > 9m15s: minutes 0 and 10.
            (TenMin, 1, &[(0, 'F'), (10, 'F'), (12, 'R')]),
            (TenMin, 2, &[(1, 'F'), (11, 'F'), (12, 'R')]),
            (TenMin, 5, &[(4, 'F'), (12, 'R')]),
            (Hour, 1, &[(0, 'F'), (12, 'R')]),
            (Hour, 2, &[(1, 'F'), (12, 'R')]),
            (Hour, 5, &[(4, 'F'), (12, 'R')]),
            (Day, 1, &[(0, 'F'), (12, 'R')]),
            (Day, 2, &[(1, 'F'), (12, 'R')]),
            (Day, 5, &[(4, 'F'), (12, 'R')]),
            // state_change: once per streak, at n = m.
            (StateChange, 1, &[(0, 'F'), (12, 'R')]),
            (StateChange, 2, &[(1, 'F'), (12, 'R')]),
            (StateChange, 5, &[(4, 'F'), (12, 'R')]),
        ];
        for (mode, m, want) in table {
            assert_eq!(
                run(&rules(*mode, *m), &seq),
                want.to_vec(),
                "{mode:?} with failures_before_notify = {m}"
            );
        }
    }

    #[test]
    fn streaks_shorter_than_the_threshold_notify_nothing_and_recover_silently() {
        use NotifyEvery::*;
        // f f ok f ok: never two in a row.
        let seq = [(0, false), (1, false), (2, true), (3, false), (4, true)];
        for mode in [Every, FiveMin, TenMin, Hour, Day, StateChange] {
            assert_eq!(run(&rules(mode, 5), &seq), vec![], "{mode:?}");
            assert_eq!(run(&rules(mode, 3), &seq), vec![], "{mode:?}");
        }
        // With m = 2, the first pair notifies and the success recovers; the lone failure
        // after it does not.
        assert_eq!(run(&rules(Every, 2), &seq), vec![(1, 'F'), (2, 'R')]);
    }

    #[test]
    fn time_based_modes_use_the_originals_exact_gaps() {
        use NotifyEvery::*;
        // Failures at 0s, 270s (exactly 4m30s: not more), 271s.
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let check = |mode, gap_secs: i64| {
            let r = rules(mode, 1);
            let mut js = JobState::default();
            assert_eq!(record(&mut js, false, "x", t0, &r), Decision::Failure);
            assert_eq!(
                record(&mut js, false, "x", t0 + Duration::seconds(gap_secs), &r),
                Decision::Nothing,
                "{mode:?} at the gap"
            );
            assert_eq!(
                record(
                    &mut js,
                    false,
                    "x",
                    t0 + Duration::seconds(gap_secs + 1),
                    &r
                ),
                Decision::Failure,
                "{mode:?} past the gap"
            );
        };
        check(FiveMin, 270);
        check(TenMin, 555);
        check(Hour, 3540);
        check(Day, 85_800);
    }

    #[test]
    fn failing_for_holds_notifications_until_the_streak_is_old_enough() {
        use NotifyEvery::*;
        // Seed 000: failures at 09:00, 12:00, 15:00 with m = 2 and failing_for = 3h.
        let hours = |h: i64| h * 60;
        let seq = [
            (hours(0), false),
            (hours(3), false),
            (hours(6), false),
            (hours(7), true),
        ];
        let mut r = rules(StateChange, 2);
        r.failing_for = Some(std::time::Duration::from_secs(3 * 3600));
        assert_eq!(run(&r, &seq), vec![(hours(3), 'F'), (hours(7), 'R')]);
        // With every: each failure once the window is open.
        r.notify_every = Every;
        assert_eq!(
            run(&r, &seq),
            vec![(hours(3), 'F'), (hours(6), 'F'), (hours(7), 'R')]
        );
        // A window longer than the streak: nothing, and no recovery either.
        r.failing_for = Some(std::time::Duration::from_secs(10 * 3600));
        assert_eq!(run(&r, &seq), vec![]);
        // state_change with m = 1 and a window: the first failure past the window.
        let mut r = rules(StateChange, 1);
        r.failing_for = Some(std::time::Duration::from_secs(150));
        assert_eq!(run(&r, &fail_minutes(6)), vec![(3, 'F'), (6, 'R')]);
    }

    #[test]
    fn recovery_notices_can_be_turned_off() {
        let mut r = rules(NotifyEvery::Every, 1);
        r.notify_recovery = false;
        assert_eq!(run(&r, &fail_minutes(2)), vec![(0, 'F'), (1, 'F')]);
    }

    #[test]
    fn a_new_streak_starts_fresh() {
        // state_change notifies once per streak: twice for two streaks.
        let seq = [
            (0, false),
            (1, false),
            (2, true),
            (3, false),
            (4, false),
            (5, true),
        ];
        assert_eq!(
            run(&rules(NotifyEvery::StateChange, 2), &seq),
            vec![(1, 'F'), (2, 'R'), (4, 'F'), (5, 'R')]
        );
        // hour mode: the second streak notifies at once, not an hour after the first.
        assert_eq!(
            run(&rules(NotifyEvery::Hour, 1), &seq),
            vec![(0, 'F'), (2, 'R'), (3, 'F'), (5, 'R')]
        );
    }

    #[test]
    fn recovery_reports_the_streak_that_ended() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let r = rules(NotifyEvery::Every, 1);
        let mut js = JobState::default();
        record(&mut js, false, "down", t0, &r);
        record(&mut js, false, "down", t0 + Duration::minutes(1), &r);
        let d = record(&mut js, true, "up", t0 + Duration::minutes(2), &r);
        assert_eq!(
            d,
            Decision::Recovery {
                failures: 2,
                since: Some(t0)
            }
        );
        assert_eq!(js.status, JobStatus::Ok);
        assert_eq!(js.consecutive_failures, 0);
        assert_eq!(js.total_attempts, 3);
        assert_eq!(js.recent, "--+");
    }

    #[test]
    fn next_reminder_says_when() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
        let r = rules(NotifyEvery::Hour, 1);
        let mut js = JobState::default();
        record(&mut js, false, "x", t0, &r);
        assert_eq!(
            next_reminder(&js, &r),
            "at the first failing check after 2026-03-01 10:59:00 UTC (hour)"
        );
        assert!(next_reminder(&js, &rules(NotifyEvery::StateChange, 1)).starts_with("none"));
        assert_eq!(
            next_reminder(&js, &rules(NotifyEvery::Every, 1)),
            "at the next failing check"
        );
    }

    #[test]
    fn a_held_back_notification_leaves_the_streak_as_alerted_as_it_was() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let minute = |m: i64| t0 + Duration::minutes(m);
        let r = rules(NotifyEvery::StateChange, 1);
        // Held back at its first failure: the next failing check alerts.
        let mut js = JobState::default();
        let before = Marks::of(&js);
        assert_eq!(
            record(&mut js, false, "x", minute(0), &r),
            Decision::Failure
        );
        hold_back(&mut js, before);
        assert!(!js.notified && js.last_notify.is_none());
        assert_eq!(
            record(&mut js, false, "x", minute(1), &r),
            Decision::Failure
        );
        // Alerted before: once per streak still, whatever is held back later.
        let before = Marks::of(&js);
        assert_eq!(
            record(&mut js, false, "x", minute(2), &r),
            Decision::Nothing
        );
        hold_back(&mut js, before);
        assert!(js.notified);
        assert_eq!(js.last_notify, Some(minute(1)));
        // A reminder held back: the last one sent still counts for the gap.
        let r = rules(NotifyEvery::TenMin, 1);
        let mut js = JobState::default();
        record(&mut js, false, "x", minute(0), &r);
        let before = Marks::of(&js);
        assert_eq!(
            record(&mut js, false, "x", minute(10), &r),
            Decision::Failure
        );
        hold_back(&mut js, before);
        assert_eq!(js.last_notify, Some(minute(0)));
        assert_eq!(
            record(&mut js, false, "x", minute(11), &r),
            Decision::Failure
        );
    }

    #[test]
    fn times_at_the_end_of_the_calendar_and_huge_windows_do_not_panic() {
        // A state file can hold any time; a settings file any duration.
        let end = DateTime::<Utc>::MAX_UTC;
        let mut r = rules(NotifyEvery::Day, 1);
        r.failing_for = Some(std::time::Duration::from_secs(99_999_999_999 * 86_400));
        let mut js = JobState {
            last_notify: Some(end),
            first_failure: Some(DateTime::<Utc>::MIN_UTC),
            ..JobState::default()
        };
        assert!(
            next_reminder(&js, &r).contains("+262142"),
            "{}",
            next_reminder(&js, &r)
        );
        record(&mut js, false, "x", end, &r);
        record(&mut js, true, "x", end, &r);
    }
}
