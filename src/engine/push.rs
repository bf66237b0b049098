//! Results pushed by other programs (`checker report`, `checker wrap`): merged under the
//! state lock exactly as a check's result is (rules, outbox, history, as event "report"),
//! then what they queued is delivered and settled the way a run does it.

use chrono::{DateTime, Utc};

use crate::check::CheckResult;
use crate::config::{Config, Job};
use crate::engine::delivery::{deliver_and_settle, Policy};
use crate::engine::outbox;
use crate::engine::record::{record as record_result, Source};
use crate::engine::txn::Ledger;
use crate::engine::{NotificationReport, RunError, RunOptions};
use crate::history::Event;
use crate::notify::SendOptions;
use crate::runtime::Workers;
use crate::state::State;

/// Applies a pushed result received at `now` to the state: no I/O, so tests drive the
/// clock. Besides the rules, it restarts a passive job's deadline.
pub fn apply(
    config: &Config,
    state: &mut State,
    events: &mut Vec<Event>,
    job: &Job,
    r: &CheckResult,
    now: DateTime<Utc>,
) {
    record_result(config, state, events, job, r, now, Source::Pushed);
}

/// Records a pushed result for `job`: under the lock it is merged and every due
/// notification claimed; after the lock is released they are delivered, then settled
/// under the lock again. Returns the delivery attempts made.
pub fn record(
    config: &Config,
    job: &Job,
    r: &CheckResult,
    opts: RunOptions,
) -> Result<Vec<NotificationReport>, RunError> {
    let ledger = Ledger::new(config);
    let mut txn = ledger.begin(Utc::now())?;
    let now = txn.now;
    apply(config, &mut txn.state, &mut txn.events, job, r, now);
    let superseded = outbox::supersede(&mut txn.state, now);
    txn.events.extend(superseded);
    let claimed = outbox::claim_due(&mut txn.state, now, Policy(config));
    txn.commit()?;
    log::info!(
        "{}: pushed result recorded ({})",
        job.name,
        if r.ok { "ok" } else { "failed" }
    );

    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = crate::runtime::build(Workers::Two)?;
    deliver_and_settle(
        &ledger,
        &runtime,
        &claimed,
        SendOptions {
            nomail: opts.nomail,
        },
        |_, _| {},
    )
}

#[cfg(test)]
mod tests {
    //! Seed 000's scenarios with a controlled clock: downloaders push results every three
    //! hours; an alert goes out once a source has failed twice over at least 3 hours.
    use super::*;
    use crate::engine::record::result;
    use crate::engine::test_config;
    use crate::history::EventKind;
    use chrono::TimeZone;

