//! Metrics end to end: `checker metrics`, `/metrics` of `checker serve` and the textfile
//! for node_exporter (`--textfile DIR`, `[metrics] textfile_dir`), each passed through
//! Debian's real `promtool check metrics` with hostile job names and plugin perfdata;
//! uptime ratios from the history; a tls_cert job's certificate expiry read from a real
//! TLS server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::http as h;
use crate::support::peers as p;
use crate::support::tls::TlsCertServer;
use crate::support::{output_within_bound, stdout, Fixture, BASE_SETTINGS};

const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs `promtool check metrics` on `text`: it must pass with nothing to say (problems
/// and lint findings alike fail the test).
fn promtool(what: &str, text: &str) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: run scripts/install-test-deps.sh (package prometheus)"
    );
    let mut cmd = Command::new(PROMTOOL);
    cmd.args(["check", "metrics"]).stdin(Stdio::piped());
    let out = output_within_bound(cmd, Some(text.as_bytes()), Duration::from_secs(30));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool on {what}: {:?}: {said}\n{text}",
        out.status
    );
}

/// A job name with everything a label value must escape, and more.
const HOSTILE: &str = "we\"ird \\ job\nname ☃";
/// How it reads in a label value.
const HOSTILE_LABEL: &str = "we\\\"ird \\\\ job\\nname ☃";

/// A plugin that passes and prints hostile performance data: quotes, a backslash,
/// non-ASCII labels, an escape sequence, a repeated label, ranges and units.
const PLUGIN: &str = "#!/bin/sh\ncat <<'EOF'\nOK - fine | 'la\"b\\el'=5ms;100;200;0;1000 'ü nï'=2GB;;;0;10 pct=91%;80;90 time=0.5s;1:2;@3:4 dup=1 dup=2 'ctl\x1b[31m'=3\nEOF\n";

fn fixture(extra: &str) -> Fixture {
    let f = Fixture::new();
    f.settings(&format!("{BASE_SETTINGS}{extra}"));
    f.script("jobs/plugin.sh", PLUGIN).fail_script();
    f.jobs(&format!(
        "[[job]]\nname = {HOSTILE:?}\nkind = \"command\"\ncommand = [\"./plugin.sh\"]\n\n\
         [[job]]\nname = \"down\"\nkind = \"command\"\ncommand = [\"./fail.sh\"]\n"
    ));
    f
}

fn metrics(f: &Fixture) -> String {
    stdout(&f.run_ok(&["metrics"], 0))
}

/// Every line of `text` for the family `name` (its samples only).
fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

