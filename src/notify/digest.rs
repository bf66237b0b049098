//! A digest: the alerts claimed together for one channel in one delivery round (a cron
//! tick's, a `run-once`'s, a pushed result's), sent as one message when the channel has
//! `digest = true`: failures first, then recoveries, one line each naming the job, its
//! target and the message, under a title that counts them ("3 failing, 1 recovered").
//! Its default texts are here, and the sample `test-notify --digest` sends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{first_line, target, Alert, AlertKind};
use crate::duration::humanize;
use crate::text::{truncate, truncate_chars};

/// The most alerts one digest carries; more go out in the next one, at once.
pub const DIGEST_MAX: usize = 100;

/// How much of a message a digest line shows.
const LINE_MESSAGE_MAX: usize = 200;

/// Several alerts for one channel, as one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub servername: String,
    /// Failures first, then recoveries, each in the order they were decided.
    pub alerts: Vec<Alert>,
    /// When the latest of them was decided.
    pub at: DateTime<Utc>,
    /// Every alert's email recipients, each once (an email digest is made per set of
    /// recipients, so for email they are the recipients of each alert).
    pub recipients: Vec<String>,
    /// Sample alerts (`test-notify --digest`), said so in the title and the body.
    #[serde(default)]
    pub sample: bool,
}

impl Digest {
    /// A digest of `alerts` (in the order decided); `None` when there are none.
    pub fn new(alerts: Vec<Alert>) -> Option<Digest> {
        let first = alerts.first()?;
        let servername = first.servername.clone();
        let at = alerts.iter().map(|a| a.at).max().unwrap_or(first.at);
        let mut recipients: Vec<String> = Vec::new();
        for r in alerts.iter().flat_map(|a| &a.recipients) {
            if !recipients.contains(r) {
                recipients.push(r.clone());
            }
        }
        // Stable: each kind keeps the order decided.
        let mut alerts = alerts;
        alerts.sort_by_key(|a| match a.kind {
            AlertKind::Failure => 0,
            AlertKind::Recovery => 1,
            AlertKind::Test => 2,
        });
        Some(Digest {
            servername,
            alerts,
            at,
            recipients,
            sample: false,
        })
    }

    pub fn failing(&self) -> usize {
        self.count(AlertKind::Failure)
    }

    pub fn recovered(&self) -> usize {
        self.count(AlertKind::Recovery)
    }

    fn count(&self, kind: AlertKind) -> usize {
        self.alerts.iter().filter(|a| a.kind == kind).count()
    }

    /// What the digest is, for priorities and tags: a failure when any alert in it is
    /// one, else a recovery (else a test).
    pub fn kind(&self) -> AlertKind {
        if self.failing() > 0 {
            AlertKind::Failure
        } else if self.recovered() > 0 {
            AlertKind::Recovery
        } else {
            AlertKind::Test
        }
    }

    /// The one alert of a digest that carries only one (not a sample): channels read by
    /// people send it as the ordinary alert, with all its detail.
    pub fn single(&self) -> Option<&Alert> {
        match self.alerts.as_slice() {
            [only] if !self.sample => Some(only),
            _ => None,
        }
    }

    /// `3 failing, 1 recovered`; a count of none is left out.
    pub fn title(&self) -> String {
        let mut parts = Vec::new();
        if self.failing() > 0 {
            parts.push(format!("{} failing", self.failing()));
        }
        if self.recovered() > 0 {
            parts.push(format!("{} recovered", self.recovered()));
        }
        if parts.is_empty() {
            parts.push(format!("{} alert(s)", self.alerts.len()));
        }
        let counts = parts.join(", ");
        if self.sample {
            format!("{counts} (a sample digest from test-notify)")
        } else {
            counts
        }
    }

    /// `[servername] 3 failing, 1 recovered`.
    pub fn subject(&self) -> String {
        format!("[{}] {}", self.servername, self.title())
    }

    /// The plain-text body every channel uses unless it has its own template.
    pub fn body(&self) -> String {
        self.body_within(usize::MAX)
    }

