use chrono::TimeZone;

use super::*;
use crate::check::PerfDatum;
use crate::peer::status::Policy;

fn policy() -> Policy {
    Policy {
        servername: "box".into(),
        email_enabled: false,
        stale_after: std::time::Duration::from_secs(600),
        mail_fresh_for: None,
        undeliverable_after: std::time::Duration::from_secs(900),
    }
}

fn job(name: &str, kind: &'static str) -> JobInfo {
    JobInfo {
        name: name.into(),
        kind,
        enabled: true,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn render_with(jobs: &[JobInfo], state: &State, uptime: Option<&Uptime>) -> String {
    let status = status::compute(state, &policy(), now());
    let (_dir, config) = crate::engine::test_config("");
    render(&Snapshot {
        config: &config,
        jobs,
        state: Some(state),
        status: &status,
        uptime,
        now: now(),
    })
}

/// The sample lines of one family, as written.
fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[test]
fn duration_totals_and_certificate_expiry_come_from_the_job_state() {
    let mut state = State::default();
    let web = state.jobs.entry("web".into()).or_default();
    web.status = JobStatus::Ok;
    web.last_duration_ms = Some(1250);
    web.successes = 7;
    web.failures = 2;
    let cert = state.jobs.entry("cert".into()).or_default();
    cert.status = JobStatus::Failing;
    cert.cert_not_after = Some(Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap());
    let text = render_with(&[job("web", "http"), job("cert", "tls_cert")], &state, None);
    assert_eq!(
        samples(&text, "checker_job_duration_seconds"),
        vec!["checker_job_duration_seconds{job=\"web\",kind=\"http\"} 1.25"]
    );
    assert!(
        text.contains("# TYPE checker_job_checks_total counter\n"),
        "{text}"
    );
    let totals = samples(&text, "checker_job_checks_total");
    assert!(totals.contains(&"checker_job_checks_total{job=\"web\",kind=\"http\",result=\"ok\"} 7"));
    assert!(
        totals.contains(&"checker_job_checks_total{job=\"web\",kind=\"http\",result=\"failed\"} 2")
    );
    assert_eq!(
        samples(&text, "checker_tls_cert_not_after_timestamp_seconds"),
        vec!["checker_tls_cert_not_after_timestamp_seconds{job=\"cert\",kind=\"tls_cert\"} 1775001600"]
    );
    // No history: no uptime family at all.
    assert!(!text.contains("checker_job_uptime_ratio"), "{text}");
}

#[test]
fn uptime_ratios_are_given_per_window_and_left_out_without_results() {
    let state = State::default();
    let mut uptime = Uptime::default();
    uptime
        .by_job
        .insert("web".into(), [Some(1.0), Some(0.75), None, None]);
    let text = render_with(&[job("web", "http")], &state, Some(&uptime));
    assert_eq!(
        samples(&text, "checker_job_uptime_ratio"),
        vec![
            "checker_job_uptime_ratio{job=\"web\",kind=\"http\",window=\"24h\"} 1",
            "checker_job_uptime_ratio{job=\"web\",kind=\"http\",window=\"7d\"} 0.75",
        ]
    );
}

#[test]
fn perfdata_becomes_series_in_base_units_with_thresholds_where_given() {
    let mut state = State::default();
    state.jobs.entry("disk".into()).or_default().perfdata = vec![
        PerfDatum {
            label: "time".into(),
            value: 35.0,
            uom: Some("ms".into()),
            warn: Some("100".into()),
            crit: Some("@1:2".into()),
            min: Some(0.0),
            max: None,
        },
        PerfDatum {
            label: "'/var' \"used\"\n".into(),
            value: 2.0,
            uom: Some("GB".into()),
            warn: None,
            crit: Some("1:3".into()),
            min: None,
            max: Some(4.0),
        },
    ];
    let text = render_with(&[job("disk", "command")], &state, None);
    assert_eq!(
        samples(&text, "checker_perfdata"),
        vec![
            "checker_perfdata{job=\"disk\",label=\"time\",uom=\"seconds\"} 0.035",
            "checker_perfdata{job=\"disk\",label=\"'/var' \\\"used\\\"\",uom=\"bytes\"} 2147483648",
        ]
    );
    assert_eq!(
        samples(&text, "checker_perfdata_warn"),
        vec![
            "checker_perfdata_warn{job=\"disk\",label=\"time\",uom=\"seconds\",bound=\"high\"} 0.1"
        ]
    );
    // `@1:2` (alert inside) has no bound to show.
    assert_eq!(
        samples(&text, "checker_perfdata_crit"),
        vec![
            "checker_perfdata_crit{job=\"disk\",label=\"'/var' \\\"used\\\"\",uom=\"bytes\",bound=\"low\"} 1073741824",
            "checker_perfdata_crit{job=\"disk\",label=\"'/var' \\\"used\\\"\",uom=\"bytes\",bound=\"high\"} 3221225472",
        ]
    );
    assert_eq!(samples(&text, "checker_perfdata_min").len(), 1);
    assert_eq!(samples(&text, "checker_perfdata_max").len(), 1);
}

#[test]
fn every_family_has_help_and_type_before_its_samples_and_appears_once() {
    let mut state = State::default();
    let js = state.jobs.entry("a\"b\\c\nd é".into()).or_default();
    js.status = JobStatus::Ok;
    js.last_duration_ms = Some(1);
    let text = render_with(&[job("a\"b\\c\nd é", "http")], &state, None);
    let mut declared: Vec<&str> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(!declared.contains(&name), "{name} twice:\n{text}");
            declared.push(name);
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(
                declared.last(),
                Some(&name),
                "{line} outside its family:\n{text}"
            );
        }
    }
    for name in &declared {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
    assert!(
        text.contains("checker_job_up{job=\"a\\\"b\\\\c\\nd é\",kind=\"http\"} 1\n"),
        "{text}"
    );
}

#[test]
fn values_that_are_not_numbers_are_spelled_as_prometheus_reads_them() {
    assert_eq!(Num::F(f64::NAN).to_string(), "NaN");
    assert_eq!(Num::F(f64::INFINITY).to_string(), "+Inf");
    assert_eq!(Num::F(f64::NEG_INFINITY).to_string(), "-Inf");
    assert_eq!(Num::F(0.5).to_string(), "0.5");
    assert_eq!(Num::U(u64::MAX).to_string(), "18446744073709551615");
    assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn an_unreadable_state_says_so_and_nothing_else_about_jobs() {
    let status = status::unreadable(&policy(), "broken");
    let (_dir, config) = crate::engine::test_config("");
    let text = render(&Snapshot {
        config: &config,
        jobs: &[job("web", "http")],
        state: None,
        status: &status,
        uptime: None,
        now: now(),
    });
    assert!(text.contains("checker_state_readable 0\n"), "{text}");
    assert!(!text.contains("checker_job_"), "{text}");
}
