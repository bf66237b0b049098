//! The confirmation decision (`quorum::decide`) driven through the engine's record path
//! on a controlled clock. Here, under `engine`, so that `quorum` never imports `engine`.

use std::collections::HashMap;

use chrono::TimeZone;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::check::CheckResult;
use crate::config::Config;
use crate::engine::record::{record_asked, Source};
use crate::history::{Event, EventKind};
use crate::notify::AlertKind;
use crate::quorum::decide::*;
use crate::quorum::wire::PeerState;
use crate::quorum::wire::{PeerJob, PeerJobs};
use crate::quorum::{Answers, Asked};
use crate::rules::{Decision, Marks};
use crate::state::State;
use crate::state::{Confirmation, JobState, JobStatus, Place, Sees};

/// This instance ("here") and peers "b" and "c" (c also under another name), with the
/// job `jobs` written in a job file.
fn setup(jobs: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(
        dir.path().join("settings.toml"),
        "[general]\nservername = \"here\"\nalertcontact = \"ops@example.com\"\n\n\
         [email]\nenabled = false\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
         [defaults]\nnotify = [\"email\"]\n\n\
         [[peers]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/\"\n\n\
         [[peers]]\nname = \"c\"\nurl = \"http://127.0.0.1:9/\"\n",
    )
    .expect("settings");
    std::fs::write(dir.path().join("jobs/jobs.toml"), jobs).expect("jobs");
    let config = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
    (dir, config)
}

const SHOP: &str = "[[job]]\nname = \"shop\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
    timeout = \"10s\"\nnotify_every = \"state_change\"\nfailures_before_notify = 1\n\
    confirm_with = [\"b\", \"c\"]\n";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(n)
}

/// A peer's answer at `at` about `job`: failing or ok, checked a minute before.
fn says(job: &str, failing: bool, at: DateTime<Utc>) -> Asked {
    let entry = PeerJob {
        state: if failing {
            PeerState::Failing
        } else {
            PeerState::Ok
        },
        consecutive_failures: Some(u32::from(failing)),
        last_run: Some(at - chrono::Duration::minutes(1)),
        interval: Some(Duration::from_secs(60)),
        message: failing.then(|| "connection refused".to_string()),
    };
    Asked {
        after: Duration::from_millis(40),
        answer: Ok(PeerJobs {
            servername: Some("peer".into()),
            generated_at: Some(at),
            jobs: HashMap::from([(job.to_string(), entry)]),
        }),
    }
}

fn answers(list: Vec<(&str, Asked)>) -> Answers {
    Answers {
        peers: list.into_iter().map(|(p, a)| (p.to_string(), a)).collect(),
    }
}

fn failing_state() -> JobState {
    JobState {
        status: JobStatus::Failing,
        consecutive_failures: 1,
        ..JobState::default()
    }
}

fn views(c: &Confirmation) -> Vec<(&str, Sees, bool)> {
    c.places
        .iter()
        .map(|p| (p.name.as_str(), p.sees, p.counted))
        .collect()
}

#[test]
fn a_failure_is_confirmed_when_enough_places_see_it_and_each_place_is_named() {
    let (_d, config) = setup(SHOP);
    let job = config.job("shop").unwrap();
    assert_eq!(job.confirm.as_ref().unwrap().min, 2, "a majority of 3");
    let now = minutes(5);
    let a = answers(vec![
        ("b", says("shop", true, now)),
        ("c", says("shop", false, now)),
    ]);
    let c = confirm("here", job, &failing_state(), &a, now).unwrap();
    assert!(c.confirmed);
    assert_eq!(
        views(&c),
        [
            ("here", Sees::Failing, true),
            ("b", Sees::Failing, true),
            ("c", Sees::Ok, false)
        ]
    );
    assert_eq!(c.confirmed_by(), ["here", "b"]);
    assert_eq!(c.not_confirmed_by(), ["c"]);
    assert_eq!(
        describe(&c, Some(Verdict::Confirmed)),
        "confirmed by 2 of 3 places (2 needed): here, b; not by c (sees it ok)"
    );

    // Seen by this instance alone: not confirmed.
    let a = answers(vec![
        ("b", says("shop", false, now)),
        ("c", says("shop", false, now)),
    ]);
    let c = confirm("here", job, &failing_state(), &a, now).unwrap();
    assert!(!c.confirmed);
    assert_eq!(
        describe(&c, Some(Verdict::NotConfirmed)),
        "not confirmed: seen failing by 1 of 3 places (2 needed): here; not by b (sees it ok), c (sees it ok)"
    );
    // Seen by the two peers but not here: counted 2, but the job passes here, so the
    // engine never asks for an alert (the rules decide nothing for a pass).
    let a = answers(vec![
        ("b", says("shop", true, now)),
        ("c", says("shop", true, now)),
    ]);
    let ok = JobState {
        status: JobStatus::Ok,
        ..JobState::default()
    };
    let c = confirm("here", job, &ok, &a, now).unwrap();
    assert_eq!(views(&c)[0], ("here", Sees::Ok, false));
}

