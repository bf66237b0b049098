//! The state file through the real binary: what a tick rewrites of it and what it leaves.

use crate::support::Fixture;

/// The text of job `name`'s object in `text`, a state whose keys are followed by ` :`.
fn job_text<'a>(text: &'a str, name: &str, next: &str) -> &'a str {
    let start = text.find(&format!("\"{name}\" :")).expect("job") + name.len() + 4;
    let end = start
        + text[start..]
            .find(&format!(",\"{next}\" :"))
            .expect("next job");
    &text[start..end]
}

#[test]
fn a_tick_leaves_the_text_of_every_job_it_did_not_change_as_it_was() {
    let f = Fixture::new();
    f.ok_script();
    f.jobs(
        r#"
[[job]]
name = "a"
kind = "command"
command = ["./ok.sh"]
frequency = "day"
[[job]]
name = "b"
kind = "command"
command = ["./ok.sh"]
frequency = "hour"
[[job]]
name = "c"
kind = "command"
command = ["./ok.sh"]
frequency = "day"
"#,
    );
    f.tick("day");
    // The state written again as a person (or another JSON tool) might: still the same
    // state, in other bytes.
    let path = f.path().join("state.json");
    let spaced = std::fs::read_to_string(&path)
        .expect("state")
        .replace("\":", "\" :");
    std::fs::write(&path, &spaced).expect("write state");
    let (a, b) = (job_text(&spaced, "a", "b"), job_text(&spaced, "b", "c"));

    // A minute tick runs nothing: every job is left as its text, the heartbeat is new.
    f.tick("minute");
    let after = std::fs::read_to_string(&path).expect("state");
    assert!(after.contains(&format!("\"a\":{a}")), "{after}");
    assert!(after.contains(&format!("\"b\":{b}")), "{after}");
    assert_eq!(f.state()["heartbeat"]["last_tick"], "minute");

    // An hour tick runs b: b is written from its new state, a stays as it was.
    f.tick("hour");
    let after = std::fs::read_to_string(&path).expect("state");
    assert!(after.contains(&format!("\"a\":{a}")), "{after}");
    assert!(!after.contains(&format!("\"b\":{b}")), "{after}");
    assert_eq!(f.job_state("b")["total_attempts"], 2);
    assert_eq!(f.job_state("a")["total_attempts"], 1);
}
