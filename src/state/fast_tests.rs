//! The fast reader and writer against serde's derive: the same bytes out, the same state
//! in, and never a state where serde finds none.

use super::*;
use crate::check::PerfDatum;
use crate::state::{Ack, ConfigProblem, Confirmation, Covers, Held, Place, Sees, Silence};
use chrono::TimeZone;
use proptest::prelude::*;

fn serde_bytes(s: &State) -> Vec<u8> {
    serde_json::to_vec(s).expect("serialises")
}

fn fast_bytes(s: &State) -> Vec<u8> {
    let mut out = Vec::new();
    write(s, &mut out).expect("writes");
    out
}

fn parse(text: &str) -> Option<State> {
    super::parse(std::sync::Arc::new(text.to_string()))
}

/// `fast::parse` agrees with serde on `text`: both read the same state, or the fast path
/// gives up. Returns whether the fast path read it. The state it read is also written by
/// the fast writer (its untouched jobs as the text they were read from) and read back by
/// serde, and what it noted of each job is checked against the job's state.
fn agrees(text: &str) -> Result<bool, TestCaseError> {
    let theirs = serde_json::from_str::<State>(text);
    match (parse(text), theirs) {
        (Some(ours), Ok(theirs)) => {
            let written = fast_bytes(&ours);
            let again = serde_json::from_slice::<State>(&written);
            prop_assert!(again.is_ok(), "{:?}", again.err());
            if let Ok(again) = again {
                prop_assert_eq!(serde_bytes(&again), serde_bytes(&theirs), "{}", text);
            }
            for (name, js) in theirs.jobs.iter() {
                let glance = ours.jobs.glance(name);
                prop_assert_eq!(glance, Some(crate::state::Glance::of(js)), "{}", name);
            }
            prop_assert_eq!(serde_bytes(&ours), serde_bytes(&theirs), "{}", text);
            prop_assert_eq!(ours.version, theirs.version);
            Ok(true)
        }
        (Some(_), Err(e)) => Err(TestCaseError::fail(format!(
            "fast path read what serde refuses ({e}): {text}"
        ))),
        (None, _) => Ok(false),
    }
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        (1_700_000_000i64..1_900_000_000, 0u32..1_000_000_000),
        (1_700_000_000i64..1_900_000_000, Just(0u32)),
        (
            1_700_000_000i64..1_900_000_000,
            (0u32..1000).prop_map(|m| m * 1_000_000)
        ),
        // Years before 0 and after 9999: chrono's own text.
        (-70_000_000_000i64..300_000_000_000, 0u32..1_000_000_000),
    ]
    .prop_map(|(s, n)| Utc.timestamp_opt(s, n).single().expect("in range"))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 .:/-]{0,24}",
        "[a-z\"\\\\\n\t\r\u{1}\u{8}\u{c}\u{1f}\u{7f}é€😀/ ]{0,12}",
        any::<String>(),
    ]
}

fn perfdata() -> impl Strategy<Value = Vec<PerfDatum>> {
    prop::collection::vec(
        (text(), -1e6f64..1e6, prop::option::of("[a-zA-Z%]{1,3}")).prop_map(
            |(label, value, uom)| PerfDatum {
                label,
                value,
                uom,
                warn: None,
                crit: Some("10:".into()),
                min: Some(0.0),
                max: None,
            },
        ),
        0..2,
    )
}

fn extras() -> impl Strategy<Value = (Option<Ack>, Option<Held>, Option<Confirmation>)> {
    (
        prop::option::of((time(), text(), prop::option::of(time())).prop_map(
            |(at, who, streak)| Ack {
                at,
                who,
                comment: Some("on it".into()),
                streak,
            },
        )),
        prop::option::of((text(), time()).prop_map(|(reason, since)| Held {
            reason,
            since,
            last: since,
        })),
        prop::option::of(
            (time(), any::<bool>()).prop_map(|(at, confirmed)| Confirmation {
                at,
                confirmed,
                needed: 2,
                places: vec![
                    Place {
                        name: "here".into(),
                        sees: Sees::Failing,
                        counted: true,
                        detail: None,
                    },
                    Place {
                        name: "there".into(),
                        sees: Sees::Unknown,
                        counted: false,
                        detail: Some("late".into()),
                    },
                ],
            }),
        ),
    )
}

