//! Pushed results end to end through the real binary: `report` and `wrap`, passive jobs
//! and their dead-man's-switch deadlines, seed 000's rule in real time, per-job metrics
//! in `status`, history filters and pruning, and contention (many reports at once,
//! reports during a long tick).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, stderr, stdout, wait_for_file, Fixture, Syslog};

fn passive(name: &str, extra: &str) -> String {
    format!("[[job]]\nname = \"{name}\"\nkind = \"passive\"\nexpect_every = \"1h\"\n{extra}\n")
}

fn report(f: &Fixture, args: &[&str]) {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let out = f.run_ok(&all, 0);
    assert_eq!(
        stdout(&out),
        "",
        "report is silent when all went well (cron mails any output)"
    );
}

fn alert_summary(f: &Fixture) -> Vec<(String, String, u64)> {
    f.alerts()
        .iter()
        .map(|a| {
            (
                a["job"].as_str().unwrap_or("").to_string(),
                a["kind"].as_str().unwrap_or("").to_string(),
                a["consecutive_failures"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn summary(job: &str, kind: &str, n: u64) -> (String, String, u64) {
    (job.to_string(), kind.to_string(), n)
}

// 1. report

#[test]
fn report_records_a_result_with_its_count_and_message_and_keeps_seed_001s_metrics() {
    let f = Fixture::new();
    f.jobs(&passive("fastdl", ""));
    report(
        &f,
        &["fastdl", "--ok", "--count", "120", "--message", "120 files"],
    );
    report(&f, &["fastdl", "--ok", "--count", "95"]);
    report(
        &f,
        &["fastdl", "--fail", "--message", "Cloudflare challenge"],
    );
    let s = f.job_state("fastdl");
    assert_eq!(s["total_count"], 215, "counts are summed: {s}");
    assert_eq!(s["total_attempts"], 3);
    assert_eq!(s["successes"], 2);
    assert_eq!(s["failures"], 1);
    assert_eq!(s["consecutive_failures"], 1);
    assert_eq!(s["status"], "failing");
    assert_eq!(s["last_error"], "Cloudflare challenge");
    let (last_run, last_success) = (
        s["last_run"].as_str().unwrap(),
        s["last_success"].as_str().unwrap(),
    );
    assert!(
        last_run > last_success,
        "the last run is the failure, after the last success"
    );
    let reports = f.events("report");
    assert_eq!(reports.len(), 3, "each pushed result is a `report` event");
    assert!(f.events("result").is_empty());
    let counts: Vec<Value> = reports.iter().map(|e| e["count"].clone()).collect();
    assert_eq!(counts, vec![Value::from(120), Value::from(95), Value::Null]);
    assert_eq!(reports[0]["message"], "120 files");
    assert_eq!(reports[1]["message"], "reported OK");
    assert_eq!(reports[2]["ok"], false);
    // Consecutive errors reset on the next success.
    report(&f, &["fastdl", "--ok"]);
    assert_eq!(f.job_state("fastdl")["consecutive_failures"], 0);
}

#[test]
fn report_to_an_unknown_job_names_the_nearest_one_and_exits_2() {
    let f = Fixture::new();
    f.jobs(&passive("fastdl", ""));
    let out = f.run_ok(&["report", "fastld", "--ok"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("unknown job \"fastld\"") && err.contains("did you mean \"fastdl\""),
        "{err}"
    );
    assert!(!f.path().join("state.json").exists(), "nothing recorded");
    // Exactly one of --ok and --fail.
    f.run_ok(&["report", "fastdl"], 2);
    f.run_ok(&["report", "fastdl", "--ok", "--fail"], 2);
    f.run_ok(&["report", "fastdl", "--ok", "--count", "many"], 2);
}

#[test]
fn report_works_for_a_job_of_any_kind_and_alerts_by_its_rules() {
    let f = Fixture::new();
    f.script("jobs/ok.sh", "#!/bin/sh\necho 'OK - fine'\n");
    f.jobs("[[job]]\nname = \"nightly\"\nkind = \"command\"\ncommand = [\"./ok.sh\"]\nfrequency = \"day\"\n");
    report(
        &f,
        &[
            "nightly",
            "--fail",
            "--message",
            "rsync: connection refused",
        ],
    );
    let alerts = f.alerts();
    assert_eq!(
        alerts.len(),
        1,
        "failures_before_notify = 1, every: the report alerts at once"
    );
    assert_eq!(alerts[0]["job"], "nightly");
    assert_eq!(alerts[0]["message"], "rsync: connection refused");
    assert!(
        f.state()["outbox"].as_array().unwrap().is_empty(),
        "delivered and settled"
    );
    let notes = f.events("notify");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["ok"], true);
    report(&f, &["nightly", "--ok"]);
    assert_eq!(alert_summary(&f)[1], summary("nightly", "recovery", 1));
}

// 2. Seed 000 with its own 3 hours: time passes by ageing the state, not by waiting.

#[test]
fn seed_000_rule_end_to_end_alerts_once_for_the_failing_source_only() {
    let f = Fixture::new();
    let rule = "notify_every = \"state_change\"\nfailures_before_notify = 2\nfailing_for = \"3h\"";
    f.jobs(&format!(
        "{}{}{}",
        passive("fastdl", rule),
        passive("toolzu", rule),
        passive("imginn", rule)
    ));
    // 09:00
    report(&f, &["fastdl", "--ok", "--count", "3"]);
    report(&f, &["toolzu", "--fail", "--message", "Rate limited"]);
    report(&f, &["imginn", "--fail", "--message", "Cloudflare"]);
    // Two failures within less than failing_for: not yet.
    report(&f, &["toolzu", "--fail", "--message", "Rate limited"]);
    assert!(f.alerts().is_empty(), "{:?}", alert_summary(&f));
    f.age_state(Duration::from_secs(3 * 3600 + 60));
    // 12:00: toolzu has failed for failing_for with 3 failures: the one alert. imginn
    // recovered before the threshold: nothing, not even a recovery notice.
    report(&f, &["fastdl", "--ok", "--count", "2"]);
    report(&f, &["imginn", "--ok", "--count", "5"]);
    report(&f, &["toolzu", "--fail", "--message", "Rate limited"]);
    assert_eq!(alert_summary(&f), vec![summary("toolzu", "failure", 3)]);
    let a = &f.alerts()[0];
    assert_eq!(a["message"], "Rate limited");
    assert!(
        a["failing_since"].is_string() && a["last_success"].is_null(),
        "{a}"
    );
    // 15:00: still failing, no repeat.
    report(&f, &["toolzu", "--fail", "--message", "Rate limited"]);
    report(&f, &["fastdl", "--ok"]);
    assert_eq!(f.alerts().len(), 1);
    // It works again: the recovery notice.
    report(&f, &["toolzu", "--ok", "--count", "7"]);
    assert_eq!(
        alert_summary(&f),
        vec![
            summary("toolzu", "failure", 3),
            summary("toolzu", "recovery", 4)
        ]
    );
    assert_eq!(f.job_state("fastdl")["total_count"], 5);
}

// 3. wrap

fn wrap(f: &Fixture, args: &[&str]) -> std::process::Command {
    let mut c = f.cmd();
    c.args(["wrap"]).args(args);
    c
}

#[test]
fn wrap_passes_output_through_records_its_tail_and_exits_with_the_commands_status() {
    let f = Fixture::new();
    f.jobs(&passive("backup", ""));
    // 1,000 numbered lines (about 9 KB) on stdout, an error on stderr, exit 3.
    f.script(
        "task.sh",
        "#!/bin/sh\necho 'starting backup'\ni=0\nwhile [ $i -lt 1000 ]; do echo \"copied file $i\"; i=$((i+1)); done\necho 'disk full' >&2\nexit 3\n",
    );
    let task = f.path().join("task.sh").display().to_string();
    let out = wrap(&f, &["backup", "--", &task]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let passed = stdout(&out);
    assert!(
        passed.starts_with("starting backup\ncopied file 0\n"),
        "all output passes through"
    );
    assert!(passed.ends_with("copied file 999\n"));
    assert!(stderr(&out).contains("disk full"));
    let s = f.job_state("backup");
    assert_eq!(s["status"], "failing");
    let msg = s["last_error"].as_str().unwrap();
    let first = msg.lines().next().unwrap();
    assert!(
        first.starts_with("exit status 3 after ") && first.ends_with(": disk full"),
        "{first}"
    );
    assert!(msg.contains("--- stdout (last 4096 of "), "{msg}");
    assert!(
        msg.contains("copied file 999") && !msg.contains("starting backup"),
        "only the tail is kept"
    );
    assert!(msg.contains("--- stderr ---\ndisk full"), "{msg}");
    assert!(msg.len() < 4096 + 4096 + 300, "capped: {} bytes", msg.len());
    let ev = &f.events("report")[0];
    assert_eq!(ev["ok"], false);
    assert!(ev["duration_ms"].is_u64());
    assert_eq!(
        f.alerts().len(),
        1,
        "the failure alerted through the job's rules"
    );

    // A command that works; its input passes through too.
    let mut child = wrap(&f, &["backup", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello from stdin\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "hello from stdin\n");
    let s = f.job_state("backup");
    assert_eq!(s["status"], "ok");
    let msg = s["last_message"].as_str().unwrap();
    assert!(
        msg.starts_with("exit status 0 after ") && msg.contains(": hello from stdin"),
        "{msg}"
    );
    assert_eq!(alert_summary(&f)[1], summary("backup", "recovery", 1));
}

#[test]
fn wrap_records_the_duration_of_the_command() {
    let f = Fixture::new();
    f.jobs(&passive("slow", ""));
    let out = wrap(&f, &["slow", "--", "sleep", "1.2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let ms = f.job_state("slow")["last_duration_ms"].as_u64().unwrap();
    assert!((1200..5000).contains(&ms), "{ms} ms");
    assert!(f.job_state("slow")["last_message"]
        .as_str()
        .unwrap()
        .starts_with("exit status 0 after 1s"));
}

#[test]
fn report_duration_records_how_long_the_run_took() {
    let f = Fixture::new();
    f.jobs(&passive("nightly", ""));
    report(&f, &["nightly", "--ok", "--duration", "1h5m"]);
    assert_eq!(f.job_state("nightly")["last_duration_ms"], 3_900_000);
    assert_eq!(f.events("report")[0]["duration_ms"], 3_900_000);
    // Without it, nothing was measured: 0 as before.
    report(&f, &["nightly", "--fail", "--message", "disk full"]);
    assert_eq!(f.job_state("nightly")["last_duration_ms"], 0);
    for bad in ["soon", "400d", "99999999999d"] {
        let out = f.run(&["report", "nightly", "--ok", "--duration", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--duration"), "{}", stderr(&out));
    }
    assert_eq!(f.events("report").len(), 2, "bad ones record nothing");
}

#[test]
fn wrap_piped_into_a_reader_that_stops_early_ends_as_the_command_alone_would() {
    // `yes | head -1` ends at once, `yes` killed by SIGPIPE (141): so must
    // `checker wrap j -- yes | head -1`, and the job records how `yes` ended.
    use std::os::unix::process::CommandExt;
    let f = Fixture::new();
    f.jobs(&passive("yes", ""));
    let line = format!(
        "set -o pipefail; '{}' -f '{}' wrap yes -- yes | head -1",
        env!("CARGO_BIN_EXE_checker"),
        f.settings_path().display()
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &line])
        .env_remove("CHECKER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // The whole pipeline: bash, checker and an endless `yes`.
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            panic!("`checker wrap yes -- yes | head -1` did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "y\n");
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    let s = f.job_state("yes");
    assert_eq!(s["status"], "failing");
    let msg = s["last_error"].as_str().unwrap();
    assert!(
        msg.starts_with("killed by signal 13 (SIGPIPE) after "),
        "{msg}"
    );
}

#[test]
fn wrap_keeps_a_bounded_tail_of_endless_output_and_does_not_wait_for_background_children() {
    let f = Fixture::new();
    f.jobs(&passive("noisy", ""));
    // 20 MB through the pipe: all of it passes, only 4 KiB is kept.
    let out = wrap(
        &f,
        &[
            "noisy",
            "--",
            "sh",
            "-c",
            "head -c 20000000 /dev/zero | tr '\\0' 'x'; echo; echo end",
        ],
    )
    .stdout(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let msg = f.job_state("noisy")["last_message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("--- stdout (last 4096 of 20000005 bytes) ---"),
        "{}",
        &msg[..200.min(msg.len())]
    );
    assert!(msg.len() < 4096 + 300 && msg.ends_with("\nend"));
    // The command exits but leaves a child holding its output open.
    let t = Instant::now();
    let out = wrap(&f, &["noisy", "--", "sh", "-c", "sleep 8 & echo started"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "waited {:?} for the background child",
        t.elapsed()
    );
    assert!(f.job_state("noisy")["last_message"]
        .as_str()
        .unwrap()
        .contains("started"));
}

#[test]
fn wrap_exits_128_plus_the_signal_that_killed_the_command() {
    let f = Fixture::new();
    f.jobs(&passive("crashy", ""));
    let out = wrap(
        &f,
        &[
            "crashy",
            "--",
            "sh",
            "-c",
            "echo about to die; kill -KILL $$",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let msg = f.job_state("crashy")["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with("killed by signal 9 (SIGKILL) after "),
        "{msg}"
    );
    assert!(msg.contains("about to die"));
}

#[test]
fn wrap_passes_sigint_sigterm_and_sighup_on_to_the_command() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let f = Fixture::new();
    f.jobs(&passive("long", ""));
    f.script(
        "long.sh",
        "#!/bin/sh\ntrap 'echo \"got $1\" > \"$2\"; exit 7' INT TERM HUP\ntouch \"$2.ready\"\nwhile true; do sleep 0.05; done\n",
    );
    let script = f.path().join("long.sh").display().to_string();
    for (sig, name) in [
        (Signal::SIGINT, "INT"),
        (Signal::SIGTERM, "TERM"),
        (Signal::SIGHUP, "HUP"),
    ] {
        let marker = f.path().join(format!("got-{name}"));
        let marker_s = marker.display().to_string();
        let mut child: Child = wrap(&f, &["long", "--", &script, name, &marker_s])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_file(
            &f.path().join(format!("got-{name}.ready")),
            Duration::from_secs(10),
        );
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(7),
            "SIG{name}: checker exits with the command's status"
        );
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap().trim(),
            format!("got {name}")
        );
        assert!(f.job_state("long")["last_error"]
            .as_str()
            .unwrap()
            .starts_with("exit status 7 after "));
    }
    assert_eq!(f.job_state("long")["total_attempts"], 3);
}

#[test]
fn wrap_of_a_program_that_cannot_run_records_a_failure_and_exits_127() {
    let f = Fixture::new();
    f.jobs(&passive("typo", ""));
    let out = wrap(&f, &["typo", "--", "/nonexistent/backup.sh", "--all"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let msg = f.job_state("typo")["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with("cannot run /nonexistent/backup.sh: "),
        "{msg}"
    );
    assert!(stderr(&out).contains("cannot run /nonexistent/backup.sh"));
}

/// `wrap` pointed at the fixture's syslog stand-in, with `-f settings`.
fn wrap_with(
    f: &Fixture,
    syslog: &Syslog,
    settings: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_checker"));
    c.arg("-f").arg(settings).arg("wrap").args(args);
    c.env_remove("CHECKER_CONFIG");
    c.env("CHECKER_SYSLOG_SOCKET", &syslog.path);
    c.current_dir(f.path());
    support::output_within(c, 20)
}

#[test]
fn wrap_runs_its_command_with_an_unreadable_settings_file_and_tells_stderr_and_syslog() {
    let f = Fixture::new();
    let syslog = Syslog::bind(&f);
    let marker = f.path().join("ran");
    let task = format!("echo backed up; touch {}; exit 3", marker.display());
    // Settings that cannot be read at all: a folder, and text that is not UTF-8.
    std::fs::create_dir_all(f.path().join("settings.d")).unwrap();
    std::fs::write(
        f.path().join("latin1.toml"),
        b"[general]\nservername = \"caf\xe9\"\n",
    )
    .unwrap();
    for settings in ["settings.d", "latin1.toml"] {
        let _ = std::fs::remove_file(&marker);
        let out = wrap_with(
            &f,
            &syslog,
            &f.path().join(settings),
            &["backup", "--", "sh", "-c", &task],
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "the command's own status: {}",
            stderr(&out)
        );
        assert!(marker.exists(), "the command ran with settings {settings}");
        assert_eq!(stdout(&out), "backed up\n", "its output passes through");
        let err = stderr(&out);
        assert!(
            err.contains("could not record the result of job \"backup\" (exit status 3 after ")
                && err.contains("cannot read settings file"),
            "{err}"
        );
        // No log file can be known: syslog, in RFC 3164 form, one datagram per line.
        let got = syslog.received();
        assert!(
            got.iter().any(|d| d.starts_with("<11>")
                && d.contains(" checker[")
                && d.contains("]: wrap: could not record the result of job \"backup\"")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|d| d.contains("cannot read settings file")),
            "{got:?}"
        );
    }
    // A command that works still exits 0: a monitoring failure is not the job's failure.
    let out = wrap_with(
        &f,
        &syslog,
        &f.path().join("settings.d"),
        &["backup", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!f.path().join("state.json").exists());
}

#[test]
fn wrap_with_settings_that_do_not_load_writes_the_error_into_the_log_file_they_name() {
    let f = Fixture::new();
    let syslog = Syslog::bind(&f);
    f.jobs(&passive("backup", ""));
    // A typo, and a variable cron does not have: the settings do not load.
    f.write(
        "settings.toml",
        &(support::BASE_SETTINGS.replace("[general]\n", "[general]\nservernam = \"x\"\n")
            + "\n[pushover]\ntoken_env = \"CHECKER_TEST_UNSET_TOKEN\"\nuser = \"u\"\n"),
    );
    let out = wrap_with(
        &f,
        &syslog,
        &f.settings_path(),
        &["backup", "--", "sh", "-c", "exit 5"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let log =
        std::fs::read_to_string(f.path().join("checker.log")).expect("the log file was written");
    assert!(
        log.contains("ERROR")
            && log.contains("wrap: could not record the result of job \"backup\"")
            && log.contains("unknown key `servernam`")
            && log.contains("CHECKER_TEST_UNSET_TOKEN is not set"),
        "{log}"
    );
    assert_eq!(
        syslog.received(),
        Vec::<String>::new(),
        "the log file was enough"
    );
}

#[test]
fn wrap_for_an_unknown_job_still_runs_the_command_and_exits_with_its_status() {
    let f = Fixture::new();
    f.jobs(&passive("backup", ""));
    let marker = f.path().join("ran");
    let out = wrap(
        &f,
        &[
            "bakup",
            "--",
            "sh",
            "-c",
            &format!("touch {}; exit 4", marker.display()),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(marker.exists(), "the command ran");
    let err = stderr(&out);
    assert!(
        err.contains("could not record the result of job \"bakup\"")
            && err.contains("did you mean \"backup\""),
        "{err}"
    );
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(
        log.contains("could not record the result of job \"bakup\""),
        "{log}"
    );
    assert!(
        !f.path().join("state.json").exists(),
        "nothing was recorded"
    );
    // Without a command there is nothing to run: a usage error.
    let out = wrap(&f, &["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn wrap_runs_its_command_when_its_job_file_is_broken_or_the_state_cannot_be_written() {
    let f = Fixture::new();
    f.jobs(&passive("backup", ""));
    // The job's file has a typo: the job is unknown, and the message says where it may be.
    f.write("jobs/jobs.toml", &passive("backup", "gracee = \"5m\""));
    let marker = f.path().join("ran");
    let out = wrap(
        &f,
        &["backup", "--", "touch", &marker.display().to_string()],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(marker.exists());
    let err = stderr(&out);
    assert!(
        err.contains("could not record the result of job \"backup\"")
            && err.contains("it may be in a job file that cannot be loaded")
            && err.contains("jobs.toml"),
        "{err}"
    );

    // The state file's place is taken by a folder: the result cannot be recorded, and a
    // command that worked still exits 0.
    f.jobs(&passive("backup", ""));
    f.write(
        "settings.toml",
        &support::BASE_SETTINGS.replace("state_file = \"state.json\"", "state_file = \"state.d\""),
    );
    std::fs::create_dir_all(f.path().join("state.d")).unwrap();
    let out = wrap(&f, &["backup", "--", "sh", "-c", "echo fine"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fine\n");
    let err = stderr(&out);
    assert!(
        err.contains("could not record the result of job \"backup\" (exit status 0 after ")
            && err.contains("state.d"),
        "{err}"
    );
    let log = std::fs::read_to_string(f.path().join("checker.log")).unwrap();
    assert!(log.contains("wrap: could not record the result"), "{log}");
}

// 4. passive jobs: the dead-man's switch

#[test]
fn a_passive_job_that_stops_reporting_fails_as_missing_each_tick_and_a_late_result_recovers_it() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"collector\"\nkind = \"passive\"\nexpect_every = \"1h\"\ngrace = \"10m\"\n");
    f.tick("minute");
    let s = f.job_state("collector");
    assert_eq!(
        s["total_attempts"], 0,
        "a passive job is never run as a check"
    );
    assert!(s["first_seen"].is_string());
    report(&f, &["collector", "--ok", "--count", "10"]);
    f.tick("minute");
    assert_eq!(f.job_state("collector")["status"], "ok", "in time");
    f.age_state(Duration::from_secs(3600 + 600 + 60)); // past expect_every and grace
    f.tick("minute");
    let s = f.job_state("collector");
    assert_eq!(s["status"], "failing");
    let msg = s["last_error"].as_str().unwrap();
    assert!(
        msg.starts_with("missing: no result since ") && msg.ends_with("ago), expected every 1h"),
        "{msg}"
    );
    let pushed_at =
        chrono::DateTime::parse_from_rfc3339(s["last_pushed"].as_str().unwrap()).unwrap();
    assert!(
        msg.contains(&pushed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        "says when the last result came: {msg}"
    );
    assert_eq!(alert_summary(&f), vec![summary("collector", "failure", 1)]);
    assert!(f.alerts()[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("missing: "));
    f.tick("minute");
    assert_eq!(
        f.job_state("collector")["consecutive_failures"],
        2,
        "one missing failure per tick"
    );
    let missing = f.events("result");
    assert_eq!(missing.len(), 2);
    assert!(missing.iter().all(|e| e["ok"] == false));
    // The late result.
    report(&f, &["collector", "--ok", "--count", "4"]);
    assert_eq!(f.job_state("collector")["status"], "ok");
    let kinds: Vec<String> = f
        .alerts()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        vec!["failure", "failure", "recovery"],
        "notify_every = every: each missing tick alerted"
    );
    f.tick("minute");
    assert_eq!(
        f.job_state("collector")["status"],
        "ok",
        "the deadline restarts from the late result"
    );
}

#[test]
fn a_new_passive_job_that_never_reports_is_missing_only_after_a_full_period() {
    let f = Fixture::new();
    f.jobs("[[job]]\nname = \"new\"\nkind = \"passive\"\nexpect_every = \"1h\"\ngrace = \"0s\"\nnotify_every = \"state_change\"\n");
    f.tick("minute");
    f.tick("hour");
    assert_eq!(f.job_state("new")["status"], "pending");
    f.age_state(Duration::from_secs(3600 + 60));
    f.tick("minute");
    let msg = f.job_state("new")["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.starts_with("missing: no result yet; watched since "),
        "{msg}"
    );
    // run-once checks the deadline too, and says so.
    let out = f.run_ok(&["run-once", "new"], 1);
    assert!(
        stdout(&out).contains("missing: no result yet"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        f.alerts().len(),
        1,
        "state_change: one alert for the streak"
    );
}

#[test]
fn run_once_checks_every_passive_deadline_and_says_when_one_is_met() {
    let f = Fixture::new();
    f.jobs(&format!(
        "{}{}[[job]]\nname = \"dl\"\nkind = \"passive\"\n",
        passive("backup", ""),
        passive("late", "")
    ));
    // A dry run before any real one: nothing is watched yet, and nothing is written.
    let text = stdout(&f.run_ok(&["run-once", "--dry-run"], 0));
    assert!(
        text.contains(
            "deadline not started: the first real run starts watching it; missing 1h6m after that"
        ),
        "{text}"
    );
    assert!(!f.path().join("state.json").exists());

    report(&f, &["backup", "--ok"]);
    // With no names, every enabled job, passive ones included, is checked and shown.
    let text = stdout(&f.run_ok(&["run-once"], 0));
    let line = |job: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(job))
            .unwrap_or_else(|| panic!("no line for {job} in:\n{text}"))
            .to_string()
    };
    assert!(line("backup").starts_with("ok "), "{text}");
    assert!(
        line("backup").contains("deadline met: last result 0s ago (")
            && line("backup").contains("); missing after "),
        "{text}"
    );
    assert!(
        line("late").contains("deadline met: no result yet; missing after "),
        "{text}"
    );
    assert!(
        line("dl").contains("no deadline (no expect_every); no result yet"),
        "{text}"
    );
    // Named, it says so too, in JSON as well.
    let v: Value =
        serde_json::from_str(&stdout(&f.run_ok(&["run-once", "backup", "--json"], 0))).unwrap();
    assert_eq!(v["results"][0]["job"], "backup");
    assert_eq!(v["results"][0]["ok"], true);
    assert!(v["results"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("deadline met: last result"));

    // Past its deadline (watched since two hours ago), it is missing: a failure.
    let mut state = f.state();
    let two_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    state["jobs"]["late"]["first_seen"] = Value::from(two_hours_ago);
    f.write("state.json", &state.to_string());
    let text = stdout(&f.run_ok(&["run-once", "--dry-run"], 1));
    assert!(text.contains("FAIL late"), "{text}");
    assert!(
        text.contains("missing: no result yet; watched since"),
        "{text}"
    );
    assert_eq!(
        f.job_state("late")["consecutive_failures"],
        0,
        "a dry run records nothing"
    );
    let text = stdout(&f.run_ok(&["run-once"], 1));
    assert!(text.contains("FAIL late"), "{text}");
    assert_eq!(f.job_state("late")["consecutive_failures"], 1);
}

#[test]
fn passive_jobs_may_omit_expect_every_but_refuse_keys_of_other_kinds() {
    let f = Fixture::new();
    f.jobs(
        "[[job]]\nname = \"a\"\nkind = \"passive\"\n\
         [[job]]\nname = \"b\"\nkind = \"passive\"\nexpect_every = \"1h\"\nurl = \"http://x/\"\n\
         [[job]]\nname = \"c\"\nkind = \"http\"\nurl = \"http://x/\"\nexpect_every = \"1h\"\n\
         [[job]]\nname = \"d\"\nkind = \"passive\"\nexpect_every = \"soon\"\n",
    );
    let out = f.run_ok(&["validate"], 2);
    let err = stderr(&out);
    // Without `expect_every` a passive job has no deadline: accepted (issue #10, item 17).
    assert!(!err.contains("job \"a\""), "{err}");
    assert!(
        err.contains("jobs.toml:8: job \"b\": `url` belongs to kind \"http\""),
        "{err}"
    );
    assert!(
        err.contains("jobs.toml:13: job \"c\": `expect_every` belongs to kind \"passive\""),
        "{err}"
    );
    assert!(
        err.contains("jobs.toml:17: job \"d\": `expect_every`: \"soon\" is not a duration"),
        "{err}"
    );
    f.jobs(&passive("ok", ""));
    let out = f.run_ok(&["list", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["jobs"][0]["kind"], "passive");
    assert_eq!(
        v["jobs"][0]["target"], "pushed, expected every 1h (grace 6m)",
        "the default grace is a tenth"
    );
}

// 5. metrics in status

#[test]
fn status_json_gives_seed_000s_fields_for_pushed_results() {
    let f = Fixture::new();
    f.jobs(&format!("{}{}", passive("fastdl", ""), passive("idle", "")));
    report(&f, &["fastdl", "--ok", "--count", "120"]);
    report(&f, &["fastdl", "--ok", "--count", "95"]);
    report(
        &f,
        &["fastdl", "--fail", "--message", "Cloudflare challenge"],
    );
    let out = f.run_ok(&["status", "--hours", "1", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["window_hours"], 1);
    let row = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "fastdl")
        .unwrap()
        .clone();
    assert_eq!(row["kind"], "passive");
    assert_eq!(row["state"], "failing");
    assert_eq!(row["total_attempts"], 3);
    assert_eq!(row["successful"], 2);
    assert_eq!(row["failed"], 1);
    assert_eq!(row["total_count"], 215);
    assert_eq!(row["success_rate"], 66.7);
    assert_eq!(row["consecutive_failures"], 1);
    assert_eq!(row["last_error"], "Cloudflare challenge");
    let state = f.job_state("fastdl");
    assert_eq!(row["last_success"], state["last_success"]);
    assert_eq!(row["last_attempt"], state["last_run"]);
    assert!(row["last_attempt"].as_str().unwrap() > row["last_success"].as_str().unwrap());
    let idle = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "idle")
        .unwrap()
        .clone();
    assert_eq!(
        (idle["state"].clone(), idle["total_attempts"].clone()),
        (Value::from("pending"), Value::from(0))
    );
    assert!(idle["success_rate"].is_null() && idle["last_success"].is_null());
}

// 6. history and prune with pushed results

#[test]
fn history_filters_pushed_results_and_prune_drops_them() {
    let f = Fixture::new();
    f.jobs(&format!(
        "{}{}",
        passive("a", "notify = []"),
        passive("b", "notify = []")
    ));
    report(&f, &["a", "--ok", "--message", "a1"]);
    report(&f, &["a", "--fail", "--message", "a2"]);
    report(&f, &["b", "--fail", "--message", "b1"]);
    report(&f, &["a", "--ok", "--message", "a3"]);
    let hist = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["history", "--json"];
        all.extend_from_slice(args);
        let v: Value = serde_json::from_str(&stdout(&f.run_ok(&all, 0))).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(hist(&[]), vec!["a3", "b1", "a2", "a1"], "newest first");
    assert_eq!(hist(&["--job", "a"]), vec!["a3", "a2", "a1"]);
    assert_eq!(hist(&["--failures"]), vec!["b1", "a2"]);
    assert_eq!(hist(&["--job", "a", "--failures"]), vec!["a2"]);
    assert_eq!(hist(&["--limit", "2"]), vec!["a3", "b1"]);
    let out = f.run_ok(&["history", "--job", "b"], 0);
    assert!(
        stdout(&out).contains("report  FAIL b: b1"),
        "{}",
        stdout(&out)
    );
    f.age_history(Duration::from_secs(2 * 3600));
    report(&f, &["b", "--ok", "--message", "b2"]);
    f.run_ok(&["prune", "--older-than", "1h"], 0);
    assert_eq!(hist(&[]), vec!["b2"], "older pushed results are pruned");
}

// 7. contention

#[test]
fn fifty_concurrent_reports_lose_nothing() {
    let f = Fixture::new();
    f.jobs(&format!(
        "{}{}",
        passive("rows", "notify = []"),
        passive("files", "notify = []")
    ));
    let children: Vec<Child> = (0..50)
        .map(|i| {
            let job = if i % 2 == 0 { "rows" } else { "files" };
            f.cmd()
                .args(["report", job, "--ok", "--count", "3"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let state = f.state();
    let attempts: u64 = ["rows", "files"]
        .iter()
        .map(|j| state["jobs"][j]["total_attempts"].as_u64().unwrap())
        .sum();
    let count: u64 = ["rows", "files"]
        .iter()
        .map(|j| state["jobs"][j]["total_count"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 50, "every report counted in the state");
    assert_eq!(count, 150);
    assert_eq!(
        f.events("report").len(),
        50,
        "and every report in the history"
    );
    let out = f.run_ok(&["status", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let window: u64 = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["total_count"].as_u64().unwrap())
        .sum();
    assert_eq!(window, 150);
}

#[test]
fn a_report_during_a_long_tick_does_not_wait_for_the_ticks_checks() {
    let f = Fixture::new();
    f.script(
        "jobs/slow.sh",
        "#!/bin/sh\ntouch \"$1\"\nsleep 5\necho 'OK - slow but fine'\n",
    );
    let started = f.path().join("slow.started");
    f.jobs(&format!(
        "[[job]]\nname = \"slow\"\nkind = \"command\"\ncommand = [\"./slow.sh\", \"{}\"]\n{}",
        started.display(),
        passive("pushed", "")
    ));
    let tick_start = Instant::now();
    let mut tick = f.cmd().args(["-c", "minute"]).spawn().unwrap();
    wait_for_file(&started, Duration::from_secs(10));
    let mut latencies = Vec::new();
    for i in 0..20 {
        let t = Instant::now();
        f.run_ok(&["report", "pushed", "--ok", "--count", &i.to_string()], 0);
        latencies.push(t.elapsed());
    }
    assert!(
        tick.try_wait().unwrap().is_none(),
        "the tick is still waiting on its check"
    );
    assert!(tick.wait().unwrap().success());
    assert!(tick_start.elapsed() >= Duration::from_secs(5));
    latencies.sort();
    let (median, max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    println!("report latency during a 5 s tick, 20 reports: median {median:?}, max {max:?}");
    assert!(
        max < Duration::from_secs(1),
        "a report waited for the tick: median {median:?}, max {max:?}"
    );
    // Nothing lost on either side.
    assert_eq!(f.job_state("slow")["total_attempts"], 1);
    assert_eq!(f.job_state("pushed")["total_attempts"], 20);
    assert_eq!(f.job_state("pushed")["total_count"], (0..20).sum::<u64>());
}

#[test]
fn summed_counts_saturate_at_the_largest_number_instead_of_wrapping() {
    let f = Fixture::new();
    f.jobs(&passive("fastdl", ""));
    let max = u64::MAX.to_string();
    report(&f, &["fastdl", "--ok", "--count", &max]);
    report(&f, &["fastdl", "--ok", "--count", "5"]);
    report(&f, &["fastdl", "--ok", "--count", &max]);
    assert_eq!(f.job_state("fastdl")["total_count"], u64::MAX);
    let out = f.run_ok(&["status", "--json"], 0);
    let v: Value = serde_json::from_str(&support::stdout(&out)).unwrap();
    // The window's sum comes from the history database, whose integers are 64-bit signed:
    // it saturates at the largest of those, never wraps to a small number.
    assert_eq!(v["jobs"][0]["total_count"], i64::MAX as u64, "{v}");
}

#[test]
fn eight_ticks_fifty_reports_and_a_follower_at_once_count_every_result_exactly_once() {
    let f = Fixture::new();
    let mut jobs = passive("pushed", "notify = []");
    jobs.push_str(&passive("marker", "notify = []"));
    for i in 0..5 {
        jobs.push_str(&format!(
            "[[job]]\nname = \"local {i}\"\nkind = \"command\"\ncommand = [\"true\"]\nnotify = []\n"
        ));
    }
    f.jobs(&jobs);
    // One event before the follower starts: once it has printed it, it is following.
    report(&f, &["marker", "--ok", "--message", "marker"]);
    let mut follower = f
        .cmd()
        .args(["history", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let follower_out = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let lines = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(follower_out)
            .lines()
            .map_while(Result::ok)
            .inspect(|l| {
                let _ = tx.send(l.clone());
            })
            .collect::<Vec<String>>()
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the follower prints the event recorded before it started");
    assert!(first.contains("marker"), "{first}");
    let mut children: Vec<Child> = (0..8)
        .map(|_| {
            f.cmd()
                .args(["-c", "minute"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children.extend((0..50).map(|i| {
        f.cmd()
            .args([
                "report",
                "pushed",
                if i % 5 == 0 { "--fail" } else { "--ok" },
            ])
            .args(["--message", &format!("report {i}")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }));
    for c in children {
        let out = c.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "a process failed: {err}");
        assert!(
            !err.contains("locked") && !err.contains("busy"),
            "no lock error reaches a user: {err}"
        );
    }
    // Every result is in the history once, and status counts each once.
    let history = f.history();
    let results = |job: &str| {
        history
            .iter()
            .filter(|e| e["job"] == job && (e["event"] == "result" || e["event"] == "report"))
            .count()
    };
    for i in 0..5 {
        assert_eq!(results(&format!("local {i}")), 8, "{history:?}");
    }
    assert_eq!(results("pushed"), 50);
    let out = f.run_ok(&["status", "--json"], 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for j in v["jobs"].as_array().unwrap() {
        let want = match j["job"].as_str() {
            Some("pushed") => 50,
            Some("marker") => 1,
            _ => 8,
        };
        assert_eq!(j["total_attempts"], want, "{j}");
    }
    let pushed = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == "pushed")
        .unwrap();
    assert_eq!(pushed["failed"], 10);

    // The follower printed each of them exactly once: once it has printed them all, it
    // must stay quiet (a late duplicate would be seen) before it is stopped.
    let mut printed: Vec<String> = Vec::new();
    let counted = |printed: &mut Vec<String>| {
        printed.extend(rx.try_iter());
        printed
            .iter()
            .filter(|l| l.contains("\"event\":\"report\"") || l.contains("\"event\":\"result\""))
            .count()
    };
    support::wait_until(
        Duration::from_secs(60),
        "the follower prints the 50 reports and 40 results",
        || (counted(&mut printed) >= 90).then_some(()),
    );
    support::wait_for_quiet(Duration::from_secs(1), Duration::from_secs(30), || {
        counted(&mut printed)
    });
    follower.kill().unwrap();
    let mut err = String::new();
    use std::io::Read;
    follower
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    follower.wait().unwrap();
    assert!(!err.contains("locked") && !err.contains("busy"), "{err}");
    let followed: Vec<Value> = lines
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let mut reports: Vec<String> = followed
        .iter()
        .filter(|e| e["event"] == "report" && e["job"] == "pushed")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    reports.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("report {i}")).collect();
    want.sort();
    assert_eq!(reports, want);
    for i in 0..5 {
        let n = followed
            .iter()
            .filter(|e| e["job"] == format!("local {i}").as_str() && e["event"] == "result")
            .count();
        assert_eq!(n, 8, "local {i}");
    }
}
