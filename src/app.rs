//! From a parsed command line to work done and an exit status.

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::cmd;
use crate::config::{self, Config, Level};
use crate::error::AppError;
use crate::exit::Exit;
use crate::state::ReadAhead;

pub fn main() -> ExitCode {
    let cli = crate::cli::parse();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit),
        Err(e) => {
            let text = e.to_string();
            // Into the log file (a cron tick's only witness), and on stderr once, whatever
            // the stderr level: a failing command must explain itself.
            log::error!(target: crate::logging::FILE_ONLY, "{}", text.trim_end());
            eprintln!("Error: {}", text.trim_end());
            ExitCode::from(e.exit())
        }
    }
}

fn load(cli: &Cli) -> Result<Config, AppError> {
    let path = config::locate(cli.config.as_deref())?;
    let config = config::load(&path)?;
    // Before anything logs, stores or prints a message: secrets masked everywhere, and
    // CA files read once, outside async code.
    crate::redact::install(config.secrets());
    crate::tls::preload(config.ca_files());
    crate::logging::init(&config.logging, cli.verbose, cli.debug)?;
    Ok(config)
}

/// Loading for the commands nobody watches (cron ticks, `report`): when it fails, no
/// channel is known, so besides stderr the error goes where someone will find it: the
/// log file the settings name, else syslog. The heartbeat is left as it was: stale, so
/// peers notice.
fn load_unattended(cli: &Cli) -> Result<Config, AppError> {
    load(cli).inspect_err(|e| {
        let path = config::locate(cli.config.as_deref()).ok();
        crate::last_resort::settings_failed(path.as_deref(), e.to_string().trim_end());
    })
}

/// Job files that cannot be loaded, told on stderr by the commands a person runs: their
/// jobs are missing from what the command shows or does.
fn warn_problems(config: &Config) {
    for p in &config.problems {
        eprintln!(
            "warning: job file not loaded (its jobs are left out; `checker validate` for all problems): {p}"
        );
    }
}

/// `load`, then `warn_problems`.
fn load_interactive(cli: &Cli) -> Result<Config, AppError> {
    let config = load(cli)?;
    warn_problems(&config);
    Ok(config)
}

