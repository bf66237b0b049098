use super::*;
use chrono::TimeZone;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn at(time: &str, days: &[&str], hours: i64, tz: &str) -> Calendar {
    Calendar {
        starts: Starts::At {
            time: parse_time_of_day(time).expect("a time"),
            days: if days.is_empty() {
                Days::ALL
            } else {
                Days::parse(days).expect("days")
            },
        },
        duration: Duration::hours(hours),
        tz: parse_zone(tz).expect("a zone"),
    }
}

fn cron(text: &str, minutes: i64, tz: &str) -> Calendar {
    Calendar {
        starts: Starts::Cron(Cron::parse(text).expect("a cron expression")),
        duration: Duration::minutes(minutes),
        tz: parse_zone(tz).expect("a zone"),
    }
}

#[test]
fn a_window_crossing_midnight_covers_the_early_hours_of_the_next_day() {
    // Fridays 23:00 for 3 hours: until Saturday 02:00.
    let w = at("23:00", &["fri"], 3, "UTC");
    // 2026-03-06 is a Friday.
    let friday = |h, m| utc(2026, 3, 6, h, m);
    let saturday = |h, m| utc(2026, 3, 7, h, m);
    assert_eq!(w.active_at(friday(22, 59)), None);
    let o = w.active_at(friday(23, 0)).expect("starts at 23:00");
    assert_eq!((o.start, o.end), (friday(23, 0), saturday(2, 0)));
    assert_eq!(w.active_at(saturday(0, 0)), Some(o), "midnight is inside");
    assert_eq!(w.active_at(saturday(1, 59)), Some(o));
    assert_eq!(w.active_at(saturday(2, 0)), None, "the end is not inside");
    // The day it is named for is the day it starts: not Thursday night.
    assert_eq!(w.active_at(utc(2026, 3, 5, 23, 30)), None);
    assert_eq!(w.active_at(utc(2026, 3, 6, 1, 0)), None);
    let next = w.next_after(saturday(2, 0)).expect("a next one");
    assert_eq!(next.start, utc(2026, 3, 13, 23, 0));
}

#[test]
fn a_start_in_the_hour_berlin_skips_in_spring_begins_when_the_clock_jumps() {
    // 2026-03-29: at 02:00 CET the clocks go to 03:00 CEST; 02:30 does not exist.
    let w = at("02:30", &[], 1, "Europe/Berlin");
    let day_before = w.active_at(utc(2026, 3, 28, 1, 30)).expect("02:30 CET");
    assert_eq!(day_before.start, utc(2026, 3, 28, 1, 30));
    // On the day: from 03:00 CEST (01:00 UTC), a full hour.
    assert_eq!(w.active_at(utc(2026, 3, 29, 0, 59)), None);
    let o = w.active_at(utc(2026, 3, 29, 1, 0)).expect("from the jump");
    assert_eq!(
        (o.start, o.end),
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0))
    );
    assert_eq!(local(o.start, w.tz), "2026-03-29 03:00 CEST");
    assert_eq!(w.active_at(utc(2026, 3, 29, 2, 0)), None);
    // The day after: 02:30 CEST is 00:30 UTC.
    let after = w.next_after(o.end).expect("the next day");
    assert_eq!(after.start, utc(2026, 3, 30, 0, 30));
    assert_eq!(
        w.next_after(utc(2026, 3, 28, 12, 0)).map(|o| o.start),
        Some(utc(2026, 3, 29, 1, 0))
    );
}

#[test]
fn a_start_in_the_hour_berlin_repeats_in_autumn_begins_once_at_its_first_occurrence() {
    // 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET; 02:30 happens twice.
    let w = at("02:30", &[], 1, "Europe/Berlin");
    let o = w.active_at(utc(2026, 10, 25, 0, 30)).expect("02:30 CEST");
    assert_eq!(
        (o.start, o.end),
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    );
    assert_eq!(local(o.start, w.tz), "2026-10-25 02:30 CEST");
    // 02:30 CET (01:30 UTC), the second time the clock shows it: not a second window.
    assert_eq!(w.active_at(utc(2026, 10, 25, 1, 30)), None);
    assert_eq!(w.active_at(utc(2026, 10, 25, 2, 0)), None);
    let next = w.next_after(o.start).expect("the next day");
    assert_eq!(next.start, utc(2026, 10, 26, 1, 30), "02:30 CET");
}

#[test]
fn a_night_window_on_a_change_day_lasts_its_duration_in_elapsed_time() {
    // 22:00 for 8 hours on the autumn night: 22:00 CEST to 05:00 CET, eight real hours.
    let w = at("22:00", &["sat"], 8, "Europe/Berlin");
    let o = w.active_at(utc(2026, 10, 25, 3, 0)).expect("inside");
    assert_eq!(local(o.start, w.tz), "2026-10-24 22:00 CEST");
    assert_eq!(local(o.end, w.tz), "2026-10-25 05:00 CET");
    assert_eq!(o.end - o.start, Duration::hours(8));
    // And the spring night: 22:00 CET to 07:00 CEST.
    let o = w.active_at(utc(2026, 3, 28, 23, 0)).expect("inside");
    assert_eq!(local(o.end, w.tz), "2026-03-29 07:00 CEST");
}