#[test]
fn metrics_printed_served_and_written_as_a_textfile_pass_promtool_with_hostile_names_and_perfdata()
{
    let f = fixture("\n[metrics]\ntextfile_dir = \"prom\"\n");
    std::fs::create_dir(f.path().join("prom")).expect("prom dir");
    f.tick("minute");
    f.tick("minute");

    let text = metrics(&f);
    promtool("checker metrics", &text);
    let job = |name: &str| format!("job=\"{name}\",kind=\"command\"");
    for line in [
        format!(
            "checker_job_checks_total{{{},result=\"ok\"}} 2",
            job(HOSTILE_LABEL)
        ),
        format!("checker_job_checks_total{{{},result=\"failed\"}} 2", job("down")),
        format!("checker_job_checks_total{{{},result=\"ok\"}} 0", job("down")),
        format!("checker_job_uptime_ratio{{{},window=\"24h\"}} 0", job("down")),
        format!("checker_job_uptime_ratio{{{},window=\"90d\"}} 1", job(HOSTILE_LABEL)),
        format!("checker_perfdata{{job=\"{HOSTILE_LABEL}\",label=\"la\\\"b\\\\el\",uom=\"seconds\"}} 0.005"),
        format!("checker_perfdata{{job=\"{HOSTILE_LABEL}\",label=\"ü nï\",uom=\"bytes\"}} 2147483648"),
        format!("checker_perfdata{{job=\"{HOSTILE_LABEL}\",label=\"pct\",uom=\"percent\"}} 91"),
        format!("checker_perfdata_warn{{job=\"{HOSTILE_LABEL}\",label=\"la\\\"b\\\\el\",uom=\"seconds\",bound=\"high\"}} 0.1"),
        format!("checker_perfdata_crit{{job=\"{HOSTILE_LABEL}\",label=\"pct\",uom=\"percent\",bound=\"high\"}} 90"),
        format!("checker_perfdata_warn{{job=\"{HOSTILE_LABEL}\",label=\"time\",uom=\"seconds\",bound=\"low\"}} 1"),
        format!("checker_perfdata_max{{job=\"{HOSTILE_LABEL}\",label=\"ü nï\",uom=\"bytes\"}} 10737418240"),
        format!("checker_perfdata{{job=\"{HOSTILE_LABEL}\",label=\"ctl [31m\",uom=\"\"}} 3"),
    ] {
        assert!(text.contains(&format!("{line}\n")), "lacks {line:?}:\n{text}");
    }
    // One series per label: the repeated one is kept once, the first.
    let dup: Vec<&str> = lines(&text, "checker_perfdata")
        .into_iter()
        .filter(|l| l.contains("label=\"dup\""))
        .collect();
    assert_eq!(dup.len(), 1, "{dup:?}");
    assert!(dup[0].ends_with(" 1"), "{dup:?}");
    // `@3:4` alerts inside the range: no bound to show.
    assert!(
        !lines(&text, "checker_perfdata_crit")
            .iter()
            .any(|l| l.contains("label=\"time\"")),
        "{text}"
    );
    let duration = lines(&text, "checker_job_duration_seconds");
    assert_eq!(duration.len(), 2, "{duration:?}");

    // The same through `serve`.
    let s = p::serve(&f);
    let (code, served) = h::get(s.port, "/metrics", &[]);
    assert_eq!(code, 200);
    promtool("/metrics", &served);
    for family in [
        "checker_job_checks_total",
        "checker_perfdata",
        "checker_job_uptime_ratio",
    ] {
        assert_eq!(lines(&served, family), lines(&text, family), "{family}");
    }

    // The textfile the tick wrote, and one written by hand.
    let ticked = std::fs::read_to_string(f.path().join("prom/checker.prom")).expect("textfile");
    promtool("the tick's textfile", &ticked);
    assert_eq!(
        lines(&ticked, "checker_job_checks_total"),
        lines(&text, "checker_job_checks_total")
    );
    let out = f.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    f.test()
        .args(["metrics", "--textfile"])
        .arg(&out)
        .stdout("")
        .run();
    let written = std::fs::read_to_string(out.join("checker.prom")).expect("checker.prom");
    promtool("--textfile", &written);
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("read out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["checker.prom"], "no temp file is left behind");
}

#[test]
fn a_textfile_target_that_is_not_a_regular_file_is_refused_and_the_tick_still_completes() {
    let f = fixture("\n[metrics]\ntextfile_dir = \"prom\"\n");
    let prom = f.path().join("prom");
    std::fs::create_dir(&prom).expect("prom dir");
    let made = Command::new("mkfifo")
        .arg(prom.join("checker.prom"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    f.test()
        .args(["metrics", "--textfile"])
        .arg(&prom)
        .within(Duration::from_secs(20))
        .status(2)
        .stderr_contains("is a FIFO (named pipe), not a regular file: refused")
        .run();
    // A tick is not failed for it: it says so in its log.
    f.test()
        .args(["-c", "minute"])
        .within(Duration::from_secs(60))
        .run();
    let log = std::fs::read_to_string(f.path().join("checker.log")).expect("log");
    assert!(
        log.contains("[metrics] textfile_dir: metrics textfile") && log.contains("FIFO"),
        "{log}"
    );
    assert!(f.state()["heartbeat"]["last_tick_finished"].is_string());

    // A directory in its place is left alone; a folder that does not exist is refused.
    let other = f.path().join("other");
    std::fs::create_dir_all(other.join("checker.prom")).expect("dir");
    f.test()
        .args(["metrics", "--textfile"])
        .arg(&other)
        .status(2)
        .stderr_contains("is a directory, not a regular file")
        .run();
    assert!(other.join("checker.prom").is_dir());
    f.test()
        .args(["metrics", "--textfile"])
        .arg(f.path().join("missing"))
        .status(2)
        .stderr_contains("metrics textfile folder")
        .run();
}

#[test]
fn uptime_ratios_per_window_come_from_the_history() {
    let f = Fixture::new();
    f.script(
        "jobs/flaky.sh",
        "#!/bin/sh\nif [ -e \"$(dirname \"$0\")/fail\" ]; then echo 'CRITICAL - down'; exit 2; fi\necho 'OK - up'\n",
    );
    f.jobs("[[job]]\nname = \"flaky\"\nkind = \"command\"\ncommand = [\"./flaky.sh\"]\n");
    f.write("jobs/fail", "");
    f.tick("minute");
    std::fs::remove_file(f.path().join("jobs/fail")).expect("pass");
    for _ in 0..3 {
        f.tick("minute");
    }
    let text = metrics(&f);
    promtool("checker metrics", &text);
    assert_eq!(
        lines(&text, "checker_job_uptime_ratio"),
        ["24h", "7d", "30d", "90d"]
            .iter()
            .map(|w| format!(
                "checker_job_uptime_ratio{{job=\"flaky\",kind=\"command\",window=\"{w}\"}} 0.75"
            ))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cert_jobs_certificate_expiry_is_a_metric_even_while_the_check_fails() {
    let tls = TlsCertServer::start().await;
    let port = tls.port();
    let f = Fixture::new();
    f.jobs(&format!(
        "[[job]]\nname = \"good\"\nkind = \"tls_cert\"\nhost = \"127.0.0.1\"\nport = {port}\nsni = \"valid.test\"\n\n\
         [[job]]\nname = \"old\"\nkind = \"tls_cert\"\nhost = \"127.0.0.1\"\nport = {port}\nsni = \"expired.test\"\n"
    ));
    let text = tokio::task::spawn_blocking(move || {
        f.tick("minute");
        assert_eq!(f.job_state("old")["status"], "failing");
        metrics(&f)
    })
    .await
    .expect("the tick");
    promtool("checker metrics", &text);
    let now = chrono::Utc::now().timestamp();
    let value = |job: &str| -> i64 {
        let prefix = format!(
            "checker_tls_cert_not_after_timestamp_seconds{{job=\"{job}\",kind=\"tls_cert\"}} "
        );
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}:\n{text}"))
    };
    let hour = 3600;
    let day = 24 * hour;
    assert!(
        (value("good") - (now + 90 * day + hour)).abs() < 300,
        "{text}"
    );
    assert!(
        (value("old") - (now - 3 * day - hour)).abs() < 300,
        "{text}"
    );
}