fn job_state() -> impl Strategy<Value = JobState> {
    let status = prop_oneof![
        Just(JobStatus::Pending),
        Just(JobStatus::Ok),
        Just(JobStatus::Failing)
    ];
    let times = prop::collection::vec(prop::option::of(time()), 9);
    let counts = (
        any::<u32>(),
        prop::option::of(any::<u64>()),
        any::<[u64; 4]>(),
    );
    let texts = (
        prop::option::of(text()),
        prop::option::of(text()),
        "[+-]{0,20}",
        prop::option::of(text()),
    );
    let rare = (
        perfdata(),
        prop::option::of(time()),
        prop::collection::btree_map(text(), time(), 0..2),
        extras(),
    );
    (status, any::<bool>(), times, counts, texts, rare).prop_map(
        |(status, notified, t, (failures, ms, n), (error, message, recent, source), rare)| {
            let (perfdata, cert_not_after, resent, (ack, held, confirmation)) = rare;
            JobState {
                status,
                consecutive_failures: failures,
                first_failure: t[0],
                last_notify: t[1],
                notified,
                last_started: t[2],
                last_run: t[3],
                last_success: t[4],
                last_error: error,
                last_message: message,
                last_duration_ms: ms,
                total_attempts: n[0],
                successes: n[1],
                failures: n[2],
                total_count: n[3],
                recent,
                perfdata,
                cert_not_after,
                resent,
                first_seen: t[5],
                last_pushed: t[6],
                left_config: t[7].or(t[8]),
                source: source.map(std::path::PathBuf::from),
                ack,
                held,
                confirmation,
            }
        },
    )
}

fn sample_silence(at: DateTime<Utc>) -> Silence {
    Silence {
        id: "s-1a2b3c4d".into(),
        covers: Covers::Match("web-*".into()),
        from: at,
        until: at + chrono::Duration::hours(1),
        reason: Some("deploy \"v2\"".into()),
        who: "ops".into(),
        created: at,
    }
}

fn state() -> impl Strategy<Value = State> {
    (
        prop::collection::btree_map(text(), job_state(), 0..5),
        prop::option::of(time()),
        any::<bool>(),
    )
        .prop_map(|(jobs, at, extras)| {
            let mut s = State {
                jobs: jobs.into_iter().collect(),
                ..State::default()
            };
            s.heartbeat.last_tick = Some("minute".into());
            s.heartbeat.last_tick_started = at;
            s.mail.ok = at.map(|_| true);
            if let (Some(at), true) = (at, extras) {
                s.silences.push(sample_silence(at));
                s.config_problems.push(ConfigProblem {
                    file: "jobs/web.toml".into(),
                    line: 4,
                    message: "unknown key `urll`".into(),
                    since: at,
                });
            }
            s
        })
}

/// One edit of `text`: a character removed, replaced or added, from those that matter
/// to JSON's structure most.
fn mutate(text: &str, at: usize, what: u8, with: char) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return with.to_string();
    }
    let at = at % chars.len();
    let mut out = chars.clone();
    match what % 3 {
        0 => {
            out.remove(at);
        }
        1 => out[at] = with,
        _ => out.insert(at, with),
    }
    out.into_iter().collect()
}