#[test]
fn a_peer_that_cannot_say_is_unknown_with_its_reason_and_counts_as_the_job_says() {
    let (_d, config) = setup(SHOP);
    let job = config.job("shop").unwrap();
    let now = minutes(5);
    let late = Asked {
        after: Duration::from_secs(11),
        ..says("shop", true, now)
    };
    let mut stale = says("shop", true, now);
    if let Ok(p) = &mut stale.answer {
        p.jobs.get_mut("shop").unwrap().last_run = Some(now - chrono::Duration::minutes(3));
    }
    let mut pending = says("shop", true, now);
    if let Ok(p) = &mut pending.answer {
        p.jobs.get_mut("shop").unwrap().state = PeerState::Other("pending".into());
    }
    let mut never = says("shop", true, now);
    if let Ok(p) = &mut never.answer {
        p.jobs.get_mut("shop").unwrap().last_run = None;
    }
    let cases: Vec<(Option<Asked>, &str)> = vec![
        (
            None,
            "not asked: this result did not come from a check of this instance",
        ),
        (
            Some(Asked {
                after: Duration::from_secs(2),
                answer: Err("no answer: connection refused".into()),
            }),
            "no answer: connection refused",
        ),
        (
            Some(late),
            "answered late: after 11.0 s, past the job's timeout of 10s",
        ),
        (Some(says("other", true, now)), "it has no job \"shop\""),
        (
            Some(stale),
            "its last check of \"shop\" is 3m old, more than twice its interval of 1m",
        ),
        (Some(pending), "it says \"shop\" is \"pending\""),
        (Some(never), "it has not checked \"shop\" yet"),
    ];
    for (asked, why) in cases {
        let mut a = answers(vec![("c", says("shop", false, now))]);
        if let Some(asked) = asked {
            a.peers.insert("b".into(), asked);
        }
        let c = confirm("here", job, &failing_state(), &a, now).unwrap();
        assert_eq!(views(&c)[1], ("b", Sees::Unknown, false), "{why}");
        assert_eq!(c.places[1].detail.as_deref(), Some(why));
        assert!(!c.confirmed, "{why}");
    }

    // With confirm_unknown = "failing", the same peer counts as seeing the failure.
    let (_d, config) = setup(&format!("{SHOP}confirm_unknown = \"failing\"\n"));
    let job = config.job("shop").unwrap();
    let a = answers(vec![("c", says("shop", false, now))]);
    let c = confirm("here", job, &failing_state(), &a, now).unwrap();
    assert!(c.confirmed);
    assert_eq!(views(&c)[1], ("b", Sees::Unknown, true));
    assert_eq!(
        describe(&c, None),
        "confirmed by 2 of 3 places (2 needed): here, b (counted as failing: not asked: this result did not come from a check of this instance); not by c (sees it ok)"
    );
}

