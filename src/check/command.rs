//! The `command` check: runs a monitoring plugin under Nagios conventions (exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN; first line is the message, perfdata after `|`).
//! The child's lifetime (its process group, capped output, the timeout) is `process`'s.
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Command;

use super::{perfdata, Outcome};
use crate::config::CommandSpec;
use crate::duration::timed_out;
use crate::process::Failure;
pub use crate::process::Finished;
use crate::text::truncate;

/// The longest message kept from a plugin's first line.
const MESSAGE_CAP: usize = 1024;

pub async fn check(spec: &CommandSpec, timeout: Duration) -> Outcome {
    match run(spec, timeout).await {
        Ok(Finished {
            status,
            stdout,
            stderr,
        }) => judge(status, &stdout, &stderr, spec.warning_is_failure),
        Err(outcome) => outcome,
    }
}

/// Runs the program of `spec` under `timeout` (also used by `peer` checks with a
/// `command`). `Err` says why it did not run to its end: not found, timed out (its
/// process group killed)...
pub async fn run(spec: &CommandSpec, timeout: Duration) -> Result<Finished, Outcome> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err(Outcome::fail("the command is empty"));
    };
    if let Some(cwd) = &spec.cwd {
        let dir = cwd.clone();
        let is_dir = tokio::task::spawn_blocking(move || dir.is_dir())
            .await
            .unwrap_or(false);
        if !is_dir {
            return Err(Outcome::fail(format!(
                "working directory {} does not exist",
                cwd.display()
            )));
        }
    }
    let mut command = Command::new(program);
    command.args(args).envs(&spec.env);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    crate::process::run(command, None, timeout)
        .await
        .map_err(|failure| match failure {
            Failure::Spawn(e) => spawn_error(program, &e),
            Failure::TimedOut => {
                Outcome::transient(format!("{} (process group killed)", timed_out(timeout)))
            }
            Failure::Wait(e) => Outcome::fail(format!("cannot wait for {program}: {e}")),
        })
}

fn spawn_error(program: &str, e: &io::Error) -> Outcome {
    let message = match e.kind() {
        io::ErrorKind::NotFound if program.contains('/') => format!("program not found: {program}"),
        io::ErrorKind::NotFound => format!("program not found: {program} (not in PATH)"),
        io::ErrorKind::PermissionDenied => format!("program is not executable: {program}"),
        _ => format!("cannot run {program}: {e}"),
    };
    Outcome::fail(message)
}

/// Applies the plugin conventions to an exit status and the captured output. A WARNING
/// passes (still named in the message) when the job says `warning_is_failure = false`.
fn judge(status: ExitStatus, out: &[u8], err: &[u8], warning_is_failure: bool) -> Outcome {
    let stdout = String::from_utf8_lossy(out);
    let text = if stdout.trim().is_empty() {
        String::from_utf8_lossy(err)
    } else {
        stdout
    };
    let (message, perf) = split_output(&text);
    let message = truncate(&message, MESSAGE_CAP);
    let mut outcome = match status.code() {
        Some(0) => Outcome::ok(with_state("OK", &message)),
        Some(1) if warning_is_failure => Outcome::fail(with_state("WARNING", &message)),
        Some(1) => Outcome::ok(with_state("WARNING", &message)),
        Some(2) => Outcome::fail(with_state("CRITICAL", &message)),
        Some(3) => Outcome::fail(with_state("UNKNOWN", &message)),
        Some(code) => Outcome::fail(with_detail(format!("exited with code {code}"), &message)),
        None => {
            let signal = status.signal().unwrap_or(0);
            let name = Signal::try_from(signal)
                .map(|s| format!(" ({})", s.as_str()))
                .unwrap_or_default();
            Outcome::fail(with_detail(
                format!("killed by signal {signal}{name}"),
                &message,
            ))
        }
    };
    outcome.perfdata = perfdata::parse(&perf);
    outcome
}

/// Splits plugin output into the message (first line, before `|`) and the perfdata text:
/// after `|` on the first line, plus, in the long-output form, everything after the
/// first `|` in the later lines.
fn split_output(text: &str) -> (String, String) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let (message, mut perf) = match first.split_once('|') {
        Some((message, perf)) => (message.trim().to_string(), perf.trim().to_string()),
        None => (first.trim().to_string(), String::new()),
    };
    let mut in_perf = false;
    for line in lines {
        let more = if in_perf {
            line
        } else if let Some((_, after)) = line.split_once('|') {
            in_perf = true;
            after
        } else {
            continue;
        };
        perf.push(' ');
        perf.push_str(more.trim());
    }
    (message, perf)
}

/// "WARNING: disk 91% full", unless the plugin already named its state.
fn with_state(state: &str, message: &str) -> String {
    if message.is_empty() {
        return format!("{state} (no output)");
    }
    let named = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word == state);
    if named {
        message.to_string()
    } else {
        format!("{state}: {message}")
    }
}

fn with_detail(what: String, message: &str) -> String {
    if message.is_empty() {
        what
    } else {
        format!("{what}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_is_named_once() {
        assert_eq!(
            with_state("WARNING", "disk 91% full"),
            "WARNING: disk 91% full"
        );
        assert_eq!(
            with_state("WARNING", "DISK WARNING - 91% full"),
            "DISK WARNING - 91% full"
        );
        assert_eq!(with_state("OK", "OK - all good"), "OK - all good");
        assert_eq!(with_state("CRITICAL", ""), "CRITICAL (no output)");
    }

    #[test]
    fn perfdata_comes_from_the_first_line_and_long_output() {
        let text = "DISK OK - free space | /=2643MB;5948;5958;0;5968\n\
                    / 15272 MB (77%);\n\
                    /boot 68 MB (69%); | /boot=68MB;88;93;0;98\n\
                    /home=69357MB;253404;253409;0;253414";
        let (message, perf) = split_output(text);
        assert_eq!(message, "DISK OK - free space");
        let labels: Vec<_> = perfdata::parse(&perf)
            .into_iter()
            .map(|d| d.label)
            .collect();
        assert_eq!(labels, vec!["/", "/boot", "/home"]);
    }

    #[test]
    fn output_without_perfdata_has_none() {
        let (message, perf) = split_output("just text\nmore text\n");
        assert_eq!(message, "just text");
        assert!(perf.is_empty());
    }
}

#[cfg(test)]
mod properties {
    //! A plugin can print anything and exit with anything: judging it never panics, and the
    //! message stays one bounded line-ish text.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_output_and_exit_status_are_judged_without_panicking(
            out in proptest::collection::vec(any::<u8>(), 0..512),
            err in proptest::collection::vec(any::<u8>(), 0..256),
            raw_status in any::<i32>(),
            warning_is_failure in any::<bool>(),
        ) {
            let o = judge(ExitStatus::from_raw(raw_status), &out, &err, warning_is_failure);
            prop_assert!(!o.message.is_empty());
            prop_assert!(o.message.len() <= MESSAGE_CAP + 128, "{}", o.message.len());
            prop_assert!(!o.ok || matches!(ExitStatus::from_raw(raw_status).code(), Some(0 | 1)));
        }

        #[test]
        fn plugin_like_output_splits_without_panicking(
            text in "([A-Z]{0,8}[:\\- ]{0,2}[ -~]{0,40}(\\|[ -~]{0,40})?\n?){0,4}"
        ) {
            let (message, perf) = split_output(&text);
            prop_assert!(!message.contains('\n'));
            let _ = perfdata::parse(&perf);
        }
    }
}