proptest! {
    #![proptest_config(crate::config::proptest_config(256))]

    #[test]
    fn the_state_is_written_byte_for_byte_as_serde_writes_it(s in state()) {
        prop_assert_eq!(fast_bytes(&s), serde_bytes(&s));
    }

    #[test]
    fn what_serde_wrote_is_read_by_the_fast_path_as_serde_reads_it(s in state()) {
        let compact = String::from_utf8(serde_bytes(&s)).expect("utf-8");
        prop_assert!(agrees(&compact)?, "the fast path gave up on {}", compact);
        let pretty = serde_json::to_string_pretty(&s).expect("serialises");
        prop_assert!(agrees(&pretty)?, "the fast path gave up on {}", pretty);
    }

    #[test]
    fn an_edited_state_is_read_as_serde_reads_it_or_left_to_serde(
        s in state(),
        edits in prop::collection::vec(
            (any::<usize>(), any::<u8>(), prop::sample::select(vec![
                '{', '}', '[', ']', '"', ',', ':', '\\', ' ', '0', '1', '.', '-', 'e', 'n', 't', 'x', '\n', '\u{1}',
            ])),
            1..4,
        ),
    ) {
        let mut text = String::from_utf8(serde_bytes(&s)).expect("utf-8");
        for (at, what, with) in edits {
            text = mutate(&text, at, what, with);
        }
        agrees(&text)?;
    }
}

