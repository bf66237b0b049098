//! The silences kept in the state (`checker silence`, `unsilence`): one added with a fresh
//! id, ended by id, by job or all at once, and dropped once over, each change with its
//! history event. Pure: the commands hold the state lock (`Txn`) and print.

use chrono::{DateTime, Utc};

use crate::history::{Event, EventKind};
use crate::state::{Covers, Silence, State};

/// A fresh silence id: `s-` and eight hex digits, unused in `state`.
pub fn new_id(state: &State) -> String {
    loop {
        let id = format!("s-{:08x}", rand::random::<u32>());
        if !state.silences.iter().any(|s| s.id == id) {
            return id;
        }
    }
}

/// Adds `s` to the state, with its history event(s): one per job it names, or one for
/// all jobs.
pub fn add(state: &mut State, events: &mut Vec<Event>, s: Silence, now: DateTime<Utc>) {
    let starts = if s.from > now {
        format!(" from {}", s.from.format("%Y-%m-%d %H:%M:%S UTC"))
    } else {
        String::new()
    };
    let text = format!(
        "silence {} set by {}{starts} until {} on {}{}",
        s.id,
        s.who,
        s.until.format("%Y-%m-%d %H:%M:%S UTC"),
        s.describe_covers(),
        s.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    log::info!("{text}");
    push_events(events, &s, now, &text);
    state.silences.push(s);
}

fn push_events(events: &mut Vec<Event>, s: &Silence, now: DateTime<Utc>, text: &str) {
    let jobs: Vec<Option<&str>> = match &s.covers {
        Covers::Jobs(jobs) => jobs.iter().map(|j| Some(j.as_str())).collect(),
        _ => vec![None],
    };
    for job in jobs {
        let mut ev = Event::new(now, EventKind::Silence, job);
        ev.message = Some(text.to_string());
        events.push(ev);
    }
}

/// Drops the silences that are over at `now`; an event for each.
pub fn drop_over(state: &mut State, now: DateTime<Utc>) -> Vec<Event> {
    let mut events = Vec::new();
    if state.silences.iter().all(|s| !s.is_over(now)) {
        return events;
    }
    let (over, kept): (Vec<Silence>, Vec<Silence>) = std::mem::take(&mut state.silences)
        .into_iter()
        .partition(|s| s.is_over(now));
    state.silences = kept;
    for s in &over {
        let text = format!(
            "silence {} is over (it ended {}; set by {})",
            s.id,
            s.until.format("%Y-%m-%d %H:%M:%S UTC"),
            s.who
        );
        log::info!("{text}");
        push_events(&mut events, s, now, &text);
    }
    events
}

/// What `unsilence` ends.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Id(&'a str),
    /// The job is taken out of every silence that names it; a silence left with no job
    /// ends.
    Job(&'a str),
    All,
}

/// One silence changed by `unsilence`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub id: String,
    /// `true`: the silence ended; `false`: only the job was taken out of it.
    pub ended: bool,
}

/// What `unsilence` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    pub changes: Vec<Change>,
    /// For a job: the silences that still cover it because they cover all jobs or a glob
    /// (ended only by id).
    pub still_covered_by: Vec<String>,
}

/// Ends silences (those that have not started yet too). An unknown id, or a job covered
/// only by silences of all jobs or of a glob, is an error that says what to do; nothing
/// is changed then.
pub fn end(
    state: &mut State,
    events: &mut Vec<Event>,
    target: Target<'_>,
    who: &str,
    now: DateTime<Utc>,
) -> Result<Ended, String> {
    let mut out = Ended::default();
    match target {
        Target::Id(id) => {
            let Some(i) = state.silences.iter().position(|s| s.id == id) else {
                let known: Vec<&str> = state.silences.iter().map(|s| s.id.as_str()).collect();
                return Err(format!(
                    "unknown silence id {id:?}: {} (see `checker silences`)",
                    if known.is_empty() {
                        "there are no silences".to_string()
                    } else {
                        format!("the silences are {}", known.join(", "))
                    }
                ));
            };
            let s = state.silences.remove(i);
            ended(events, &s, who, now);
            out.changes.push(Change {
                id: s.id,
                ended: true,
            });
        }
        Target::All => {
            for s in std::mem::take(&mut state.silences) {
                ended(events, &s, who, now);
                out.changes.push(Change {
                    id: s.id,
                    ended: true,
                });
            }
        }
        Target::Job(job) => {
            let broader: Vec<String> = state
                .silences
                .iter()
                .filter(|s| !matches!(s.covers, Covers::Jobs(_)) && s.covers(job))
                .map(|s| format!("{} ({})", s.id, s.describe_covers()))
                .collect();
            let named = state.silences.iter().any(|s| match &s.covers {
                Covers::Jobs(jobs) => jobs.iter().any(|j| j == job),
                _ => false,
            });
            if !named && !broader.is_empty() {
                return Err(format!(
                    "job {job:?} is silenced by {}: end it with `checker unsilence ID`",
                    broader.join(", ")
                ));
            }
            out.still_covered_by = broader;
            let mut kept = Vec::new();
            for mut s in std::mem::take(&mut state.silences) {
                let Covers::Jobs(jobs) = &mut s.covers else {
                    kept.push(s);
                    continue;
                };
                if !jobs.iter().any(|j| j == job) {
                    kept.push(s);
                    continue;
                }
                jobs.retain(|j| j != job);
                if jobs.is_empty() {
                    let mut whole = s.clone();
                    whole.covers = Covers::Jobs(vec![job.to_string()]);
                    ended(events, &whole, who, now);
                    out.changes.push(Change {
                        id: s.id,
                        ended: true,
                    });
                } else {
                    let mut ev = Event::new(now, EventKind::Silence, Some(job));
                    ev.message = Some(format!(
                        "{job} taken out of silence {} by {who} (it goes on for {})",
                        s.id,
                        s.describe_covers()
                    ));
                    events.push(ev);
                    out.changes.push(Change {
                        id: s.id.clone(),
                        ended: false,
                    });
                    kept.push(s);
                }
            }
            state.silences = kept;
        }
    }
    Ok(out)
}

