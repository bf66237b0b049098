//! The rules of SPEC §10 through the one record path, with a controlled clock.

use super::*;
use crate::engine::record::{record, result, Source};
use crate::history::EventKind;
use crate::state::{Covers, Silence};
use chrono::TimeZone;

/// A configuration of `jobs`, with `extra` appended to the settings.
fn setup(extra: &str, jobs: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(
        dir.path().join("settings.toml"),
        format!(
            "[general]\nservername = \"testbox\"\nalertcontact = \"ops@example.com\"\n\n\
             [email]\nenabled = false\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
             [defaults]\nnotify = [\"email\"]\n{extra}"
        ),
    )
    .expect("settings");
    std::fs::write(dir.path().join("jobs/jobs.toml"), jobs).expect("jobs");
    let config = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
    (dir, config)
}

fn job(name: &str, mode: &str, parents: &[&str]) -> String {
    let list: Vec<String> = parents.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "[[job]]\nname = \"{name}\"\nkind = \"passive\"\nnotify_every = \"{mode}\"\nfailures_before_notify = 1\ndepends_on = [{}]\n",
        list.join(", ")
    )
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

fn minute(m: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(m)
}

/// A state and its history, fed results one at a time.
struct Run {
    config: Config,
    state: State,
    events: Vec<Event>,
    _dir: tempfile::TempDir,
}

impl Run {
    fn new(extra: &str, jobs: &str) -> Run {
        let (dir, config) = setup(extra, jobs);
        Run {
            config,
            state: State::default(),
            events: Vec::new(),
            _dir: dir,
        }
    }

    /// Records a result of `name` at minute `m`; returns the alerts it queued: 'F' for a
    /// failure, 'R' for a recovery.
    fn step(&mut self, name: &str, ok: bool, m: i64) -> String {
        let job = self.config.job(name).expect("configured").clone();
        let before = self.state.outbox.len();
        let r = result(&job, ok, if ok { "fine" } else { "down" }.into(), 1, None);
        record(
            &self.config,
            &mut self.state,
            &mut self.events,
            &job,
            &r,
            minute(m),
            Source::Check,
        );
        self.state.outbox[before..]
            .iter()
            .map(|e| match e.alert.kind {
                crate::notify::AlertKind::Recovery => 'R',
                _ => 'F',
            })
            .collect()
    }

    fn silence(&mut self, covers: Covers, from: i64, until: i64) -> String {
        let id = crate::engine::silences::new_id(&self.state);
        let s = Silence {
            id: id.clone(),
            covers,
            from: minute(from),
            until: minute(until),
            reason: Some("reboot".into()),
            who: "alice".into(),
            created: minute(from),
        };
        crate::engine::silences::add(&mut self.state, &mut self.events, s, minute(from));
        id
    }

    /// The messages of the "suppressed" events so far.
    fn held(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.event == EventKind::Suppressed)
            .filter_map(|e| e.message.clone())
            .collect()
    }
}

fn web(mode: &str) -> String {
    job("web", mode, &[])
}

#[test]
fn a_silence_started_mid_streak_holds_reminders_and_an_alerted_streak_does_not_alert_again() {
    // state_change: alerted at the first failure; the silence changes nothing after it,
    // and when it ends the known outage does not alert again (Uptime Kuma #2846).
    let mut run = Run::new("", &web("state_change"));
    assert_eq!(run.step("web", false, 0), "F");
    run.silence(Covers::All, 1, 30);
    assert_eq!(run.step("web", false, 2), "");
    assert_eq!(
        run.step("web", false, 31),
        "",
        "the silence is over, the streak was told"
    );
    // The recovery notice goes out, silence or not.
    run.silence(Covers::All, 32, 60);
    assert_eq!(run.step("web", true, 33), "R");

    // every: each failure alerts; the silence holds them back, each one an event.
    let mut run = Run::new("", &web("every"));
    assert_eq!(run.step("web", false, 0), "F");
    let id = run.silence(Covers::Jobs(vec!["web".into()]), 1, 30);
    assert_eq!(run.step("web", false, 2), "");
    assert_eq!(run.step("web", false, 3), "");
    assert_eq!(run.held().len(), 2);
    assert_eq!(
        run.held()[0],
        format!("failure alert held back (silence {id}): down")
    );
    assert_eq!(run.step("web", false, 30), "F", "over at its `until`");
    assert!(run.state.jobs["web"].held.is_none());
    // The check results are recorded all the same.
    let results = run
        .events
        .iter()
        .filter(|e| e.event == EventKind::Result)
        .count();
    assert_eq!(results, 4);
}

