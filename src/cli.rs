//! The command line, as clap sees it. Turning it into work is `app`'s business.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "checker",
    version,
    about = "Watches web sites, ports, jobs and other checkers, and tells you when they break and recover.",
    after_help = "Cron runs `checker -c minute` (and hour, day, day_noon); see crontab.example."
)]
pub struct Cli {
    /// Settings file (else $CHECKER_CONFIG, ./settings.toml, /etc/checker/settings.toml).
    #[arg(short = 'f', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Debug messages to the log file.
    #[arg(short = 'v', global = true)]
    pub verbose: bool,
    /// Debug messages to stderr.
    #[arg(short = 'd', global = true)]
    pub debug: bool,
    /// Do everything except send email: log it and record it as sent.
    #[arg(long, global = true)]
    pub nomail: bool,
    /// Mode, as the original's `-m cron` (the only mode).
    #[arg(short = 'm', value_name = "MODE", value_parser = ["cron"])]
    pub mode: Option<String>,
    /// Run one cron tick: minute, hour, day or day_noon.
    #[arg(short = 'c', value_name = "TICK", value_enum)]
    pub tick: Option<TickArg>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TickArg {
    Minute,
    Hour,
    Day,
    #[value(name = "day_noon")]
    DayNoon,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a test message through each configured channel (or one) and say which worked.
    TestNotify {
        /// Only this channel.
        channel: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Run jobs now, whatever their schedule (all enabled jobs when none are named).
    RunOnce {
        /// Job names.
        jobs: Vec<String>,
        /// Run the checks and print, but change no state and send nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Per job: state, failures, last success and attempts in a window.
    Status {
        /// The window for attempts, successes and failures (1 to 876000: 100 years).
        #[arg(long, default_value_t = 24, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_HOURS)))]
        hours: u32,
        #[arg(long)]
        json: bool,
    },
    /// The event log, newest first.
    History {
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
        #[arg(long, default_value_t = 50, value_name = "N")]
        limit: usize,
        /// Only events that did not go well.
        #[arg(long)]
        failures: bool,
        /// Only events at or after TIME (RFC 3339, a date, "DATE HH:MM" in UTC, or a duration ago such as 2h).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only events at or before TIME (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Keep printing new events as they are recorded, like `tail -f` (JSON: one object a line).
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Per job: uptime, incidents, downtime and response times over the last N days.
    Uptime {
        /// Job names (all jobs when none are given).
        jobs: Vec<String>,
        #[arg(long, default_value_t = 30, value_name = "N")]
        days: u32,
        #[arg(long)]
        json: bool,
    },
    /// Record a result pushed by another program (a script, a cron job).
    Report {
        /// The job, usually one of `kind = "passive"`.
        job: String,
        /// The run worked.
        #[arg(long, conflicts_with = "fail", required_unless_present = "fail")]
        ok: bool,
        /// The run failed.
        #[arg(long)]
        fail: bool,
        /// Items the run handled (files, rows): added to the job's summed count.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// What happened, in a line (the error, for a failure).
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
        /// How long the run took, e.g. 90s or 1h5m (at most 366d).
        #[arg(long, value_name = "DURATION", value_parser = run_time)]
        duration: Option<Duration>,
    },
    /// Run COMMAND, record its outcome as JOB's result, and exit with its status.
    Wrap {
        /// The job, usually one of `kind = "passive"`.
        job: String,
        /// The command and its arguments, after `--` (run directly, not by a shell).
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// This instance's health as peers see it: True, MailProblem or JobProblem.
    PeerStatus {
        #[arg(long)]
        json: bool,
    },
    /// Serve the peer-status word over HTTP (GET /), /status.json and /metrics.
    Serve {
        /// Address to listen on (default: [serve] listen, else 127.0.0.1:5000).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Ask every configured peer now and print what each answered.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Drop history older than a duration (default: the configured retention).
    Prune {
        /// e.g. 30d or 12w (at most 36500d, 100 years).
        #[arg(long, value_name = "DURATION", value_parser = history_window)]
        older_than: Option<Duration>,
        /// Write the pruned events to DIR first, as YYYY-MM-DD.jsonl.gz (default: [general] history_archive_dir).
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
    },
    /// Load every file, report every problem, and print what runs when.
    Validate,
    /// Jobs with their kind, target, schedule and rules.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Write the manual pages (checker.1, checker-COMMAND.1) into DIR; for packaging.
    #[command(hide = true)]
    Manpages {
        /// The folder to write them into (created when missing).
        dir: PathBuf,
    },
}

/// The longest `status --hours`: 100 years, like the longest history retention.
pub const MAX_HOURS: u32 = 876_000;

/// `prune --older-than`: a duration of at most 100 years.
fn history_window(text: &str) -> Result<Duration, String> {
    crate::duration::parse_at_most(text, Duration::from_secs(36_500 * 86_400))
}

/// `report --duration`: a run time of at most 366 days.
fn run_time(text: &str) -> Result<Duration, String> {
    crate::duration::parse_at_most(text, Duration::from_secs(366 * 86_400))
}