fn ended(events: &mut Vec<Event>, s: &Silence, who: &str, now: DateTime<Utc>) {
    let text = format!(
        "silence {} ended by {who} (set by {} until {})",
        s.id,
        s.who,
        s.until.format("%Y-%m-%d %H:%M:%S UTC")
    );
    log::info!("{text}");
    push_events(events, s, now, &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn silence(id: &str, covers: Covers, until: u32) -> Silence {
        Silence {
            id: id.into(),
            covers,
            from: t(0),
            until: t(until),
            reason: None,
            who: "alice".into(),
            created: t(0),
        }
    }

    fn ids(state: &State) -> Vec<&str> {
        state.silences.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn silences_over_are_dropped_with_an_event_per_job_they_named() {
        let mut state = State::default();
        let mut events = Vec::new();
        let jobs = |j: &[&str]| Covers::Jobs(j.iter().map(|s| s.to_string()).collect());
        add(
            &mut state,
            &mut events,
            silence("s-1", jobs(&["web", "db"]), 2),
            t(0),
        );
        add(
            &mut state,
            &mut events,
            silence("s-2", Covers::All, 5),
            t(0),
        );
        assert_eq!(events.len(), 3, "web, db, and all jobs");
        assert_eq!(events[0].job.as_deref(), Some("web"));
        assert_eq!(events[2].job, None);
        assert!(drop_over(&mut state, t(1)).is_empty());
        let over = drop_over(&mut state, t(2));
        assert_eq!(ids(&state), ["s-2"]);
        assert_eq!(over.len(), 2);
        assert!(over[0]
            .message
            .as_deref()
            .unwrap_or("")
            .starts_with("silence s-1 is over"));
        assert_eq!(over[0].event, EventKind::Silence);
    }

    #[test]
    fn unsilencing_a_job_takes_it_out_and_ends_a_silence_left_empty_or_says_what_covers_it() {
        let mut state = State::default();
        let mut events = Vec::new();
        let jobs = |j: &[&str]| Covers::Jobs(j.iter().map(|s| s.to_string()).collect());
        state.silences = vec![
            silence("s-a", jobs(&["web", "db"]), 5),
            silence("s-b", jobs(&["web"]), 5),
            silence("s-c", Covers::Match("web*".into()), 5),
        ];
        let done = end(&mut state, &mut events, Target::Job("web"), "bob", t(1)).expect("ok");
        assert_eq!(
            done.changes,
            [
                Change {
                    id: "s-a".into(),
                    ended: false
                },
                Change {
                    id: "s-b".into(),
                    ended: true
                }
            ]
        );
        assert_eq!(done.still_covered_by, ["s-c (jobs matching web*)"]);
        assert_eq!(ids(&state), ["s-a", "s-c"]);
        assert_eq!(state.silences[0].covers, jobs(&["db"]));
        // Now only the glob covers it: an error, and nothing changes.
        let e = end(&mut state, &mut events, Target::Job("web"), "bob", t(1)).expect_err("glob");
        assert_eq!(e, "job \"web\" is silenced by s-c (jobs matching web*): end it with `checker unsilence ID`");
        assert_eq!(ids(&state), ["s-a", "s-c"]);
        // Not silenced at all: nothing to do, no error.
        let none = end(&mut state, &mut events, Target::Job("api"), "bob", t(1)).expect("ok");
        assert_eq!(none, Ended::default());
        let e = end(&mut state, &mut events, Target::Id("s-zz"), "bob", t(1)).expect_err("unknown");
        assert!(
            e.starts_with("unknown silence id \"s-zz\": the silences are s-a, s-c"),
            "{e}"
        );
        end(&mut state, &mut events, Target::Id("s-c"), "bob", t(1)).expect("known");
        let all = end(&mut state, &mut events, Target::All, "bob", t(1)).expect("all");
        assert_eq!(all.changes.len(), 1);
        assert!(state.silences.is_empty());
        let last = events
            .last()
            .and_then(|e| e.message.clone())
            .unwrap_or_default();
        assert!(last.starts_with("silence s-a ended by bob"), "{last}");
    }

    #[test]
    fn fresh_ids_are_unique_and_shaped_alike() {
        let mut state = State::default();
        for _ in 0..200 {
            let id = new_id(&state);
            assert!(id.len() == 10 && id.starts_with("s-"), "{id}");
            assert!(!ids(&state).contains(&id.as_str()));
            state.silences.push(silence(&id, Covers::All, 1));
        }
    }
}
