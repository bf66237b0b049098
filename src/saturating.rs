//! Time arithmetic that saturates instead of panicking. Durations come from settings and
//! times from the state file; whatever their size, adding them gives the latest (or
//! earliest) time there is, never a panic that would lose a result.

use chrono::{DateTime, TimeDelta, Utc};

/// `d` as a signed duration, or the longest there is.
pub fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// `t + d`, or the latest (earliest, for a negative `d`) time there is.
pub fn add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `t + d` for a configured duration.
pub fn add_std(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    add(t, delta(d))
}

/// `t - d` for a configured duration, or the earliest time there is.
pub fn sub_std(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t.checked_sub_signed(delta(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `a + b`, or the longest duration there is.
pub fn sum(a: TimeDelta, b: TimeDelta) -> TimeDelta {
    a.checked_add(&b).unwrap_or(if b < TimeDelta::zero() {
        TimeDelta::MIN
    } else {
        TimeDelta::MAX
    })
}

/// `d * k`, or the longest duration there is.
pub fn mul(d: TimeDelta, k: i32) -> TimeDelta {
    d.checked_mul(k)
        .unwrap_or(if (d < TimeDelta::zero()) != (k < 0) {
            TimeDelta::MIN
        } else {
            TimeDelta::MAX
        })
}

/// A monotonic instant `d` from now; so far ahead that it never comes when `d` is too
/// large to add (about thirty years: tokio's own "far future" is of that order).
pub fn instant_in(d: std::time::Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d).unwrap_or_else(|| far_future(now))
}

/// `t + d` for a monotonic instant, saturating like [`instant_in`].
pub fn instant_after(t: tokio::time::Instant, d: std::time::Duration) -> tokio::time::Instant {
    t.checked_add(d).unwrap_or_else(|| far_future(t))
}

fn far_future(now: tokio::time::Instant) -> tokio::time::Instant {
    const THIRTY_YEARS: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 86_400);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let huge = std::time::Duration::from_secs(99_999_999_999 * 86_400);
        assert_eq!(add_std(t, huge), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            add_std(t, std::time::Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
        assert_eq!(sub_std(t, huge), DateTime::<Utc>::MIN_UTC);
        assert_eq!(add(t, TimeDelta::MIN), DateTime::<Utc>::MIN_UTC);
        assert_eq!(mul(TimeDelta::days(1_000_000), i32::MAX), TimeDelta::MAX);
        assert_eq!(mul(TimeDelta::days(-1_000_000), i32::MAX), TimeDelta::MIN);
        assert_eq!(sum(TimeDelta::MAX, TimeDelta::seconds(1)), TimeDelta::MAX);
        assert_eq!(
            add_std(t, std::time::Duration::from_secs(60)),
            t + TimeDelta::minutes(1)
        );
        let soon = instant_in(std::time::Duration::MAX);
        assert!(soon > tokio::time::Instant::now() + std::time::Duration::from_secs(86_400));
    }
}
