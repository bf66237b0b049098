//! `checker validate [--env-from-cron]`: load everything as a cron tick would, report every
//! problem of every file with file and line in one round (exit 2), otherwise print what
//! runs when, and warn about what would surprise at 3 a.m.: `*_env` variables read from
//! this shell, and jobs whose alerts go nowhere.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::config::{self, Channel, Config, JobKind, LoadOptions, PeerTarget, Problem};
use crate::error::AppError;
use crate::exit::Exit;
use crate::notify::template::AlertTemplate;
use crate::schedule::{Schedule, Tick};

pub fn run(path: &Path, env_from_cron: bool) -> Result<Exit, AppError> {
    let opts = LoadOptions {
        cron_env: env_from_cron,
    };
    let (config, mut problems) = config::load_checked(path, opts);
    if let Some(config) = &config {
        problems.extend(template_problems(config));
        let search = if env_from_cron {
            Some(config::CRON_PATH.to_string())
        } else {
            std::env::var("PATH").ok()
        };
        problems.extend(program_problems(config, search.as_deref()));
    }
    let Some(config) = config.filter(|_| problems.is_empty()) else {
        return Err(config::ConfigError { problems }.into());
    };
    println!(
        "{}: OK ({} job(s), {} channel(s))",
        path.display(),
        config.jobs.len(),
        config.channel_names().len()
    );
    let mut warnings = config.warnings.clone();
    if !env_from_cron {
        warnings.extend(env_warnings(&config));
    }
    warnings.extend(silent_job_warnings(&config));
    warnings.extend(public_pattern_warnings(&config));
    for w in &warnings {
        println!("  warning: {w}");
    }
    print_schedule(&config);
    Ok(Exit::Success)
}

/// Loading checks templates without rendering them; here each renders sample alerts
/// within its bounds, so a template that can only fail is found before an alert. Through
/// a channel with digests it renders sample digests too.
fn template_problems(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for ch in config.channels() {
        let digest = config.digest(ch.name());
        let Some(templates) = ch.templates() else {
            continue;
        };
        for t in templates.title.iter().chain(templates.body.iter()) {
            let why = match t.check_samples() {
                Err(e) => e.to_string(),
                Ok(()) if digest => match t.check_digest_samples() {
                    Err(e) => format!(
                        "cannot render a digest (digest = true): {e} (a digest has `kind` \"digest\", `alerts`, `failing` and `recovered` instead of one job's variables)"
                    ),
                    Ok(()) => continue,
                },
                Ok(()) => continue,
            };
            out.push(Problem {
                file: config.path.clone(),
                line: t.line,
                message: format!("{} `{}`: {why}", t.table, t.key),
            });
        }
    }
    out
}

/// Every program checker would run must exist and be executable: the `command` of each
/// enabled job and peer, and of each `[[commands]]` channel. A bare name is looked up on
/// `search` (the PATH checker will run with).
fn program_problems(config: &Config, search: Option<&str>) -> Vec<Problem> {
    let mut out = Vec::new();
    for job in config.jobs.iter().filter(|j| j.enabled) {
        let argv = match &job.kind {
            JobKind::Command(c) => &c.command,
            JobKind::Peer(p) => match &p.target {
                PeerTarget::Command(c) => &c.command,
                PeerTarget::Url(_) => continue,
            },
            _ => continue,
        };
        if let Some(why) = argv.first().and_then(|p| program_problem(p, search)) {
            out.push(Problem {
                file: job.source.file.clone(),
                line: job.source.line,
                message: format!("job {:?}: `command`: {why}", job.name),
            });
        }
    }
    for c in &config.commands {
        if let Some(why) = c.command.first().and_then(|p| program_problem(p, search)) {
            out.push(Problem {
                file: config.path.clone(),
                line: 0,
                message: format!("[[commands]] {:?}: `command`: {why}", c.name),
            });
        }
    }
    out
}