#[test]
fn a_peer_is_asked_about_confirm_job_when_its_name_differs_there() {
    let (_d, config) = setup(&format!("{SHOP}confirm_job = \"shop front\"\n"));
    let job = config.job("shop").unwrap();
    let now = minutes(5);
    let a = answers(vec![
        ("b", says("shop front", true, now)),
        ("c", says("shop", true, now)),
    ]);
    let c = confirm("here", job, &failing_state(), &a, now).unwrap();
    assert_eq!(views(&c)[1], ("b", Sees::Failing, true));
    assert_eq!(views(&c)[2], ("c", Sees::Unknown, false));
    assert_eq!(
        crate::quorum::ask::plan(&config, &config.jobs, Duration::from_secs(50))
            .iter()
            .map(|a| (a.peer.as_str(), a.jobs.iter().cloned().collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
        [
            ("b", vec!["shop front".to_string()]),
            ("c", vec!["shop front".to_string()])
        ],
        "each peer once, asked about the name it knows"
    );
}

/// Feeds results of `job` at the given minutes, each with the peers' answers, through
/// the engine's record path; returns the alerts queued (kind and message) and the events.
fn run(
    config: &Config,
    steps: &[(i64, bool, Answers)],
) -> (State, Vec<(AlertKind, String)>, Vec<Event>) {
    let job = config.job("shop").unwrap();
    let mut state = State::default();
    let mut events = Vec::new();
    for (minute, ok, answers) in steps {
        let r = CheckResult {
            job: "shop".into(),
            ok: *ok,
            message: if *ok {
                "connected"
            } else {
                "connection refused"
            }
            .into(),
            duration_ms: 3,
            attempts: 1,
            ..CheckResult::default()
        };
        let now = minutes(*minute);
        record_asked(
            config,
            &mut state,
            &mut events,
            job,
            &r,
            now,
            Source::Check,
            answers,
        );
    }
    let alerts = state
        .outbox
        .iter()
        .map(|e| (e.alert.kind, e.alert.message.clone()))
        .collect();
    (state, alerts, events)
}

fn both(b: bool, c: bool, minute: i64) -> Answers {
    let now = minutes(minute);
    answers(vec![
        ("b", says("shop", b, now)),
        ("c", says("shop", c, now)),
    ])
}

#[test]
fn a_failure_alerts_once_confirmed_and_ends_when_the_other_places_see_the_job_pass() {
    let (_d, config) = setup(SHOP);
    let steps = vec![
        // Seen here only: held back (state_change would have alerted at once).
        (0, false, both(false, false, 0)),
        // b sees it too: the one alert of the streak goes out, naming both.
        (1, false, both(true, false, 1)),
        (2, false, both(true, false, 2)),
        // b and c see it pass while it still fails here: the alert ends.
        (3, false, both(false, false, 3)),
        (4, false, both(false, false, 4)),
        // Confirmed again: a new alert.
        (5, false, both(true, true, 5)),
        // It passes here: the recovery, by the job's own view.
        (6, true, Answers::none()),
    ];
    let (state, alerts, events) = run(&config, &steps);
    let kinds: Vec<AlertKind> = alerts.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            AlertKind::Failure,
            AlertKind::Recovery,
            AlertKind::Failure,
            AlertKind::Recovery
        ]
    );
    assert_eq!(
        alerts[0].1,
        "connection refused — confirmed by 2 of 3 places (2 needed): here, b; not by c (sees it ok)"
    );
    assert_eq!(
        alerts[1].1,
        "no longer confirmed: seen failing by 1 of 3 places (2 needed): here; not by b (sees it ok), c (sees it ok); still failing here: connection refused"
    );
    assert_eq!(
        alerts[2].1,
        "connection refused — confirmed by 3 of 3 places (2 needed): here, b, c"
    );
    assert_eq!(alerts[3].1, "connected");
    let decisions: Vec<(Option<bool>, String)> = events
        .iter()
        .filter(|e| e.event == EventKind::Confirmation)
        .map(|e| {
            let m = e.message.clone().unwrap_or_default();
            (e.ok, m.split(':').next().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(
        decisions,
        [
            (Some(false), "not confirmed".to_string()),
            (
                Some(true),
                "confirmed by 2 of 3 places (2 needed)".to_string()
            ),
            (Some(false), "no longer confirmed".to_string()),
            // The streak is no longer alerted: state_change asks again, and it is held.
            (Some(false), "not confirmed".to_string()),
            (
                Some(true),
                "confirmed by 3 of 3 places (2 needed)".to_string()
            ),
        ]
    );
    let js = &state.jobs["shop"];
    assert_eq!(js.consecutive_failures, 0);
    assert_eq!(js.confirmation, None, "cleared when it passes");
}

#[test]
fn a_peer_that_stops_answering_never_ends_an_alert_nor_starts_one() {
    let (_d, config) = setup(&SHOP.replace("state_change", "every"));
    let now = |m| minutes(m);
    let b_down = |m: i64| {
        answers(vec![
            (
                "b",
                Asked {
                    after: Duration::from_secs(10),
                    answer: Err("no answer: timed out after 10s".into()),
                },
            ),
            ("c", says("shop", true, now(m))),
        ])
    };
    let c_ok_b_down = |m: i64| {
        answers(vec![
            (
                "b",
                Asked {
                    after: Duration::from_secs(1),
                    answer: Err("no answer: connection refused".into()),
                },
            ),
            ("c", says("shop", false, now(m))),
        ])
    };
    let steps = vec![
        (0, false, b_down(0)),
        // `every`: a reminder each failing check while confirmed...
        (1, false, b_down(1)),
        // ...held while it cannot be confirmed, without ending the alert: b may still see
        // it failing.
        (2, false, c_ok_b_down(2)),
        (3, false, c_ok_b_down(3)),
        (4, false, b_down(4)),
    ];
    let (state, alerts, _) = run(&config, &steps);
    let kinds: Vec<AlertKind> = alerts.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [AlertKind::Failure; 3], "{alerts:#?}");
    assert!(alerts[0]
        .1
        .ends_with("here, c; not by b (no answer: timed out after 10s)"));
    let c = state.jobs["shop"].confirmation.as_ref().unwrap();
    assert_eq!(c.at, minutes(4));
    assert!(c.confirmed);
}

#[test]
fn a_held_back_reminder_leaves_the_reminder_clock_as_it_was() {
    let (_d, config) = setup(&SHOP.replace("state_change", "10min"));
    let b_silent_c_ok = |m: i64| {
        answers(vec![
            (
                "b",
                Asked {
                    after: Duration::from_secs(1),
                    answer: Err("no answer: connection refused".into()),
                },
            ),
            ("c", says("shop", false, minutes(m))),
        ])
    };
    let steps = vec![
        (0, false, both(true, false, 0)),
        // 10min: a reminder is due after 9m15s; at minute 10 it cannot be confirmed...
        (10, false, b_silent_c_ok(10)),
        // ...and at minute 11 b answers again: the reminder goes out then, still counted
        // from minute 0 (had the held one moved the clock to minute 10, not before 19).
        (11, false, both(true, false, 11)),
    ];
    let (state, alerts, events) = run(&config, &steps);
    let kinds: Vec<AlertKind> = alerts.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [AlertKind::Failure, AlertKind::Failure],
        "{alerts:#?}"
    );
    assert_eq!(state.jobs["shop"].last_notify, Some(minutes(11)));
    let held: Vec<&Event> = events
        .iter()
        .filter(|e| e.event == EventKind::Confirmation && e.ok == Some(false))
        .collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].ts, minutes(10));
    assert_eq!(
        held[0].message.as_deref(),
        Some("not confirmed: seen failing by 1 of 3 places (2 needed): here; not by b (no answer: connection refused), c (sees it ok)")
    );
}

