//! The page's decisions with a driven clock and made-up series; the page end to end
//! (written by ticks, served, rendered by Chromium) is tested in tests/it/statuspage.rs.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};

use super::model::{self, Health, Inputs, Overall, Quiet};
use super::{fingerprint, html};
use crate::history::{DayFigures, JobSeries, Series};
use crate::state::{JobStatus, State};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 30, 0).unwrap()
}

fn jobs(n: usize, group_every: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[job]]\nname = \"job {i}\"\nkind = \"command\"\ncommand = [\"true\"]\ngroup = \"g{}\"\n",
                i / group_every
            )
        })
        .collect()
}

fn day_acc(attempts: u64, successes: u64, incidents: u64, down_ms: u64) -> DayFigures {
    DayFigures {
        attempts,
        successes,
        incidents,
        down_ms,
    }
}

/// A series of 90 days ending today with `days` (job, days ago, figures) set.
fn series(days: &[(&str, i64, DayFigures)]) -> Series {
    let today = model::day_of(now());
    let mut s = Series {
        first_day: today - 89,
        first_hour: now().timestamp().div_euclid(3600) - 23,
        jobs: HashMap::new(),
    };
    for (job, back, figures) in days {
        let j = s.jobs.entry(job.to_string()).or_insert_with(|| JobSeries {
            days: vec![DayFigures::default(); 90],
            hours: Vec::new(),
        });
        j.days[(89 - back) as usize] = *figures;
    }
    s
}

fn view(state: Health) -> model::JobView {
    model::JobView {
        name: "x".into(),
        state,
        quiet: None,
        uptime: [None; 4],
        spark: Vec::new(),
        bars: Vec::new(),
    }
}

#[test]
fn the_banner_says_operational_degraded_or_outage_by_the_share_failing() {
    use Health::*;
    let of = |states: &[Health]| {
        let views: Vec<_> = states.iter().map(|s| view(*s)).collect();
        Overall::of(&views.iter().collect::<Vec<_>>())
    };
    assert_eq!(of(&[]), Overall::NoData);
    assert_eq!(of(&[Pending, Pending]), Overall::NoData);
    assert_eq!(of(&[Operational, Pending]), Overall::Operational);
    assert_eq!(
        of(&[Failing, Operational]),
        Overall::Degraded { failing: 1, of: 2 },
        "half is degraded"
    );
    assert_eq!(
        of(&[Failing, Failing, Operational, Pending]),
        Overall::Outage { failing: 2, of: 3 },
        "more than half of those with a result"
    );
}

#[test]
fn above_a_hundred_jobs_each_group_draws_one_row_of_bars_summed_over_its_jobs() {
    let (_d, config) = crate::engine::test_config(&jobs(101, 60));
    let series = series(&[
        ("job 0", 3, day_acc(10, 9, 1, 60_000)),
        ("job 1", 3, day_acc(10, 10, 0, 0)),
    ]);
    let state = State::default();
    let i = Inputs {
        config: &config,
        state: &state,
        series: &series,
        quiet: Vec::new(),
        now: now(),
    };
    let page = model::build(&i);
    assert!(!page.bars_per_job);
    assert_eq!(page.groups.len(), 2);
    assert!(page.groups[0].jobs.iter().all(|j| j.bars.is_empty()));
    let g = &page.groups[0].bars;
    assert_eq!(g.len(), 90);
    assert_eq!(
        g[86],
        day_acc(20, 19, 1, 60_000),
        "three days ago, both jobs"
    );
    let out = html::render(&page, "fp");
    assert_eq!(out.matches("<rect ").count(), 2 * 90, "one row per group");
    assert!(
        out.contains("95.00% up (20 checks), 1 incident, 1m down"),
        "group tooltips"
    );

    // At a hundred jobs, a row each.
    let (_d, config) = crate::engine::test_config(&jobs(100, 60));
    let i = Inputs {
        config: &config,
        ..i
    };
    let page = model::build(&i);
    assert!(page.bars_per_job);
    assert!(page.groups.iter().all(|g| g.bars.is_empty()));
    assert_eq!(
        html::render(&page, "fp").matches("<rect ").count(),
        100 * 90
    );
}

