use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
}

fn wanted(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_answer_lists_every_configured_job_in_the_shape_of_spec_12() {
    let listing = vec![
        Listed {
            name: "shop".into(),
            enabled: true,
            interval: Duration::from_secs(60),
        },
        Listed {
            name: "db".into(),
            enabled: true,
            interval: Duration::from_secs(300),
        },
        Listed {
            name: "new".into(),
            enabled: true,
            interval: Duration::from_secs(3600),
        },
        Listed {
            name: "off".into(),
            enabled: false,
            interval: Duration::from_secs(60),
        },
    ];
    let mut state = State::default();
    let shop = state.jobs.entry("shop".into()).or_default();
    shop.status = JobStatus::Failing;
    shop.consecutive_failures = 3;
    shop.first_failure = Some(t(10, 0));
    shop.last_run = Some(t(10, 2));
    shop.last_error = Some("connection refused".into());
    shop.last_message = Some("connection refused".into());
    let db = state.jobs.entry("db".into()).or_default();
    db.status = JobStatus::Ok;
    db.last_run = Some(t(10, 1));
    db.last_message = Some("x".repeat(1000));
    let doc = build("web1", &listing, &state, t(10, 3));
    let v = serde_json::to_value(&doc).unwrap();
    assert_eq!(v["servername"], "web1");
    assert_eq!(v["generated_at"], "2026-03-01T10:03:00Z");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert_eq!(
        jobs[0],
        serde_json::json!({"job": "shop", "state": "failing", "ok": false, "consecutive_failures": 3,
            "failing_since": "2026-03-01T10:00:00Z", "last_run": "2026-03-01T10:02:00Z",
            "message": "connection refused", "interval_seconds": 60})
    );
    assert_eq!(jobs[1]["state"], "ok");
    assert_eq!(jobs[1]["ok"], true);
    assert!(jobs[1]["failing_since"].is_null());
    assert!(jobs[1]["message"].as_str().unwrap().len() <= MESSAGE_CAP);
    assert_eq!(jobs[2]["state"], "pending");
    assert!(jobs[2]["ok"].is_null());
    assert_eq!(jobs[3]["state"], "disabled");

    // What is written is read back.
    let text = serde_json::to_vec(&doc).unwrap();
    let read = parse(&text, None).unwrap();
    assert_eq!(read.servername.as_deref(), Some("web1"));
    assert_eq!(read.generated_at, Some(t(10, 3)));
    let shop = &read.jobs["shop"];
    assert_eq!(shop.state, PeerState::Failing);
    assert_eq!(shop.consecutive_failures, Some(3));
    assert_eq!(shop.last_run, Some(t(10, 2)));
    assert_eq!(shop.interval, Some(Duration::from_secs(60)));
    assert_eq!(shop.message.as_deref(), Some("connection refused"));
    assert_eq!(read.jobs["db"].state, PeerState::Ok);
    assert_eq!(read.jobs["new"].state, PeerState::Other("pending".into()));
    assert_eq!(read.jobs["off"].state, PeerState::Other("disabled".into()));
}

#[test]
fn only_the_jobs_asked_about_are_kept_and_the_first_entry_of_a_name_wins() {
    let text = br#"{"jobs": [{"job": "a", "state": "ok"}, {"job": "b", "state": "failing"},
        {"job": "a", "state": "failing"}, {"job": "c", "ok": false}]}"#;
    let read = parse(text, Some(&wanted(&["a", "c"]))).unwrap();
    assert_eq!(read.jobs.len(), 2);
    assert_eq!(read.jobs["a"].state, PeerState::Ok);
    assert_eq!(
        read.jobs["c"].state,
        PeerState::Failing,
        "`ok` when no `state`"
    );
    assert_eq!(read.servername, None);
}

