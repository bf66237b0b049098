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

/// `fast::parse` agrees with serde on `text`: both read the same state, or the fast path
/// gives up. Returns whether the fast path read it.
fn agrees(text: &str) -> Result<bool, TestCaseError> {
    let theirs = serde_json::from_str::<State>(text);
    match (parse(text), theirs) {
        (Some(ours), Ok(theirs)) => {
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
                jobs,
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
