//! The command line, as clap sees it. Turning it into work is `app`'s business.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::schedule::Tick;

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
    pub tick: Option<Tick>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send a test message through each configured channel (or one) and say which worked.
    TestNotify {
        /// Only this channel.
        channel: Option<String>,
        /// Send a sample digest (example failures and a recovery in one message) instead
        /// of the test message: what a channel with `digest = true` sends.
        #[arg(long)]
        digest: bool,
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
        /// Print the results and deliveries as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Per job: state, failures, last success and attempts in a window.
    Status {
        /// The window for attempts, successes and failures (1 to 876000: 100 years).
        #[arg(long, default_value_t = 24, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_HOURS)))]
        hours: u32,
        /// Print the jobs, problems and mail health as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The event log, newest first.
    History {
        /// Only the events of this job.
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
        /// At most this many events, the newest.
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
        /// Print the events as a JSON array, for scripts (with --follow: one object a line).
        #[arg(long)]
        json: bool,
    },
    /// Per job: uptime, incidents, downtime and response times over the last N days.
    Uptime {
        /// Job names (all jobs when none are given).
        jobs: Vec<String>,
        /// How many days back to look (default 30).
        #[arg(long, default_value_t = 30, value_name = "N")]
        days: u32,
        /// Print the figures as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write the status page now: to FILE (- for stdout), else to [status_page] path.
    StatusPage {
        /// Where to write the page instead of [status_page] path; - prints it.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Record a result pushed by another program (a script, a cron job).
    #[command(override_usage = "checker report <JOB> (--ok | --fail) [OPTIONS]")]
    Report {
        /// The job, usually one of `kind = "passive"`.
        job: String,
        /// The run worked (give --ok or --fail).
        #[arg(long, conflicts_with = "fail")]
        ok: bool,
        /// The run failed (give --ok or --fail).
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
        /// Print the word and what it was decided from as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print this instance's job states as JSON, as `serve` answers GET /jobs.json: what
    /// other checkers confirm their failures with (run over ssh by a `command` peer).
    JobsJson,
    /// Serve the peer-status word over HTTP (GET /), /status.json, /jobs.json, /metrics, the
    /// status page and badges.
    Serve {
        /// Address to listen on (default: [serve] listen, else 127.0.0.1:5000).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Print the Prometheus metrics of /metrics, or write them for node_exporter.
    Metrics {
        /// Write DIR/checker.prom atomically (node_exporter's textfile collector folder)
        /// instead of printing.
        #[arg(long, value_name = "DIR")]
        textfile: Option<PathBuf>,
    },
    /// Ask every configured peer now and print what each answered.
    Peers {
        /// Print each peer's answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Drop history older than a duration (default: the configured retention).
    Prune {
        /// Drop history older than this, e.g. 30d or 12w (at most 36500d, 100 years).
        #[arg(long, value_name = "DURATION", value_parser = history_window)]
        older_than: Option<Duration>,
        /// Write the pruned events to DIR first, as YYYY-MM-DD.jsonl.gz (default: [general] history_archive_dir).
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
    },
    /// Load every file as a cron tick would, report every problem, and print what runs when.
    Validate {
        /// Read `*_env` variables from the environment cron gives its jobs (PATH=/usr/bin:/bin,
        /// SHELL, HOME, LOGNAME, /etc/environment), not from this shell, and look programs up
        /// on cron's PATH.
        #[arg(long)]
        env_from_cron: bool,
    },
    /// Jobs with their kind, target, schedule and rules.
    List {
        /// Print the jobs as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Hold back the failure alerts of jobs for a while: checks still run and are recorded,
    /// recoveries are still told. Prints the silence's id.
    #[command(
        override_usage = "checker silence (<JOB>... | --all | --match <GLOB>) (--for <DURATION> | --until <TIME>) [OPTIONS]"
    )]
    Silence {
        /// The jobs to silence.
        jobs: Vec<String>,
        /// Every job, those added later too.
        #[arg(long, conflicts_with_all = ["jobs", "glob"])]
        all: bool,
        /// Every job whose name matches GLOB (*, ?, [abc]), those added later too.
        #[arg(long = "match", value_name = "GLOB", conflicts_with = "jobs")]
        glob: Option<String>,
        /// How long, e.g. 30m or 2h (at most 366d).
        #[arg(
            long = "for",
            value_name = "DURATION",
            allow_hyphen_values = true,
            conflicts_with = "until"
        )]
        duration: Option<String>,
        /// Until when: RFC 3339 (2026-03-01T18:00:00+01:00) or "2026-03-01 18:00" in UTC.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        until: Option<String>,
        /// Start later (same forms as --until): a scheduled silence.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Why, for whoever looks (`checker silences`, the history).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Print the silence as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// The silences, active and scheduled (who, what, why, until), and the maintenance windows.
    Silences {
        /// Print them as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// End a silence by its id, take a job out of the silences that name it, or end them all.
    #[command(override_usage = "checker unsilence (<ID> | <JOB> | --all) [OPTIONS]")]
    Unsilence {
        /// A silence id (s-...; see `checker silences`) or a job name.
        target: Option<String>,
        /// End every silence.
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// Print what was ended as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a failing job: no more reminders for its current failure streak (its
    /// recovery is still told; the next streak is not acknowledged).
    Ack {
        /// The failing job.
        job: String,
        /// A note for the history, e.g. who is on it.
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Write the manual pages (checker.1, checker-COMMAND.1) into DIR; for packaging.
    #[command(hide = true)]
    Manpages {
        /// The folder to write them into (created when missing).
        dir: PathBuf,
    },
}

/// The command line as parsed: the derived definition, with the global flags that make no
/// sense for `completions` (a settings file, logging, mail) hidden there. Parsing, help,
/// completion scripts and man pages all come from this.
pub fn command() -> clap::Command {
    hide_globals_in_completions(<Cli as clap::CommandFactory>::command())
}

/// Hides `-f`, `-v`, `-d` and `--nomail` in `completions`. clap copies a global flag into
/// each subcommand that has no argument of its id, so `completions` gets hidden copies of
/// its own (still accepted, never listed). Call before the command is built.
pub fn hide_globals_in_completions(cmd: clap::Command) -> clap::Command {
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    cmd.mut_subcommand("completions", |sub| {
        hidden.into_iter().fold(sub, |sub, a| sub.arg(a))
    })
}

/// The command line as completion scripts describe it: the global flags offered after
/// every subcommand but `completions` (clap's completion generators list hidden
/// arguments too, so there they are left out rather than hidden). Never used to parse.
pub fn completion_command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().global(false))
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .filter(|n| n != "completions")
        .collect();
    let cmd = cmd.mut_args(|a| {
        if a.is_global_set() {
            a.global(false)
        } else {
            a
        }
    });
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, |sub| {
            globals.iter().fold(sub, |sub, a| sub.arg(a.clone()))
        })
    })
}

/// Parses the process's arguments; on a usage error clap prints it and exits 2.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
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