#[test]
fn a_malformed_answer_says_why_in_a_few_words_and_odd_entries_are_skipped() {
    let cases: [(&[u8], &str); 7] = [
        (b"", "malformed answer: "),
        (b"True", "malformed answer: "),
        (b"[1, 2]", "malformed answer: not a JSON object"),
        (b"\"jobs\"", "malformed answer: not a JSON object"),
        (
            b"{\"servername\": \"x\"}",
            "malformed answer: no `jobs` list",
        ),
        (
            b"{\"jobs\": {\"a\": 1}}",
            "malformed answer: no `jobs` list",
        ),
        (b"{\"jobs\": []} trailing", "malformed answer: "),
    ];
    for (text, why) in cases {
        let e = parse(text, None).unwrap_err();
        assert!(
            e.starts_with(why),
            "{:?}: {e}",
            String::from_utf8_lossy(text)
        );
        assert!(e.len() < 200, "{e}");
    }
    // Entries of the wrong type, names of the wrong type, fields of the wrong type.
    let text = br#"{"jobs": [1, "x", null, [], {"state": "failing"}, {"job": 7},
        {"job": "a", "state": 5, "ok": "yes", "last_run": "yesterday", "interval_seconds": -3,
         "consecutive_failures": 1.5, "message": {"deep": [1, 2]}}]}"#;
    let read = parse(text, None).unwrap();
    assert_eq!(read.jobs.len(), 1);
    let a = &read.jobs["a"];
    assert_eq!(a.state, PeerState::Other("no state".into()));
    assert_eq!(
        (a.last_run, a.interval, a.consecutive_failures, &a.message),
        (None, None, None, &None)
    );
    // Nested deep: read past without recursion (no stack overflow), the entry kept.
    let deep = format!(
        "{{\"jobs\": [{}{}, {{\"job\": \"a\", \"state\": \"ok\", \"message\": {}1{}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000),
        "{\"x\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let read = parse(deep.as_bytes(), None).unwrap();
    assert_eq!(read.jobs.len(), 1);
    assert_eq!(read.jobs["a"].message, None);
    // Too long.
    let big = vec![b' '; MAX_ANSWER + 1];
    assert_eq!(
        parse(&big, None).unwrap_err(),
        "its answer is larger than 4 MiB"
    );
}

#[test]
fn long_names_and_messages_are_refused_or_shortened() {
    let long = "n".repeat(5000);
    let text = format!(
        "{{\"servername\": \"{long}\", \"jobs\": [{{\"job\": \"{long}\", \"state\": \"ok\"}}, {{\"job\": \"a\", \"state\": \"failing\", \"message\": \"{long}\"}}]}}"
    );
    let read = parse(text.as_bytes(), None).unwrap();
    assert_eq!(read.jobs.len(), 1, "a name longer than any job's is no job");
    assert!(read.jobs["a"].message.as_ref().unwrap().len() <= MESSAGE_CAP);
    assert!(read.servername.unwrap().len() <= 200);
}

/// A job entry written with arbitrary values of each field's type, or of another type.
fn entry() -> impl Strategy<Value = serde_json::Value> {
    let any_value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(serde_json::Value::from),
    ];
    (
        prop::option::of("[a-c]{1,2}"),
        prop::option::of("(ok|failing|pending|disabled|OK|Failing|[a-z]{0,6})"),
        prop::option::of(any::<bool>()),
        prop::option::of(any_value.clone()),
        prop::option::of(any_value),
    )
        .prop_map(|(job, state, ok, last_run, other)| {
            let mut m = serde_json::Map::new();
            if let Some(j) = job {
                m.insert("job".into(), j.into());
            }
            if let Some(s) = state {
                m.insert("state".into(), s.into());
            }
            if let Some(o) = ok {
                m.insert("ok".into(), o.into());
            }
            if let Some(l) = last_run {
                m.insert("last_run".into(), l);
            }
            if let Some(o) = other {
                m.insert("interval_seconds".into(), o);
            }
            serde_json::Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_bytes_make_reading_an_answer_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(read) = parse(&bytes, None) {
            prop_assert!(read.jobs.keys().all(|k| k.len() <= NAME_CAP));
        }
    }

    #[test]
    fn no_text_near_an_answer_makes_reading_it_panic(
        text in "(\\{|\\}|\\[|\\]|,|:|\"jobs\"|\"job\"|\"state\"|\"ok\"|\"failing\"|\"a\"|true|null|-?[0-9]{1,25}(\\.[0-9]{1,3})?(e[0-9]{1,3})?|\"\\\\u[0-9a-f]{4}\"| ){0,60}"
    ) {
        let _ = parse(text.as_bytes(), None);
    }

    #[test]
    fn every_well_formed_entry_with_a_name_is_read_and_only_those(
        entries in prop::collection::vec(entry(), 0..8),
    ) {
        let doc = serde_json::json!({"servername": "p", "jobs": entries});
        let read = parse(doc.to_string().as_bytes(), None).expect("a jobs list is read");
        let mut names: Vec<&str> = entries.iter().filter_map(|e| e["job"].as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut got: Vec<&str> = read.jobs.keys().map(String::as_str).collect();
        got.sort_unstable();
        prop_assert_eq!(got, names);
        for (name, job) in &read.jobs {
            let first = entries.iter().find(|e| e["job"] == name.as_str()).unwrap();
            let said = first["state"].as_str().map(str::trim).unwrap_or("");
            let expected = if said.eq_ignore_ascii_case("failing") {
                PeerState::Failing
            } else if said.eq_ignore_ascii_case("ok") {
                PeerState::Ok
            } else if !said.is_empty() {
                PeerState::Other(said.to_string())
            } else {
                match first["ok"].as_bool() {
                    Some(true) => PeerState::Ok,
                    Some(false) => PeerState::Failing,
                    None => PeerState::Other("no state".into()),
                }
            };
            prop_assert_eq!(&job.state, &expected);
        }
    }
}