#[test]
fn what_the_fast_path_does_not_know_is_left_to_serde() {
    let job = |body: &str| format!(r#"{{"version":1,"jobs":{{"web":{{{body}}}}}}}"#);
    for (text, serde_reads) in [
        // An unknown field (serde ignores it).
        (job(r#""status":"ok","from_the_future":[1,{"a":2}]"#), true),
        // A repeated field (serde's error).
        (job(r#""status":"ok","status":"ok""#), false),
        // Numbers serde reads or refuses its own way.
        (job(r#""total_attempts":1.0"#), false),
        (job(r#""total_attempts":01"#), false),
        (job(r#""total_attempts":-1"#), false),
        (job(r#""consecutive_failures":4294967296"#), false),
        // A field of the wrong type.
        (job(r#""recent":null"#), false),
        (job(r#""status":"broken""#), false),
        // No version.
        (r#"{"jobs":{}}"#.to_string(), false),
        (r#"{}"#.to_string(), false),
        // Trailing text.
        (r#"{"version":1} x"#.to_string(), false),
        // A version beyond u32 (refused as newer by the caller).
        (r#"{"version":4294967296}"#.to_string(), false),
    ] {
        assert!(parse(&text).is_none(), "{text}");
        assert_eq!(
            serde_json::from_str::<State>(&text).is_ok(),
            serde_reads,
            "{text}"
        );
    }
}

#[test]
fn escapes_repeated_names_and_nulls_read_as_serde_reads_them() {
    for text in [
        r#"{"version":1,"jobs":{"b":{"recent":"+"},"a":{"recent":"-"},"b":{"recent":"--"}}}"#,
        r#"{"version":1,"jobs":{"w\u00e9b \"1\"":{"last_error":"a\nb\\c\u0001","source":"/x/\u0079.toml"}}}"#,
        r#"{"version":1,"jobs":{"web":{"last_error":null,"first_failure":null,"last_duration_ms":null,"cert_not_after":null,"ack":null}}}"#,
        r#"{"version":1,"jobs":{"web":{"status":"\u006fk","first_failure":"2026-03-01T09:05:07+02:00"}}}"#,
        " {\n \"jobs\" : { } , \"version\" : 1 }\n",
        r#"{"version":1,"jobs":{}}"#,
        r#"{"version":1,"jobs":{"web":{}}}"#,
    ] {
        assert!(
            agrees(text).expect("agrees"),
            "the fast path gave up on {text}"
        );
    }
}

#[test]
fn a_value_nested_deeper_than_serde_follows_is_left_to_serde() {
    let deep = format!(
        r#"{{"version":1,"jobs":{{"web":{{"perfdata":{}{}}}}}}}"#,
        "[".repeat(130),
        "]".repeat(130)
    );
    assert!(parse(&deep).is_none());
    assert!(serde_json::from_str::<State>(&deep).is_err());
}

proptest! {
    #![proptest_config(crate::config::proptest_config(512))]

    #[test]
    fn the_word_scan_stops_where_a_byte_by_byte_scan_stops(
        bytes in prop::collection::vec(
            prop_oneof![Just(b'"'), Just(b'\\'), 0u8..0x20, 0x20u8..=0xff, Just(b'a')],
            0..40,
        ),
        from in 0usize..40,
    ) {
        let naive = (from..bytes.len())
            .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f))
            .unwrap_or(bytes.len().max(from));
        prop_assert_eq!(plain_until(&bytes, from), naive);
    }
}

/// A state of `before` small jobs, one job whose `last_message` is `long` bytes of `x`
/// ending with `},` (so that `},"` follows it in the text, inside no object boundary), and
/// `after` small jobs; `extra` is added to the last job's fields.
fn big_state(before: usize, long: usize, after: usize, extra: &str) -> String {
    let small = |name: String, extra: &str| {
        format!(
            r#""{name}":{{"status":"failing","consecutive_failures":2,"first_failure":"2026-03-01T09:05:07.123Z","notified":true,"last_started":"2026-03-01T09:10:00Z","last_error":"connection refused","last_message":"connection refused","total_attempts":9,"successes":7,"failures":2,"total_count":0,"recent":"++-","source":"/etc/checker/jobs/{}.toml"{extra}}}"#,
            name.bytes().last().unwrap_or(0) % 3
        )
    };
    let mut jobs: Vec<String> = (0..before).map(|i| small(format!("a{i:06}"), "")).collect();
    jobs.push(format!(
        r#""m":{{"status":"ok","last_message":"{}}},","recent":"+"}}"#,
        "x".repeat(long)
    ));
    jobs.extend(
        (0..after).map(|i| small(format!("z{i:06}"), if i + 1 == after { extra } else { "" })),
    );
    format!(
        r#"{{"version":1,"jobs":{{{}}},"heartbeat":{{"last_tick":"minute"}}}}"#,
        jobs.join(",")
    )
}

/// Whether the reader splits `text`'s jobs, and where.
fn split_of(text: &str) -> Option<usize> {
    let mut r = Reader::at(text, text.find(r#""jobs":{"#)? + 8);
    r.split_point()
}

#[test]
fn a_large_state_read_in_two_halves_reads_as_serde_reads_it() {
    let text = big_state(2500, 10, 2500, "");
    let at = split_of(&text).expect("split");
    assert!(text[at..].starts_with(r#""z"#) || text[at..].starts_with(r#""a"#));
    assert!(agrees(&text).expect("agrees"), "read by the fast path");
    let state = parse(&text).expect("read");
    assert_eq!(state.jobs.len(), 5001);
    // Every job's source noted, across both halves.
    for (name, g) in state.jobs.glances() {
        // The job files alternate from job to job.
        let file = name.bytes().last().unwrap_or(0) % 3;
        let want = (name != "m").then(|| format!("/etc/checker/jobs/{file}.toml"));
        assert_eq!(g.source.map(|p| p.display().to_string()), want, "{name}");
    }
}

#[test]
fn a_split_that_falls_inside_a_string_is_not_taken_and_the_state_reads_all_the_same() {
    // The middle of the text falls in `m`'s long message: the first `},"` after it is that
    // message's end, not the start of a job.
    let text = big_state(1200, 1_400_000, 1200, "");
    let at = split_of(&text).expect("split");
    assert!(
        text[..at].ends_with(r#"xx},"#),
        "{}",
        &text[at - 10..at + 10]
    );
    assert!(agrees(&text).expect("agrees"), "read by the fast path");
    assert_eq!(parse(&text).expect("read").jobs["m"].recent, "+");
}

#[test]
fn a_name_repeated_across_the_halves_reads_its_last_value_as_serde_does() {
    let text = big_state(2500, 10, 2500, "")
        .replacen(r#""a000001":"#, r#""twice":"#, 1)
        .replacen(r#""z002000":"#, r#""twice":"#, 1);
    assert!(split_of(&text).is_some());
    assert!(agrees(&text).expect("agrees"), "read by the fast path");
    assert_eq!(parse(&text).expect("read").jobs.len(), 5000);
}

#[test]
fn what_the_fast_path_does_not_know_in_the_second_half_is_left_to_serde() {
    let text = big_state(2500, 10, 2500, r#","from_the_future":1"#);
    assert!(split_of(&text).is_some());
    assert!(parse(&text).is_none());
    assert!(serde_json::from_str::<State>(&text).is_ok());
}

#[test]
fn a_job_nothing_changed_is_written_back_as_the_text_it_was_read_from() {
    let a = r#"{ "status" : "ok", "recent":"+",  "last_error" : null }"#;
    let text = format!(
        r#"{{"version":1,"jobs":{{"a":{a},"b":{{"status":"failing","recent":"-"}},"c":{{"recent":"+"}}}}}}"#
    );
    let mut state = parse(&text).expect("read");
    // Read, but not changed: still written as read.
    assert_eq!(state.jobs["a"].status, JobStatus::Ok);
    state.jobs.get_mut("b").expect("b").recent.push('+');
    let out = String::from_utf8(fast_bytes(&state)).expect("utf-8");
    assert!(out.contains(&format!(r#""a":{a}"#)), "{out}");
    assert!(out.contains(r#""c":{"recent":"+"}"#), "{out}");
    assert!(
        out.contains(r#""b":{"status":"failing","consecutive_failures":0,"notified":false,"total_attempts":0,"successes":0,"failures":0,"total_count":0,"recent":"-+"}"#),
        "{out}"
    );
}

#[test]
fn every_way_to_change_a_job_writes_it_from_its_state() {
    let text = r#"{"version":1,"jobs":{"a":{"recent":"+"},"b":{"recent":"+"}}}"#;
    type Change = fn(&mut State);
    let changes: [(&str, Change); 6] = [
        ("get_mut", |s| {
            s.jobs.get_mut("a").expect("a").total_attempts = 7
        }),
        ("entry", |s| {
            s.jobs.entry("a".into()).or_default().total_attempts = 7
        }),
        ("iter_mut", |s| {
            s.jobs.iter_mut().for_each(|(n, js)| {
                if n == "a" {
                    js.total_attempts = 7
                }
            })
        }),
        ("values_mut", |s| {
            s.jobs
                .values_mut()
                .take(1)
                .for_each(|js| js.total_attempts = 7)
        }),
        ("retain", |s| {
            s.jobs.retain(|n, js| {
                if n == "a" {
                    js.total_attempts = 7
                }
                true
            })
        }),
        ("insert", |s| {
            let mut js = s.jobs["a"].clone();
            js.total_attempts = 7;
            s.jobs.insert("a".into(), js);
        }),
    ];
    for (how, change) in changes {
        let mut state = parse(text).expect("read");
        change(&mut state);
        let again = serde_json::from_slice::<State>(&fast_bytes(&state)).expect("reads");
        assert_eq!(again.jobs["a"].total_attempts, 7, "{how}");
        assert_eq!(again.jobs["b"], state.jobs["b"], "{how}");
        assert_eq!(serde_bytes(&again), serde_bytes(&state), "{how}");
    }
}

#[test]
fn a_state_written_in_pieces_is_the_state_written_whole() {
    let state = parse(&big_state(400, 10, 400, "")).expect("read");
    let mut whole = Vec::new();
    write(&state, &mut whole).expect("writes");
    let (mut joined, mut pieces, mut out) = (Vec::new(), 0, Vec::new());
    write_in_pieces(&state, &mut out, &mut |p: &mut Vec<u8>| {
        assert!(p.len() >= PIECE);
        joined.extend_from_slice(p);
        pieces += 1;
        p.clear();
        Ok(())
    })
    .expect("writes");
    joined.extend_from_slice(&out);
    assert!(pieces >= whole.len() / PIECE - 1, "{pieces} pieces");
    assert_eq!(joined, whole);
    // A piece that cannot be written ends the writing with its error.
    let failed = write_in_pieces(&state, &mut Vec::new(), &mut |_| {
        Err(std::io::Error::other("disk full"))
    });
    assert_eq!(failed.map_err(|e| e.to_string()), Err("disk full".into()));
}