/// Why `program` cannot be run, if it cannot: missing, not a file, or not executable.
/// A name without `/` is looked up on `search`.
pub fn program_problem(program: &str, search: Option<&str>) -> Option<String> {
    if program.is_empty() {
        return None; // reported by the loader
    }
    if program.contains('/') {
        return runnable(Path::new(program)).err();
    }
    let dirs: Vec<PathBuf> = search
        .map(|s| {
            s.split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    let mut found_but = None;
    for dir in &dirs {
        let candidate = dir.join(program);
        match runnable(&candidate) {
            Ok(()) => return None,
            Err(why) if candidate.exists() => found_but = Some(why),
            Err(_) => {}
        }
    }
    Some(found_but.unwrap_or_else(|| {
        format!(
            "program {program:?} is not found on PATH ({}): give its full path, or install it",
            search.unwrap_or("")
        )
    }))
}

fn runnable(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("program {} does not exist", path.display()))
        }
        Err(e) => Err(format!("program {}: {e}", path.display())),
        Ok(m) if !m.is_file() => Err(format!("program {} is not a file", path.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(format!(
            "program {} is not executable: chmod +x it",
            path.display()
        )),
        Ok(_) => Ok(()),
    }
}

/// Each `*_env` variable was read from this shell, which is not where cron and systemd
/// start checker: what passes here may be missing there.
fn env_warnings(config: &Config) -> Vec<Problem> {
    config
        .env_reads
        .iter()
        .map(|r| {
            let var = r.message.rsplit(": ").next().unwrap_or("");
            Problem {
                message: format!(
                    "{} was read from this shell's environment; cron and systemd start checker with their own: set {var} there too (a `{var}=...` line in the crontab, or the package's /etc/checker/checker.env), or use a `_file` key; `checker validate --env-from-cron` checks as cron runs it",
                    r.message
                ),
                ..r.clone()
            }
        })
        .collect()
}

/// `[status_page] public_jobs` patterns that match no job: a typo there leaves a job off
/// the page (or the page empty) without a word.
fn public_pattern_warnings(config: &Config) -> Vec<Problem> {
    let Some(patterns) = &config.status_page.public_jobs else {
        return Vec::new();
    };
    patterns
        .iter()
        .filter(|p| !config.jobs.iter().any(|j| p.matches(&j.name)))
        .map(|p| Problem {
            file: config.path.clone(),
            line: 0,
            message: format!(
                "[status_page] `public_jobs` pattern {:?} matches no job: no job is shown by it (a typo? `checker jobs-json` lists the names)",
                p.as_str()
            ),
        })
        .collect()
}

/// Jobs whose failures would tell nobody: no channel, or only channels that are off.
fn silent_job_warnings(config: &Config) -> Vec<Problem> {
    let off = |ch: &String| ch == Channel::EMAIL && !config.email.enabled;
    let mut out = Vec::new();
    let mut via_off_email: Vec<&str> = Vec::new();
    for job in config.jobs.iter().filter(|j| j.enabled) {
        if job.notify.is_empty() {
            out.push(Problem {
                file: job.source.file.clone(),
                line: job.source.line,
                message: format!(
                    "job {:?} has `notify = []`: its failures are recorded, and nobody is told",
                    job.name
                ),
            });
        } else if job.notify.iter().all(off) {
            via_off_email.push(&job.name);
        }
    }
    if !via_off_email.is_empty() {
        const SHOWN: usize = 10;
        let more = via_off_email.len().saturating_sub(SHOWN);
        let names: Vec<String> = via_off_email
            .iter()
            .take(SHOWN)
            .map(|n| format!("{n:?}"))
            .collect();
        out.push(Problem {
            file: config.path.clone(),
            line: 0,
            message: format!(
                "{} job(s) alert only by email, which is off (no [email] section, or `enabled = false`): their alerts are recorded, not sent: {}{}",
                via_off_email.len(),
                names.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ),
        });
    }
    if config.default_notify.is_empty() || config.default_notify.iter().all(off) {
        out.push(Problem {
            file: config.path.clone(),
            line: 0,
            message: "[defaults] `notify` names no channel that is on: alerts about checker itself (a broken job file, an unreadable state file) are recorded, not sent".into(),
        });
    }
    out
}

fn print_schedule(config: &Config) {
    let when = |f: Tick| match f {
        Tick::Minute => "every minute (minute, hour, day and day_noon ticks)",
        Tick::Hour => "every hour (hour, day and day_noon ticks)",
        Tick::Day => "daily at midnight (day tick)",
        Tick::DayNoon => "daily at noon (day_noon tick)",
    };
    for f in Tick::ALL {
        let names: Vec<&str> = config
            .jobs
            .iter()
            .filter(|j| j.enabled && j.schedule == Schedule::Tick(f))
            .map(|j| j.name.as_str())
            .collect();
        if !names.is_empty() {
            println!("  {}: {}", when(f), names.join(", "));
        }
    }
    for j in config.jobs.iter().filter(|j| j.enabled) {
        if let Schedule::Every(_) = j.schedule {
            println!(
                "  {} on the first tick after the interval: {}",
                j.schedule.describe(),
                j.name
            );
        }
    }
    let disabled: Vec<&str> = config
        .jobs
        .iter()
        .filter(|j| !j.enabled)
        .map(|j| j.name.as_str())
        .collect();
    if !disabled.is_empty() {
        println!("  disabled: {}", disabled.join(", "));
    }
    match (config.email.enabled, config.email.self_check) {
        (false, _) => println!("  email: off (alerts are recorded, not sent)"),
        (true, None) => println!(
            "  email: via {}:{}; self-check off",
            config.email.smtp_host, config.email.smtp_port
        ),
        (true, Some(s)) => {
            println!(
                "  email: via {}:{}; self-check {}",
                config.email.smtp_host,
                config.email.smtp_port,
                s.describe()
            )
        }
    }
    for line in crate::notify::http::describe_channels(config) {
        println!("  {line}");
    }
    for line in quiet_lines(config, chrono::Utc::now()) {
        println!("  {line}");
    }
    // Jobs the state still holds that are gone from the settings: their state goes.
    let store = crate::state::Store::new(&config.general.state_file, config.general.lock_timeout);
    if let Ok(state) = store.read() {
        let now = chrono::Utc::now();
        for (name, at) in crate::engine::tick::removed_jobs(config, &state, now) {
            println!(
                "  no longer configured: {name:?}: its state is dropped in {} ({}); its history stays",
                crate::duration::humanize(at - now),
                at.format("%Y-%m-%d %H:%M UTC")
            );
        }
    }
}

/// Each maintenance window with its next start and end (in its zone and in UTC), and the
/// jobs that wait for others (SPEC §10).
fn quiet_lines(config: &Config, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut out = Vec::new();
    for w in &config.maintenance {
        let tz = w.calendar.tz;
        let both = |t: chrono::DateTime<chrono::Utc>| {
            let local = crate::calendar::local(t, tz);
            if tz == chrono_tz::UTC {
                local
            } else {
                format!("{local} = {}", t.format("%H:%M UTC"))
            }
        };
        let open = w
            .calendar
            .active_at(now)
            .map(|o| format!("open now until {}; ", both(o.end)))
            .unwrap_or_default();
        let next = match w.calendar.next_after(now) {
            Some(o) => format!("next from {} to {}", both(o.start), both(o.end)),
            None => "never opens again".into(),
        };
        out.push(format!(
            "maintenance {:?} ({}), {}: {open}{next}",
            w.name,
            w.describe_jobs(),
            w.calendar.describe()
        ));
    }
    for j in config.jobs.iter().filter(|j| !j.depends_on.is_empty()) {
        out.push(format!(
            "{:?} is quiet while any of these fails: {}",
            j.name,
            j.depends_on
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_on_the_search_path_or_said_to_be_missing_or_not_executable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = dir.path().join("run-me");
        let plain = dir.path().join("plain");
        std::fs::write(&run, "#!/bin/sh\n").expect("write");
        std::fs::write(&plain, "").expect("write");
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let search = dir.path().display().to_string();
        assert_eq!(program_problem("run-me", Some(&search)), None);
        assert_eq!(program_problem(&run.display().to_string(), None), None);
        let missing =
            program_problem("no-such-program", Some("/nonexistent:/also-not")).expect("a problem");
        assert!(
            missing.contains("\"no-such-program\" is not found on PATH (/nonexistent:/also-not)"),
            "{missing}"
        );
        let not_exec = program_problem("plain", Some(&search)).expect("a problem");
        assert!(
            not_exec.ends_with("is not executable: chmod +x it"),
            "{not_exec}"
        );
        let gone = program_problem("/nonexistent/x", None).expect("a problem");
        assert_eq!(gone, "program /nonexistent/x does not exist");
        let folder = program_problem(&search, None).expect("a problem");
        assert!(folder.ends_with("is not a file"), "{folder}");
    }
}