    /// The body in at most `max` characters: the lines that fit, then how many more
    /// there are (a channel with a small limit, Pushover's 1,024, still counts them all).
    pub fn body_within(&self, max: usize) -> String {
        let stamp = self.at.format("%Y-%m-%d %H:%M:%S UTC");
        let mut head = String::new();
        if self.sample {
            head.push_str("This is a sample of a digest, sent by `checker test-notify --digest`: the jobs below are examples, not yours.\n\n");
        }
        head.push_str(&format!(
            "checker on {}: {} (decided {stamp}).\n",
            self.servername,
            self.title()
        ));
        let footer =
            "\nEach job's details: checker status JOB; its events: checker history --job JOB.\n";
        let mut sections: Vec<(String, Vec<String>)> = Vec::new();
        for (kind, heading) in [
            (AlertKind::Failure, "FAILING"),
            (AlertKind::Recovery, "RECOVERED"),
            (AlertKind::Test, "TEST"),
        ] {
            let lines: Vec<String> = self
                .alerts
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| format!("- {}\n", line(a)))
                .collect();
            if !lines.is_empty() {
                sections.push((format!("\n{heading} ({})\n", lines.len()), lines));
            }
        }
        let total: usize = sections.iter().map(|(_, l)| l.len()).sum();
        let len = |s: &str| s.chars().count();
        // Room kept for the line that says how many were left out.
        let more_room = 40;
        let mut out = head;
        let mut shown = 0usize;
        'sections: for (heading, lines) in &sections {
            if len(&out) + len(heading) + more_room > max {
                break;
            }
            out.push_str(heading);
            for l in lines {
                let last = shown + 1 == total;
                let reserve = if last { 0 } else { more_room };
                if len(&out) + len(l) + reserve > max {
                    break 'sections;
                }
                out.push_str(l);
                shown += 1;
            }
        }
        if shown < total {
            out.push_str(&format!("… and {} more not shown\n", total - shown));
        }
        if len(&out) + len(footer) <= max {
            out.push_str(footer);
        }
        truncate_chars(&out, max)
    }
}

/// One alert as a line of a digest: `shop — GET https://shop.example.com/ → HTTP 503
/// (expected 200); failing for 12m`, `backup — /usr/local/bin/check-backup → OK; was
/// failing for 1h`.
pub fn line(a: &Alert) -> String {
    let message = first_line(&a.message, LINE_MESSAGE_MAX);
    let what = match &a.target {
        Some(t) => format!("{} — {} → {message}", a.job, truncate(t, target::TITLE_MAX)),
        None => format!("{}: {message}", a.job),
    };
    let for_how_long = a.failing_since.map(|since| humanize(a.at - since));
    match (a.kind, for_how_long) {
        (AlertKind::Failure, Some(d)) => {
            let expected = match &a.expected {
                Some(e) if a.target.is_some() && !message.contains("expected") => {
                    format!(" (expected {})", truncate(e, 80))
                }
                _ => String::new(),
            };
            format!("{what}{expected}; failing for {d}")
        }
        (AlertKind::Recovery, Some(d)) => format!("{what}; was failing for {d}"),
        _ => what,
    }
}