    const SOURCES: &str = r#"
[[job]]
name = "fastdl"
kind = "passive"
expect_every = "3h"
notify_every = "state_change"
failures_before_notify = 2
failing_for = "3h"
[[job]]
name = "toolzu"
kind = "passive"
expect_every = "3h"
notify_every = "state_change"
failures_before_notify = 2
failing_for = "3h"
"#;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 19, hour, 0, 0).unwrap()
    }

    /// Feeds `(hour, job, ok, count)` results and returns the state and the alerts queued,
    /// as (job, kind, hour decided).
    fn feed(
        steps: &[(u32, &str, bool, Option<u64>)],
    ) -> (State, Vec<(String, String, u32)>, Vec<Event>) {
        let (_dir, config) = test_config(SOURCES);
        let mut state = State::default();
        let mut events = Vec::new();
        for &(hour, job, ok, count) in steps {
            let j = config.job(job).expect("job configured");
            let msg = if ok {
                "downloaded"
            } else {
                "Cloudflare challenge"
            };
            apply(
                &config,
                &mut state,
                &mut events,
                j,
                &result(j, ok, msg.into(), 0, count),
                at(hour),
            );
        }
        let alerts = state
            .outbox
            .iter()
            .map(|e| {
                (
                    e.alert.job.clone(),
                    e.alert.kind.as_str().to_string(),
                    e.alert.at.format("%H").to_string().parse().unwrap_or(99),
                )
            })
            .collect();
        (state, alerts, events)
    }

    #[test]
    fn seed_000_a_temporary_failure_sends_no_alert() {
        let (state, alerts, _) = feed(&[(9, "fastdl", false, None), (12, "fastdl", true, Some(5))]);
        assert!(alerts.is_empty(), "{alerts:?}");
        let js = &state.jobs["fastdl"];
        assert_eq!(js.consecutive_failures, 0);
        assert_eq!(js.last_success, Some(at(12)));
        assert_eq!(js.total_count, 5);
    }

    #[test]
    fn seed_000_a_persistent_failure_sends_exactly_one_alert_at_twelve() {
        let (state, alerts, _) = feed(&[
            (9, "fastdl", false, None),
            (12, "fastdl", false, None),
            (15, "fastdl", false, None),
        ]);
        assert_eq!(
            alerts,
            vec![("fastdl".to_string(), "failure".to_string(), 12)]
        );
        let alert = &state.outbox[0].alert;
        assert_eq!(alert.consecutive_failures, 2);
        assert_eq!(alert.failing_since, Some(at(9)));
        assert_eq!(alert.last_success, None);
        assert_eq!(alert.message, "Cloudflare challenge");
        assert_eq!(state.jobs["fastdl"].consecutive_failures, 3);
        // Two failures within less than 3 hours are not enough.
        let (_, alerts, _) = feed(&[(9, "fastdl", false, None), (11, "fastdl", false, None)]);
        assert!(alerts.is_empty(), "{alerts:?}");
    }

    #[test]
    fn seed_000_several_sources_are_judged_independently() {
        let (state, alerts, _) = feed(&[
            (9, "fastdl", true, Some(3)),
            (9, "toolzu", false, None),
            (12, "fastdl", true, Some(2)),
            (12, "toolzu", false, None),
        ]);
        assert_eq!(
            alerts,
            vec![("toolzu".to_string(), "failure".to_string(), 12)]
        );
        assert_eq!(state.jobs["fastdl"].total_count, 5);
        assert_eq!(state.jobs["fastdl"].status, crate::state::JobStatus::Ok);
        assert_eq!(state.jobs["toolzu"].consecutive_failures, 2);
    }

    #[test]
    fn a_pushed_result_keeps_seed_001s_metrics_and_a_report_event() {
        let (state, alerts, events) = feed(&[
            (9, "fastdl", true, Some(120)),
            (10, "fastdl", true, Some(95)),
            (11, "fastdl", false, None),
            (12, "fastdl", false, None),
        ]);
        assert!(alerts.is_empty(), "a streak younger than 3h alerts nobody");
        let js = &state.jobs["fastdl"];
        assert_eq!(js.total_count, 215, "counts are summed");
        assert_eq!(js.last_run, Some(at(12)));
        assert_eq!(js.last_success, Some(at(10)));
        assert_eq!(js.consecutive_failures, 2);
        assert_eq!(js.last_pushed, Some(at(12)));
        assert_eq!(js.first_seen, Some(at(9)));
        assert_eq!((js.total_attempts, js.successes, js.failures), (4, 2, 2));
        assert!(events.iter().all(|e| e.event == EventKind::Report));
        assert_eq!(
            events.iter().map(|e| e.count).collect::<Vec<_>>(),
            vec![Some(120), Some(95), None, None]
        );
    }

    #[test]
    fn a_late_success_recovers_and_says_so() {
        let (state, alerts, _) = feed(&[
            (9, "toolzu", false, None),
            (12, "toolzu", false, None),
            (18, "toolzu", true, Some(1)),
        ]);
        assert_eq!(
            alerts,
            vec![
                ("toolzu".to_string(), "failure".to_string(), 12),
                ("toolzu".to_string(), "recovery".to_string(), 18)
            ]
        );
        assert_eq!(state.outbox[1].alert.consecutive_failures, 2);
    }
}
