//! From a parsed command line to work done and an exit status.

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, TickArg};
use crate::cmd;
use crate::config::{self, Config, Level};
use crate::error::AppError;
use crate::schedule::Tick;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let text = e.to_string();
            // Into the log file (a cron tick's only witness), and on stderr once, whatever
            // the stderr level: a failing command must explain itself.
            log::error!(target: crate::logging::FILE_ONLY, "{}", text.trim_end());
            eprintln!("Error: {}", text.trim_end());
            ExitCode::from(e.exit_code())
        }
    }
}

fn load(cli: &Cli) -> Result<Config, AppError> {
    let path = config::locate(cli.config.as_deref())?;
    let config = config::load(&path)?;
    // Before anything logs, stores or prints a message: secrets masked everywhere, and
    // CA files read once, outside async code.
    crate::redact::install(&config);
    crate::tls::preload(&config);
    crate::logging::init(&config.logging, cli.verbose, cli.debug)?;
    Ok(config)
}

pub fn run(cli: Cli) -> Result<u8, AppError> {
    let _ = crate::logging::init_stderr_only(if cli.debug { Level::Debug } else { Level::Warn });
    if let Some(tick) = cli.tick {
        if cli.command.is_some() {
            return Err(AppError::Usage(
                "-c TICK runs a cron tick; it does not combine with a subcommand".into(),
            ));
        }
        let config = load(&cli)?;
        let tick = match tick {
            TickArg::Minute => Tick::Minute,
            TickArg::Hour => Tick::Hour,
            TickArg::Day => Tick::Day,
            TickArg::DayNoon => Tick::DayNoon,
        };
        return cmd::tick::run(&config, tick, cli.nomail);
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
        Command::Validate => {
            let path = config::locate(cli.config.as_deref())?;
            cmd::validate::run(&path)
        }
        Command::RunOnce {
            jobs,
            dry_run,
            json,
        } => cmd::run_once::run(&load(&cli)?, jobs, *dry_run, *json, cli.nomail),
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
            &load(&cli)?,
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
        Command::Uptime { jobs, days, json } => cmd::uptime::run(&load(&cli)?, jobs, *days, *json),
        Command::Report {
            job,
            ok,
            fail: _,
            count,
            message,
            duration,
        } => cmd::report::run(
            &load(&cli)?,
            job,
            *ok,
            *count,
            message.as_deref(),
            *duration,
            cli.nomail,
        ),
        Command::Wrap { job, command } => cmd::wrap::run(&load(&cli)?, job, command, cli.nomail),
        Command::Prune {
            older_than,
            archive,
        } => cmd::prune::run(&load(&cli)?, *older_than, archive.as_deref()),
        Command::List { json } => cmd::list::run(&load(&cli)?, *json),
        Command::PeerStatus { json } => cmd::peer_status::run(&load(&cli)?, *json),
        Command::Serve { listen } => crate::serve::run(&load(&cli)?, listen.as_deref()),
        Command::Peers { json } => cmd::peers::run(&load(&cli)?, *json),
        Command::TestNotify { channel } => {
            cmd::test_notify::run(&load(&cli)?, channel.as_deref(), cli.nomail)
        }
        Command::Manpages { dir } => cmd::manpages::run(dir),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "checker", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// Commands whose whole job is printing: piped into `head`, they should end quietly.
fn prints_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Validate
            | Command::Status { .. }
            | Command::History { .. }
            | Command::Uptime { .. }
            | Command::List { .. }
            | Command::PeerStatus { .. }
            | Command::Peers { .. }
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
