use super::*;
use chrono::TimeZone;

fn ts() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 11, 0, 0).unwrap() + chrono::Duration::milliseconds(123)
}

#[test]
fn line_format_matches_spec() {
    assert_eq!(
        format_line(ts(), log::Level::Info, 1234, &"message"),
        "2026-11-23T11:00:00.123Z INFO  [pid 1234] message\n"
    );
}

#[test]
fn level_column_is_padded_to_five() {
    let cases = [
        (log::Level::Error, "ERROR [pid 1] x\n"),
        (log::Level::Warn, "WARN  [pid 1] x\n"),
        (log::Level::Info, "INFO  [pid 1] x\n"),
        (log::Level::Debug, "DEBUG [pid 1] x\n"),
        (log::Level::Trace, "TRACE [pid 1] x\n"),
    ];
    for (level, tail) in cases {
        let line = format_line(ts(), level, 1, &"x");
        assert_eq!(&line[25..], tail, "{line:?}");
    }
}

#[test]
fn multi_line_messages_are_indented_and_not_doubled() {
    let line = format_line(ts(), log::Level::Warn, 7, &"first\r\nsecond\n\n");
    assert_eq!(
        line,
        "2026-11-23T11:00:00.123Z WARN  [pid 7] first\n    second\n"
    );
}

#[test]
fn format_args_are_rendered() {
    let line = format_line(ts(), log::Level::Debug, 9, &format_args!("{} + {}", 1, 2));
    assert!(line.ends_with("DEBUG [pid 9] 1 + 2\n"), "{line:?}");
}

#[test]
fn backup_and_lock_names() {
    let base = Path::new("/var/log/checker.log");
    assert_eq!(
        backup_path(base, 1),
        PathBuf::from("/var/log/checker.log.1")
    );
    assert_eq!(
        backup_path(base, 12),
        PathBuf::from("/var/log/checker.log.12")
    );
    assert_eq!(lock_path(base), PathBuf::from("/var/log/checker.log.lock"));
    assert_eq!(
        backup_path(Path::new("checker.log"), 3),
        PathBuf::from("checker.log.3")
    );
}

#[test]
fn rotation_plan_shifts_oldest_first() {
    let base = Path::new("d/checker.log");
    let names = |plan: Vec<(PathBuf, PathBuf)>| -> Vec<(String, String)> {
        plan.into_iter()
            .map(|(a, b)| (a.display().to_string(), b.display().to_string()))
            .collect()
    };
    assert_eq!(
        names(rotation_plan(base, 3)),
        vec![
            ("d/checker.log.2".into(), "d/checker.log.3".into()),
            ("d/checker.log.1".into(), "d/checker.log.2".into()),
            ("d/checker.log".into(), "d/checker.log.1".into()),
        ]
    );
    assert_eq!(
        names(rotation_plan(base, 1)),
        vec![("d/checker.log".into(), "d/checker.log.1".into())]
    );
    assert!(rotation_plan(base, 0).is_empty());
}

#[test]
fn rotation_decision() {
    assert!(
        !should_rotate(0, 500, 100),
        "an empty file takes any record"
    );
    assert!(!should_rotate(50, 50, 100), "exactly full is fine");
    assert!(should_rotate(51, 50, 100));
    assert!(
        !should_rotate(1_000, 50, 0),
        "max_bytes = 0 disables rotation"
    );
    assert!(should_rotate(u64::MAX, 1, 100));
}

#[test]
fn flags_raise_but_never_lower() {
    assert_eq!(effective_level(Level::Warn, false), LevelFilter::Warn);
    assert_eq!(effective_level(Level::Warn, true), LevelFilter::Debug);
    assert_eq!(effective_level(Level::Off, true), LevelFilter::Debug);
    assert_eq!(effective_level(Level::Trace, true), LevelFilter::Trace);
}

#[test]
fn dependency_targets_are_capped() {
    assert_eq!(target_cap("checker"), LevelFilter::Trace);
    assert_eq!(target_cap("checker::notify::email"), LevelFilter::Trace);
    assert_eq!(target_cap("rustls::client::hs"), LevelFilter::Warn);
    assert_eq!(target_cap("hyper_util::client"), LevelFilter::Warn);
    assert_eq!(target_cap("h2"), LevelFilter::Warn);
    assert_eq!(target_cap("lettre::transport::smtp"), LevelFilter::Warn);
    assert_eq!(target_cap("async_imap::imap_stream"), LevelFilter::Warn);
    assert_eq!(target_cap("reqwest::connect"), LevelFilter::Warn);
    assert_eq!(target_cap("checkers_other"), LevelFilter::Info);
    assert_eq!(target_cap("serde_json"), LevelFilter::Info);
}