#[test]
fn a_cron_window_follows_its_fields_and_cron_reads_skipped_times_as_the_jump() {
    // Sundays 02:30 Berlin time, 30 minutes.
    let w = cron("30 2 * * sun", 30, "Europe/Berlin");
    let spring = w
        .next_after(utc(2026, 3, 27, 0, 0))
        .expect("the change day");
    assert_eq!(local(spring.start, w.tz), "2026-03-29 03:00 CEST");
    let autumn = w
        .next_after(utc(2026, 10, 24, 0, 0))
        .expect("the change day");
    assert_eq!(local(autumn.start, w.tz), "2026-10-25 02:30 CEST");
    assert_eq!(
        w.active_at(utc(2026, 10, 25, 1, 35)),
        None,
        "not again at 02:30 CET"
    );
    // Every 15 minutes: each start is a window of its own, the latest one covers.
    let q = cron("*/15 * * * *", 5, "UTC");
    assert_eq!(
        q.active_at(utc(2026, 5, 1, 10, 17)).map(|o| o.start),
        Some(utc(2026, 5, 1, 10, 15))
    );
    assert_eq!(q.active_at(utc(2026, 5, 1, 10, 21)), None);
}

#[test]
fn cron_fields_read_ranges_steps_lists_names_and_sunday_as_seven() {
    let c = Cron::parse("0,30 9-17/4 1 jan-mar,dec 7").expect("parses");
    let times: Vec<String> = c.times().map(|t| t.format("%H:%M").to_string()).collect();
    assert_eq!(
        times,
        ["09:00", "09:30", "13:00", "13:30", "17:00", "17:30"]
    );
    // Both day fields restricted: the 1st or a Sunday, in the months given.
    assert!(
        c.day_matches(NaiveDate::from_ymd_opt(2026, 2, 1).unwrap()),
        "the 1st"
    );
    assert!(
        c.day_matches(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()),
        "a Sunday"
    );
    assert!(!c.day_matches(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()));
    assert!(
        !c.day_matches(NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()),
        "not in April"
    );
    assert_eq!(c.as_str(), "0,30 9-17/4 1 jan-mar,dec 7");
    let odd = Cron::parse("5/20 * * * *").expect("a start and a step");
    assert_eq!(odd.times().take(3).count(), 3);
    assert_eq!(odd.minutes, (1 << 5) | (1 << 25) | (1 << 45));
}

#[test]
fn bad_cron_expressions_and_times_say_what_is_wrong() {
    let cases = [
        ("30 2 * *", "has 4 field(s); a cron expression has five"),
        ("61 * * * *", "minute 61 is out of range: use 0 to 59"),
        ("* 5-2 * * *", "hour \"5-2\": the range goes backwards"),
        (
            "*/0 * * * *",
            "the step after / must be a whole number from 1 to 59",
        ),
        ("* * * foo *", "month \"foo\" is not valid"),
        ("0 0 31 2 *", "never matches"),
        ("0 0 30 feb,apr *", ""),
    ];
    for (text, want) in cases {
        match Cron::parse(text) {
            Err(e) => assert!(!want.is_empty() && e.contains(want), "{text}: {e}"),
            Ok(_) => assert!(want.is_empty(), "{text} should fail with {want}"),
        }
    }
    assert!(Cron::parse("0 0 29 2 *").is_ok(), "a leap day is a day");
    for bad in ["24:00", "2:3", "02:60", "noon", ""] {
        assert!(parse_time_of_day(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_time_of_day("2:30").unwrap(),
        NaiveTime::from_hms_opt(2, 30, 0).unwrap()
    );
    let e = parse_zone("Europe/Berln").expect_err("a typo");
    assert!(e.ends_with("did you mean \"Europe/Berlin\"?"), "{e}");
    let e = Days::parse(&["mon", "funday"]).expect_err("not a day");
    assert!(e.starts_with("\"funday\" is not a day"), "{e}");
    assert_eq!(
        Days::parse(&["Monday", "FRI"]).unwrap().describe(),
        "on mon, fri"
    );
}

#[test]
fn a_leap_day_window_is_found_years_ahead_and_the_end_of_time_does_not_panic() {
    let w = cron("0 0 29 2 *", 60, "UTC");
    let next = w.next_after(utc(2026, 3, 1, 0, 0)).expect("in 2028");
    assert_eq!(next.start, utc(2028, 2, 29, 0, 0));
    let end = DateTime::<Utc>::MAX_UTC;
    assert!(w.active_at(end).is_none());
    assert!(w.next_after(end).is_none());
    let daily = at("00:00", &[], 24 * 31, "Pacific/Kiritimati");
    assert!(daily.active_at(DateTime::<Utc>::MIN_UTC).is_none());
    // Near the end of the representable time: an answer, not a panic.
    let _ = daily.active_at(end);
    let _ = daily.next_after(end - Duration::days(2));
}