#[test]
fn a_silence_expiring_mid_streak_lets_the_first_alert_out_at_the_next_failing_check() {
    let mut run = Run::new("", &web("state_change"));
    let id = run.silence(Covers::Match("w*".into()), 0, 10);
    assert_eq!(run.step("web", false, 1), "");
    assert_eq!(run.step("web", false, 2), "");
    assert_eq!(run.step("web", false, 9), "");
    // One event: the one alert state_change would have sent.
    assert_eq!(
        run.held(),
        [format!("failure alert held back (silence {id}): down")]
    );
    let js = &run.state.jobs["web"];
    assert!(!js.notified, "nobody has been told");
    assert_eq!(js.held.as_ref().map(|h| h.since), Some(minute(1)));
    assert_eq!(run.step("web", false, 11), "F");
    assert_eq!(run.step("web", false, 12), "");
    assert_eq!(run.step("web", true, 13), "R");
    // A streak held back whole recovers in silence: nobody was told it began.
    let mut run = Run::new("", &web("state_change"));
    run.silence(Covers::All, 0, 10);
    assert_eq!(run.step("web", false, 1), "");
    assert_eq!(run.step("web", true, 2), "");
    assert!(run.state.jobs["web"].held.is_none());
}

#[test]
fn a_scheduled_silence_holds_nothing_before_it_starts() {
    let mut run = Run::new("", &web("every"));
    // Minutes 5 to 10: at minute 1 it has not started.
    run.silence(Covers::All, 5, 10);
    assert_eq!(run.step("web", false, 1), "F");
    assert_eq!(run.step("web", false, 6), "");
}

#[test]
fn an_ack_ends_the_reminders_of_its_streak_only_and_the_recovery_still_goes_out() {
    let mut run = Run::new("", &web("every"));
    assert_eq!(run.step("web", false, 0), "F");
    let js = run.state.jobs.get_mut("web").expect("web");
    js.ack = Some(Ack {
        at: minute(1),
        who: "alice".into(),
        comment: Some("on it".into()),
        streak: js.first_failure,
    });
    assert_eq!(run.step("web", false, 2), "");
    assert_eq!(run.step("web", false, 3), "");
    assert_eq!(
        run.held(),
        ["failure alert held back (acknowledged): down"; 2]
    );
    assert_eq!(run.step("web", true, 4), "R");
    assert!(run.state.jobs["web"].ack.is_none(), "the streak ended");
    assert_eq!(
        run.step("web", false, 5),
        "F",
        "a new streak is not acknowledged"
    );
    assert_eq!(run.step("web", false, 6), "F");
}

#[test]
fn an_ack_of_an_earlier_streak_does_not_hold_a_new_one() {
    // Even when it was left behind (a state from elsewhere), it belongs to its streak.
    let mut run = Run::new("", &web("every"));
    assert_eq!(run.step("web", false, 0), "F");
    assert_eq!(run.step("web", true, 1), "R");
    run.state.jobs.get_mut("web").expect("web").ack = Some(Ack {
        at: minute(0),
        who: "alice".into(),
        comment: None,
        streak: Some(minute(0)),
    });
    assert_eq!(run.step("web", false, 2), "F");
}

fn family() -> String {
    [
        job("internet", "state_change", &[]),
        job("shop", "state_change", &["internet"]),
    ]
    .concat()
}

#[test]
fn a_parent_and_child_failing_together_then_the_parent_recovering_first() {
    let mut run = Run::new("", &family());
    // Same moment, parent first (as a run records them).
    assert_eq!(run.step("internet", false, 0), "F");
    assert_eq!(run.step("shop", false, 0), "");
    assert_eq!(run.step("internet", false, 1), "");
    assert_eq!(run.step("shop", false, 1), "");
    assert_eq!(
        run.held(),
        ["failure alert held back (parent \"internet\" failing): down"]
    );
    // The parent recovers; the child still fails: it alerts at its next failing check.
    assert_eq!(run.step("internet", true, 2), "R");
    assert_eq!(run.step("shop", false, 2), "F");
    assert_eq!(run.step("shop", true, 3), "R");
}

#[test]
fn a_parent_and_child_failing_together_then_the_child_recovering_first() {
    let mut run = Run::new("", &family());
    assert_eq!(run.step("internet", false, 0), "F");
    assert_eq!(run.step("shop", false, 0), "");
    // The child recovers while the parent still fails: nobody was told, nothing to say.
    assert_eq!(run.step("shop", true, 1), "");
    assert_eq!(run.step("internet", true, 2), "R");
    assert_eq!(
        run.step("shop", false, 3),
        "F",
        "a failure of its own alerts"
    );
}

#[test]
fn a_child_told_before_its_parent_failed_still_gets_its_recovery() {
    let mut run = Run::new("", &family().replace("\"state_change\"", "\"every\""));
    assert_eq!(run.step("shop", false, 0), "F");
    assert_eq!(run.step("internet", false, 1), "F");
    assert_eq!(run.step("shop", false, 1), "", "its reminder is held back");
    assert_eq!(
        run.step("shop", true, 2),
        "R",
        "recovery notices are never held"
    );
}