#[test]
fn the_gate_alone_holds_restores_and_ends() {
    let c = |counted: &[bool], unknown: &[bool], needed| Confirmation {
        at: t0(),
        confirmed: counted.iter().filter(|c| **c).count() >= needed as usize,
        needed,
        places: counted
            .iter()
            .zip(unknown)
            .enumerate()
            .map(|(i, (&counted, &unknown))| Place {
                name: format!("p{i}"),
                sees: if unknown {
                    Sees::Unknown
                } else if counted {
                    Sees::Failing
                } else {
                    Sees::Ok
                },
                counted,
                detail: None,
            })
            .collect(),
    };
    let mut earlier = failing_state();
    earlier.first_failure = Some(t0());
    earlier.notified = true;
    earlier.last_notify = Some(t0());
    let before = Marks::of(&earlier);
    let mut js = failing_state();
    js.notified = true;
    js.last_notify = Some(minutes(9));
    // A reminder not confirmed because one place is unknown: held, marks restored.
    let held = c(&[true, false, false], &[false, false, true], 2);
    let (d, v) = gate(Decision::Failure, Some(&held), before, &mut js, true);
    assert_eq!((d, v), (Decision::Nothing, Some(Verdict::NotConfirmed)));
    assert_eq!((js.last_notify, js.notified), (Some(t0()), true));
    // The same with the unknown place seeing it ok: the alert ends.
    let ended = c(&[true, false, false], &[false, false, false], 2);
    let (d, v) = gate(Decision::Failure, Some(&ended), before, &mut js, true);
    assert!(matches!(d, Decision::Recovery { failures: 1, .. }));
    assert_eq!(v, Some(Verdict::NoLongerConfirmed));
    assert_eq!((js.last_notify, js.notified), (None, false));
    // Without recovery notices it ends silently.
    js.notified = true;
    let (d, v) = gate(Decision::Nothing, Some(&ended), before, &mut js, false);
    assert_eq!(
        (d, v),
        (Decision::Nothing, Some(Verdict::NoLongerConfirmed))
    );
    assert!(!js.notified);
    // A job that passes is the rules' alone.
    let mut ok = JobState::default();
    let recovery = Decision::Recovery {
        failures: 2,
        since: None,
    };
    assert_eq!(
        gate(recovery.clone(), Some(&ended), before, &mut ok, true),
        (recovery, None)
    );
    // No confirmation: nothing changes.
    assert_eq!(
        gate(Decision::Failure, None, before, &mut js, true),
        (Decision::Failure, None)
    );
}