#[test]
fn past_incidents_list_the_longest_down_first_and_count_the_rest() {
    let (_d, config) = crate::engine::test_config(&jobs(25, 100));
    let today = model::day_of(now());
    let names: Vec<String> = (0..25).map(|i| format!("job {i}")).collect();
    let mut days: Vec<(&str, i64, DayFigures)> = names
        .iter()
        .zip(1u64..)
        .map(|(n, i)| (n.as_str(), 2, day_acc(10, 9, 1, i * 60_000)))
        .collect();
    // Older than 14 days: in the bars, not in the list.
    days.push(("job 0", 14, day_acc(1, 0, 1, 1000)));
    let series = series(&days);
    let state = State::default();
    let page = model::build(&Inputs {
        config: &config,
        state: &state,
        series: &series,
        quiet: Vec::new(),
        now: now(),
    });
    assert_eq!(page.past.len(), 14);
    assert_eq!(page.past[0].day, today);
    assert!(page.past.iter().all(|d| d.day > today - 14));
    let two = &page.past[2];
    assert_eq!(two.entries.len(), model::INCIDENTS_PER_DAY);
    assert_eq!(two.more, 5);
    assert_eq!(two.entries[0].job, "job 24", "longest down first");
    assert_eq!(model::wanted_notes(&page).len(), 20);
    assert!(
        html::render(&page, "fp").contains("and 5 jobs more (see <code>checker history</code>)")
    );
}

#[test]
fn silences_and_maintenance_have_their_section_and_mark_the_jobs_they_cover() {
    let (_d, config) = crate::engine::test_config(&jobs(3, 100));
    let mut state = State::default();
    state.jobs.entry("job 1".into()).or_default().status = JobStatus::Failing;
    let until = now() + chrono::Duration::hours(2);
    let quiet = vec![
        Quiet {
            what: "Maintenance: <db upgrade>".into(),
            jobs: Some(vec!["job 1".into()]),
            until: Some(until),
        },
        Quiet {
            what: "Silence".into(),
            jobs: None,
            until: None,
        },
    ];
    let series = Series::default();
    let page = model::build(&Inputs {
        config: &config,
        state: &state,
        series: &series,
        quiet,
        now: now(),
    });
    assert_eq!(
        page.groups[0].jobs[1].quiet.as_deref(),
        Some("Maintenance: <db upgrade>")
    );
    assert_eq!(page.groups[0].jobs[0].quiet.as_deref(), Some("Silence"));
    let out = html::render(&page, "fp");
    assert!(out.contains("<section id=\"quiet\">"), "{out}");
    assert!(out.contains(
        "<li><strong>Maintenance: &lt;db upgrade&gt;</strong>: job 1, until <time datetime=\"2026-03-10T14:30:00+00:00\">2026-03-10 14:30 UTC</time></li>"
    ));
    assert!(out.contains("<li><strong>Silence</strong>: all jobs</li>"));
}

#[test]
fn the_fingerprint_changes_with_a_result_and_on_the_hour_but_not_within_it() {
    let (_d, config) = crate::engine::test_config(&jobs(2, 100));
    let mut state = State::default();
    let t = now();
    let fp = fingerprint(&config, &state, t);
    assert_eq!(
        fp,
        fingerprint(&config, &state, t + chrono::Duration::minutes(29))
    );
    assert_ne!(
        fp,
        fingerprint(&config, &state, t + chrono::Duration::minutes(30)),
        "13:00"
    );
    state.jobs.entry("job 0".into()).or_default().last_run = Some(t);
    assert_ne!(fp, fingerprint(&config, &state, t), "a result");
    // A job not on the page changes nothing.
    let before = fingerprint(&config, &state, t);
    state.jobs.entry("gone".into()).or_default().last_run = Some(t);
    assert_eq!(before, fingerprint(&config, &state, t));
}

#[test]
fn percentages_are_never_rounded_up_to_a_hundred() {
    assert_eq!(html::pct(100.0), "100%");
    assert_eq!(html::pct(99.999), "99.99%");
    assert_eq!(html::pct(66.666), "66.66%");
    assert_eq!(html::pct(0.0), "0.00%");
}

#[test]
fn response_times_read_in_the_unit_that_suits_them() {
    let mut page = model::build(&Inputs {
        config: &crate::engine::test_config(&jobs(1, 100)).1,
        state: &State::default(),
        series: &Series::default(),
        quiet: Vec::new(),
        now: now(),
    });
    for (ms, shown) in [(42.4, "42 ms"), (1_540.0, "1.5 s"), (252_000.0, "4m 12s")] {
        page.groups[0].jobs[0].spark = vec![Some(ms); 24];
        let out = html::render(&page, "fp");
        assert!(
            out.contains(&format!("</svg>{shown}</span>")),
            "{ms}: {out}"
        );
    }
}