pub fn run(cli: Cli) -> Result<Exit, AppError> {
    let _ = crate::logging::init_stderr_only(if cli.debug { Level::Debug } else { Level::Warn });
    if let Some(tick) = cli.tick {
        if cli.command.is_some() {
            return Err(AppError::Usage(
                "-c TICK runs a cron tick; it does not combine with a subcommand".into(),
            ));
        }
        // The state file is read on a thread of its own while the job files load; the
        // tick uses it if it is still the same file once locked (`state::ReadAhead`).
        let ahead = config::locate(cli.config.as_deref())
            .ok()
            .and_then(|settings| config::state_file_hint(&settings))
            .and_then(|state_file| {
                std::thread::Builder::new()
                    .name("checker-state".into())
                    .spawn(move || ReadAhead::read(&state_file))
                    .ok()
            });
        let config = load_unattended(&cli)?;
        let ahead = ahead.and_then(|thread| thread.join().ok()).flatten();
        // Cron mails whatever a tick writes on stderr: only errors go there (a warning
        // such as a delivery to retry would mail every minute); the log file has all.
        let mut quiet = config.logging.clone();
        quiet.stderr_level = quiet.stderr_level.min(Level::Error);
        crate::logging::init(&quiet, cli.verbose, cli.debug)?;
        let outcome = cmd::tick::run(&config, tick, cli.nomail, ahead);
        config.forget_at_exit();
        return outcome;
    }
    if cli.mode.is_some() {
        return Err(AppError::Usage(
            "-m cron needs -c TICK, e.g. `checker -m cron -c minute`".into(),
        ));
    }
    let Some(command) = &cli.command else {
        return Err(AppError::Usage(
            "nothing to do: give -c TICK (minute, hour, day, day_noon) or a command; see `checker --help`".into(),
        ));
    };
    if prints_only(command) {
        quiet_on_closed_pipe();
    }
    match command {
        Command::Validate { env_from_cron } => {
            let path = config::locate(cli.config.as_deref())?;
            cmd::validate::run(&path, *env_from_cron)
        }
        Command::RunOnce {
            jobs,
            dry_run,
            json,
        } => cmd::run_once::run(&load_interactive(&cli)?, jobs, *dry_run, *json, cli.nomail),
        Command::Status { hours, json } => cmd::status::run(&load(&cli)?, *hours, *json),
        Command::History {
            job,
            limit,
            failures,
            since,
            until,
            follow,
            json,
        } => cmd::history::run(
            &load_interactive(&cli)?,
            &cmd::history::Options {
                job: job.as_deref(),
                limit: *limit,
                failures: *failures,
                since: since.as_deref(),
                until: until.as_deref(),
                follow: *follow,
                json: *json,
            },
        ),
        Command::Uptime { jobs, days, json } => {
            cmd::uptime::run(&load_interactive(&cli)?, jobs, *days, *json)
        }
        Command::StatusPage { output } => {
            cmd::status_page::run(&load_interactive(&cli)?, output.as_deref())
        }
        Command::Report {
            job,
            ok,
            fail,
            count,
            message,
            duration,
        } if *ok || *fail => cmd::report::run(
            &load_unattended(&cli)?,
            job,
            *ok,
            *count,
            message.as_deref(),
            *duration,
            cli.nomail,
        ),
        Command::Report { .. } => Err(AppError::Usage(
            "report needs --ok or --fail: did the run work? e.g. `checker report backup --ok`"
                .into(),
        )),
        Command::Wrap { job, command } => {
            // Whatever the configuration says, the command runs: a monitoring failure
            // must never stop the job being monitored.
            let loaded = load(&cli);
            let settings = config::locate(cli.config.as_deref()).ok();
            cmd::wrap::run(loaded, settings.as_deref(), job, command, cli.nomail)
        }
        Command::Prune {
            older_than,
            archive,
        } => cmd::prune::run(&load(&cli)?, *older_than, archive.as_deref()),
        Command::List { json } => cmd::list::run(&load_interactive(&cli)?, *json),
        Command::PeerStatus { json } => cmd::peer_status::run(&load(&cli)?, *json),
        Command::JobsJson => cmd::jobs_json::run(&load(&cli)?),
        Command::Serve { listen } => crate::serve::run(&load(&cli)?, listen.as_deref()),
        Command::Peers { json } => cmd::peers::run(&load_interactive(&cli)?, *json),
        Command::Metrics { textfile } => cmd::metrics::run(&load(&cli)?, textfile.as_deref()),
        Command::TestNotify { channel, digest } => cmd::test_notify::run(
            &load_interactive(&cli)?,
            channel.as_deref(),
            *digest,
            cli.nomail,
        ),
        Command::Silence {
            jobs,
            all,
            glob,
            duration,
            until,
            from,
            reason,
            json,
        } => cmd::silence::silence(
            &load_interactive(&cli)?,
            &cmd::silence::Options {
                jobs,
                all: *all,
                glob: glob.as_deref(),
                duration: duration.as_deref(),
                until: until.as_deref(),
                from: from.as_deref(),
                reason: reason.as_deref(),
                json: *json,
            },
        ),
        Command::Silences { json } => cmd::silence::list(&load_interactive(&cli)?, *json),
        Command::Unsilence { target, all, json } => {
            cmd::silence::unsilence(&load_interactive(&cli)?, target.as_deref(), *all, *json)
        }
        Command::Ack { job, comment } => {
            cmd::ack::run(&load_interactive(&cli)?, job, comment.as_deref())
        }
        Command::Manpages { dir } => cmd::manpages::run(dir),
        Command::Completions { shell } => {
            let mut command = crate::cli::completion_command();
            clap_complete::generate(*shell, &mut command, "checker", &mut std::io::stdout());
            Ok(Exit::Success)
        }
    }
}

/// Commands whose whole job is printing: piped into `head`, they should end quietly.
fn prints_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Validate { .. }
            | Command::Status { .. }
            | Command::History { .. }
            | Command::Uptime { .. }
            | Command::List { .. }
            | Command::PeerStatus { .. }
            | Command::JobsJson
            | Command::Peers { .. }
            | Command::Metrics { .. }
            | Command::Silences { .. }
            | Command::Completions { .. }
            | Command::Manpages { .. }
    )
}

/// Restores the default SIGPIPE action so that a closed stdout ends the process the way
/// it ends `cat`, instead of a panic in `println!`. Only for commands that print: the
/// others write to pipes of child programs (command channels, plugins), where a reader
/// that went away must be an error, not the end of checker.
fn quiet_on_closed_pipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called before any thread is started; SIG_DFL installs no Rust handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