#[test]
fn a_disabled_or_missing_parent_holds_nothing() {
    let jobs = [
        job("internet", "every", &[]).replace("depends_on", "enabled = false\ndepends_on"),
        job("shop", "every", &["internet"]),
    ]
    .concat();
    let mut run = Run::new("", &jobs);
    run.state.jobs.entry("internet".into()).or_default().status = JobStatus::Failing;
    assert_eq!(run.step("shop", false, 0), "F");
}

#[test]
fn a_maintenance_window_holds_back_alerts_of_the_jobs_it_covers_while_open() {
    // Every day 10:05 for 10 minutes, UTC (t0 is 10:00).
    let window = "[[maintenance]]\nname = \"deploy\"\njobs = [\"we*\"]\nstart = \"10:05\"\nduration = \"10m\"\n";
    let jobs = [web("every"), job("db", "every", &[])].concat();
    let mut run = Run::new(window, &jobs);
    assert_eq!(run.step("web", false, 4), "F");
    assert_eq!(run.step("web", false, 5), "");
    assert_eq!(run.step("db", false, 5), "F", "not covered");
    assert_eq!(run.step("web", false, 14), "");
    assert_eq!(run.step("web", false, 15), "F", "closed at its end");
    assert_eq!(
        run.held()[0],
        "failure alert held back (maintenance \"deploy\"): down"
    );
    let web = run.config.job("web").expect("web").clone();
    let during = view(&run.config, &run.state, &web, minute(7));
    assert_eq!(during.silenced_until, Some(minute(15)));
    assert_eq!(during.suppressed_by, ["maintenance \"deploy\""]);
    assert!(!during.acknowledged);
    assert_eq!(
        view(&run.config, &run.state, &web, minute(16)),
        View::default()
    );
}

#[test]
fn held_back_alerts_are_told_at_the_pace_of_notify_every_and_again_on_a_new_reason() {
    let mut run = Run::new(
        "",
        &[
            job("internet", "every", &[]),
            job("web", "hour", &["internet"]),
        ]
        .concat(),
    );
    run.silence(Covers::Jobs(vec!["web".into()]), 0, 90);
    for m in 0..150 {
        run.step("internet", m >= 60, m);
        let out = run.step("web", false, m);
        assert!(out.is_empty() || m >= 90, "minute {m}: {out}");
    }
    let held = run.held();
    // Held back by the silence at minutes 0 and 60 (hourly, as the job would have been
    // reminded); at 90 the silence is over and the parent has recovered: it goes out.
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(run.state.jobs["web"].last_notify, Some(minute(90)));
}

#[test]
fn the_gate_names_every_reason_in_order_and_the_first_one_wins() {
    let window = "[[maintenance]]\nname = \"always\"\ncron = \"* * * * *\"\nduration = \"1h\"\n";
    let mut run = Run::new(window, &family());
    run.step("internet", false, 0);
    run.step("shop", false, 0);
    let id = run.silence(Covers::All, 0, 100);
    let js = run.state.jobs.get_mut("shop").expect("shop");
    js.ack = Some(Ack {
        at: minute(0),
        who: "bob".into(),
        comment: None,
        streak: js.first_failure,
    });
    let shop = run.config.job("shop").expect("shop").clone();
    let labels: Vec<String> = reasons(&run.config, &run.state, &shop, minute(1))
        .iter()
        .map(Reason::label)
        .collect();
    assert_eq!(
        labels,
        [
            format!("silence {id}"),
            "maintenance \"always\"".into(),
            "acknowledged".into(),
            "parent \"internet\" failing".into()
        ]
    );
    assert_eq!(
        gate(&run.config, &run.state, &shop, minute(1)).map(|r| r.label()),
        Some(format!("silence {id}"))
    );
    let v = view(&run.config, &run.state, &shop, minute(1));
    assert!(v.acknowledged);
    assert_eq!(
        v.silenced_until,
        Some(minute(100)),
        "the later of the two ends"
    );
}

#[test]
fn parents_are_recorded_before_their_children_whatever_the_order_written() {
    let jobs = [
        job("c", "every", &["b"]),
        job("b", "every", &["a"]),
        job("x", "every", &[]),
        job("a", "every", &[]),
    ]
    .concat();
    let (_dir, config) = setup("", &jobs);
    let refs: Vec<&Job> = config.jobs.iter().collect();
    let order: Vec<&str> = parents_first(&config, &refs)
        .into_iter()
        .map(|i| refs[i].name.as_str())
        .collect();
    assert_eq!(order, ["x", "a", "b", "c"]);
}