/// What `test-notify --digest` sends: two example failures and a recovery, said to be
/// examples, decided `at`, for `recipients`.
pub fn sample(servername: &str, recipients: &[String], at: DateTime<Utc>) -> Digest {
    let alert = |kind, job: &str, target: &str, expected: &str, message: &str, mins: i64| Alert {
        kind,
        servername: servername.to_string(),
        job: job.to_string(),
        job_kind: "example".into(),
        description: None,
        message: message.to_string(),
        consecutive_failures: 3,
        failing_since: Some(at - chrono::Duration::minutes(mins)),
        last_success: Some(at - chrono::Duration::minutes(mins + 1)),
        next_reminder: String::new(),
        at,
        recipients: recipients.to_vec(),
        target: Some(target.to_string()),
        expected: Some(expected.to_string()),
    };
    let alerts = vec![
        alert(
            AlertKind::Recovery,
            "example backup",
            "/usr/local/bin/check-backup",
            "OK, exit 0",
            "OK - last backup 2h ago",
            75,
        ),
        alert(
            AlertKind::Failure,
            "example shop front page",
            "GET https://shop.example.com/",
            "200",
            "HTTP 503 Service Unavailable",
            12,
        ),
        alert(
            AlertKind::Failure,
            "example database",
            "db.example.com:5432",
            "a connection within 10s",
            "connection refused",
            3,
        ),
    ];
    let mut d = Digest::new(alerts).unwrap_or_else(|| Digest {
        servername: servername.to_string(),
        alerts: Vec::new(),
        at,
        recipients: recipients.to_vec(),
        sample: true,
    });
    d.sample = true;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn alert(kind: AlertKind, job: &str, message: &str) -> Alert {
        Alert {
            kind,
            servername: "web1".into(),
            job: job.into(),
            job_kind: "http".into(),
            description: None,
            message: message.into(),
            consecutive_failures: 2,
            failing_since: Some(at() - chrono::Duration::minutes(12)),
            last_success: None,
            next_reminder: String::new(),
            at: at(),
            recipients: vec!["ops@example.com".into()],
            target: Some(format!("GET https://{job}.example.com/")),
            expected: Some("200".into()),
        }
    }

    fn four_and_one() -> Digest {
        Digest::new(vec![
            alert(AlertKind::Failure, "a", "HTTP 503"),
            alert(AlertKind::Recovery, "r", "HTTP 200 in 3 ms"),
            alert(AlertKind::Failure, "b", "connection refused"),
            alert(AlertKind::Failure, "c", "timed out after 10s"),
            alert(AlertKind::Failure, "d", "HTTP 500\nsecond line"),
        ])
        .unwrap()
    }

    #[test]
    fn failures_come_first_in_the_order_decided_and_the_title_counts_them() {
        let d = four_and_one();
        let jobs: Vec<&str> = d.alerts.iter().map(|a| a.job.as_str()).collect();
        assert_eq!(jobs, ["a", "b", "c", "d", "r"]);
        assert_eq!((d.failing(), d.recovered()), (4, 1));
        assert_eq!(d.subject(), "[web1] 4 failing, 1 recovered");
        assert_eq!(d.kind(), AlertKind::Failure);
        assert!(d.single().is_none());
        let only_recoveries = Digest::new(vec![alert(AlertKind::Recovery, "r", "ok")]).unwrap();
        assert_eq!(only_recoveries.title(), "1 recovered");
        assert_eq!(only_recoveries.kind(), AlertKind::Recovery);
        assert_eq!(only_recoveries.single().map(|a| a.job.as_str()), Some("r"));
        assert_eq!(only_recoveries.recipients, ["ops@example.com"]);
        assert!(Digest::new(Vec::new()).is_none());
    }

    #[test]
    fn each_line_names_the_job_its_target_and_the_message() {
        let body = four_and_one().body();
        let failing = body.find("FAILING (4)").expect("failing section");
        let recovered = body.find("RECOVERED (1)").expect("recovered section");
        assert!(failing < recovered, "{body}");
        assert!(
            body.contains(
                "\n- a — GET https://a.example.com/ → HTTP 503 (expected 200); failing for 12m\n"
            ),
            "{body}"
        );
        assert!(
            body.contains(
                "\n- r — GET https://r.example.com/ → HTTP 200 in 3 ms; was failing for 12m\n"
            ),
            "{body}"
        );
        // One line per alert: a message's first line only.
        assert!(body.contains("→ HTTP 500 (expected 200);"), "{body}");
        assert!(!body.contains("second line"), "{body}");
        assert!(
            body.starts_with(
                "checker on web1: 4 failing, 1 recovered (decided 2026-03-01 12:00:00 UTC).\n"
            ),
            "{body}"
        );
    }

    #[test]
    fn a_small_limit_shows_the_lines_that_fit_and_counts_the_rest() {
        let d = four_and_one();
        let whole = d.body();
        let cut = d.body_within(250);
        assert!(cut.chars().count() <= 250, "{cut}");
        assert!(cut.contains("- a — "), "{cut}");
        let more = cut
            .lines()
            .find(|l| l.starts_with("… and "))
            .unwrap_or_else(|| panic!("no count of the rest in {cut}"));
        let shown = cut.lines().filter(|l| l.starts_with("- ")).count();
        assert_eq!(more, format!("… and {} more not shown", 5 - shown));
        assert!(whole.chars().count() > 250);
        // Limits too small for anything still hold.
        for max in [0, 1, 10, 60] {
            assert!(d.body_within(max).chars().count() <= max);
        }
    }

    #[test]
    fn the_sample_says_it_is_one() {
        let d = sample("web1", &["ops@example.com".into()], at());
        assert!(d.sample);
        assert!(d.single().is_none());
        assert_eq!(
            d.subject(),
            "[web1] 2 failing, 1 recovered (a sample digest from test-notify)"
        );
        assert!(d.body().contains("not yours"));
        assert_eq!(d.alerts[2].kind, AlertKind::Recovery);
    }
}
