//! Finding and loading the settings file and the job files: the short walk that calls
//! each section's reading (settings, then job files and peers), then the checks that
//! need more than one section. Every problem is collected with its file and line before
//! loading fails, so one `checker validate` run shows them all.

use std::path::{Path, PathBuf};

use super::channels;
use super::context::{nearest, EnvSource, FileCtx};
use super::defaults;
use super::email::{self, EMAIL};
use super::files::{RawSettings, SETTINGS};
use super::general;
use super::job::JobKind;
use super::jobs::{self, JobsDirKey};
use super::logging;
use super::maintenance;
use super::metrics;
use super::model::Config;
use super::parse::parse_toml;
use super::peers;
use super::problem::{ConfigError, Problem};
use super::read::{read_text, Lines, MAX_CONFIG_BYTES};
use super::serve;
use super::status_page;

/// The settings file to use: `-f`, else `$CHECKER_CONFIG`, else `./settings.toml`, else
/// `/etc/checker/settings.toml`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("CHECKER_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for candidate in ["settings.toml", "/etc/checker/settings.toml"] {
        let p = PathBuf::from(candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ConfigError::one(
        Path::new("settings.toml"),
        0,
        "no settings file found: give one with -f FILE or $CHECKER_CONFIG, or create ./settings.toml (see settings.example.toml)",
    ))
}

/// How the configuration is loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Read `*_env` variables from the environment cron gives its jobs instead of this
    /// process's own (`validate --env-from-cron`).
    pub cron_env: bool,
}

/// The text of a settings file, read as loading reads it (a regular file of at most
/// 10 MiB, UTF-8).
pub fn read_settings_text(path: &Path) -> Result<String, String> {
    read_text(path, MAX_CONFIG_BYTES).map_err(|e| e.to_string())
}

/// Loads and validates the settings file at `path` and every job file. A problem in the
/// settings is an error; a job file with problems is left out (its problems are in
/// `Config::problems`) and the other files load.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, LoadOptions::default())
}

/// [`load`], with options.
pub fn load_with(path: &Path, opts: LoadOptions) -> Result<Config, ConfigError> {
    let (config, problems) = load_checked(path, opts);
    match config {
        // A problem of the settings file stops everything: without it no channel is
        // known. A job file's problems leave that file out, so one typo silences nothing
        // else.
        Some(mut config) if !problems.iter().any(|p| p.file == path) => {
            config.problems = problems;
            let broken: Vec<PathBuf> = config
                .broken_files()
                .iter()
                .map(|f| f.to_path_buf())
                .collect();
            config.jobs.retain(|j| !broken.contains(&j.source.file));
            Ok(config)
        }
        _ => Err(ConfigError { problems }),
    }
}

/// Everything `validate` needs: the configuration as far as it could be made (`None`
/// when the settings file cannot be read or parsed; jobs of broken files included), and
/// every problem of every file, the settings first, each file in line order.
pub fn load_checked(path: &Path, opts: LoadOptions) -> (Option<Config>, Vec<Problem>) {
    match load_parts(path, opts) {
        Ok((config, problems)) => (Some(config), problems),
        Err(e) => (None, e.problems),
    }
}

/// Where the settings at `path` put the state file, read from `[general] state_file`
/// alone, before (and without) loading the rest; `None` when that cannot be told. Only a
/// hint: a tick reads the state file ahead with it while its job files load, and uses
/// what it read only if the loaded settings name the same file.
pub fn state_file_hint(path: &Path) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct General {
        state_file: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Settings {
        general: Option<General>,
    }
    let src = read_text(path, MAX_CONFIG_BYTES).ok()?;
    let settings: Settings = toml::from_str(&src).ok()?;
    let base = std::path::absolute(path).ok()?.parent()?.to_path_buf();
    let file = settings.general.and_then(|g| g.state_file);
    Some(super::context::resolve_path(
        &base,
        file.as_deref().unwrap_or("state.json"),
    ))
}

fn load_parts(path: &Path, opts: LoadOptions) -> Result<(Config, Vec<Problem>), ConfigError> {
    let src = read_text(path, MAX_CONFIG_BYTES).map_err(|e| {
        ConfigError::one(
            path,
            0,
            format!("cannot read settings file: {e} (give another with -f FILE)"),
        )
    })?;
    let lines = Lines::new(&src);
    // Absolute, so paths stay right when a command job runs in another folder.
    let base = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut problems = Vec::new();
    let mut env = EnvSource::new(opts.cron_env);
    // A key set aside has been reported; the rest is still checked, job files too.
    let Some((raw, _)) = parse_toml::<RawSettings>(path, &src, &lines, &SETTINGS, &mut problems)
    else {
        return Err(ConfigError { problems });
    };

    // The settings, section by section.
    let mut cx = FileCtx::new(path, &src, &lines, &mut problems, &mut env);
    let general = general::resolve(&mut cx, &base, &raw.general);
    let logging = logging::resolve(&mut cx, &base, &raw.logging);
    let email = email::resolve(&mut cx, &base, raw.email.as_ref());
    let defaults = defaults::resolve(&mut cx, &raw.defaults);
    let channels = channels::resolve(
        &mut cx,
        &base,
        &raw.commands,
        raw.pushover.as_ref(),
        &raw.webhooks,
    );
    let serve = serve::resolve(&mut cx, &base, raw.serve.as_ref());
    let metrics = metrics::resolve(&mut cx, &base, raw.metrics.as_ref());
    let maintenance = maintenance::resolve(&mut cx, &raw.maintenance);
    let status_page = status_page::resolve(&mut cx, &base, raw.status_page.as_ref());
    let mut config = Config {
        path: path.to_path_buf(),
        general,
        logging,
        email,
        commands: channels.commands,
        jobs: Vec::new(),
        default_notify: defaults.notify.clone(),
        default_digest: defaults.digest,
        serve,
        metrics,
        status_page,
        pushover: channels.pushover,
        webhooks: channels.webhooks,
        maintenance,
        warnings: Vec::new(),
        problems: Vec::new(),
        env_reads: Vec::new(),
    };
    let channel_names = config.channel_names();

    // The job files, then the peers (whose jobs' names must not clash with theirs).
    let jobs_dir_key = JobsDirKey {
        settings: path,
        line: raw
            .general
            .jobs_dir
            .as_ref()
            .map_or(0, |d| lines.line(d.span().start)),
    };
    let files = jobs::load(
        &config.general.jobs_dir,
        &defaults,
        &channel_names,
        jobs_dir_key,
        &mut problems,
    );
    config.jobs = files.jobs;
    config.warnings = files.warnings;
    // Every name the job files hold, tables with problems too: a job depending on one
    // of those is told about that table's problem, not about an unknown name.
    let table_names = files.names;
    let mut cx = FileCtx::new(path, &src, &lines, &mut problems, &mut env);
    peers::add_peer_jobs(
        &mut cx,
        &base,
        &raw.peers,
        &defaults,
        &channel_names,
        &mut config.jobs,
    );

    // What no one section can see.
    check_channels(&config, &mut problems);
    // Every name, sorted: only `depends_on` and `[[maintenance]] jobs` look names up,
    // and most configurations have neither, so it is made only for them.
    let any_depends = config.jobs.iter().any(|j| !j.depends_on.is_empty());
    let any_window_jobs = config.maintenance.iter().any(|w| w.jobs.is_some());
    if any_depends || any_window_jobs {
        let mut names: Vec<&str> = table_names.iter().map(String::as_str).collect();
        names.extend(config.jobs.iter().map(|j| j.name.as_str()));
        names.sort_unstable();
        names.dedup();
        super::depends::check(&config.jobs, &names, &mut problems);
        let window_warnings = maintenance::warnings(path, &config.maintenance, &names);
        config.warnings.extend(window_warnings);
    }
    check_confirm(&config, &mut problems);
    config.env_reads = env.read;
    // File by file (the settings first), each in line order.
    let mut files: Vec<PathBuf> = Vec::new();
    for p in &problems {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| {
        (
            p.file != path,
            files.iter().position(|f| *f == p.file),
            p.line,
        )
    });
    Ok((config, problems))
}

/// Every channel a job names must exist.
fn check_channels(config: &Config, problems: &mut Vec<Problem>) {
    let known = config.channel_names();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    for ch in &config.default_notify {
        if !known.contains(ch) {
            let hint = nearest(ch, &known_refs)
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
            problems.push(Problem {
                file: config.path.clone(),
                line: 0,
                message: format!(
                    "[defaults] `notify`: unknown channel {ch:?}{hint} (channels: {})",
                    known.join(", ")
                ),
            });
        }
    }
    // A job's own `notify` is checked with the job.
    for job in &config.jobs {
        if config.email.enabled
            && job.notify.iter().any(|c| c == EMAIL)
            && job
                .contact
                .as_ref()
                .unwrap_or(&config.general.alertcontact)
                .is_empty()
        {
            problems.push(Problem {
                file: job.source.file.clone(),
                line: job.source.line,
                message: format!(
                    "job {:?} notifies by email but there is no recipient: set `alertcontact` in [general] or {}",
                    job.name,
                    if matches!(job.kind, JobKind::Peer(_)) { "`admin` on the peer" } else { "`contact` on the job" }
                ),
            });
        }
    }
}

/// Every peer a job's `confirm_with` names must be a `[[peers]]` entry that can be asked
/// for its job states.
fn check_confirm(config: &Config, problems: &mut Vec<Problem>) {
    let peers: Vec<&super::job::PeerSpec> = config
        .jobs
        .iter()
        .filter_map(|j| match &j.kind {
            JobKind::Peer(p) => Some(&**p),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
    for job in &config.jobs {
        let Some(c) = &job.confirm else { continue };
        for name in &c.with {
            let message = match peers.iter().find(|p| p.name == *name) {
                Some(p) if p.jobs.is_none() => format!(
                    "job {:?}: peer {name:?} in `confirm_with` is asked by a `command` that does not end in `peer-status`: give the peer `jobs_command`, the command that prints its `checker jobs-json`",
                    job.name
                ),
                Some(_) => continue,
                None => {
                    let hint = nearest(name, &names)
                        .map(|k| format!("; did you mean {k:?}?"))
                        .unwrap_or_default();
                    let known = if names.is_empty() {
                        "there are no [[peers]] in the settings".to_string()
                    } else {
                        format!("peers: {}", names.join(", "))
                    };
                    format!(
                        "job {:?}: unknown peer {name:?} in `confirm_with`{hint} ({known})",
                        job.name
                    )
                }
            };
            problems.push(Problem {
                file: job.source.file.clone(),
                line: c.line,
                message,
            });
        }
    }
}

/// Loads settings and job files written into a temp dir, for tests.
#[cfg(test)]
pub(super) fn load_files(settings: &str, jobs: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(dir.path().join("settings.toml"), settings).expect("settings");
    for (name, text) in jobs {
        std::fs::write(dir.path().join("jobs").join(name), text).expect("job file");
    }
    let config = load(&dir.path().join("settings.toml")).expect("the settings load");
    (dir, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::context::{cron_environment, CRON_PATH};
    use crate::config::NotifyEvery;

    #[test]
    fn the_state_file_hint_names_the_file_the_loaded_settings_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = dir.path().join("settings.toml");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        let base = std::path::absolute(dir.path()).expect("absolute");
        for (general, want) in [
            ("", base.join("state.json")),
            ("[general]\nservername = \"x\"\n", base.join("state.json")),
            (
                "[general]\nstate_file = \"var/s.json\"\n",
                base.join("var/s.json"),
            ),
            (
                "[general]\nstate_file = \"/srv/s.json\"\n",
                PathBuf::from("/srv/s.json"),
            ),
        ] {
            std::fs::write(&settings, general).expect("settings");
            assert_eq!(state_file_hint(&settings), Some(want.clone()), "{general}");
            let loaded = load(&settings).expect("loads");
            assert_eq!(loaded.general.state_file, want, "{general}");
        }
        // Settings that do not read tell nothing (the load says why).
        std::fs::write(&settings, "[general\n").expect("settings");
        assert_eq!(state_file_hint(&settings), None);
        assert_eq!(state_file_hint(&dir.path().join("missing.toml")), None);
    }

    const TCP: &str = "[[job]]\nname = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 5432\n";

    #[test]
    fn the_built_in_defaults_are_one_alert_per_incident_after_two_failures() {
        let (_d, c) = load_files("[general]\nalertcontact = \"a@b.c\"\n", &[("a.toml", TCP)]);
        let r = &c.job("db").expect("db").rules;
        assert_eq!(r.notify_every, NotifyEvery::StateChange);
        assert_eq!(r.failures_before_notify, 2);
        assert_eq!(r.failing_for, None);
        assert!(r.notify_recovery);
        // An alert that cannot go out for 15 minutes makes this instance's peer word
        // JobProblem; failed deliveries are retried after a minute.
        assert_eq!(
            c.general.undeliverable_after,
            std::time::Duration::from_secs(15 * 60)
        );
        assert_eq!(c.general.delivery_retry, std::time::Duration::from_secs(60));
        // `[defaults]` and the job itself still choose any mode.
        let (_d, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n[defaults]\nnotify_every = \"every\"\nfailures_before_notify = 1\n",
            &[("a.toml", &format!("{TCP}\n[[job]]\nname = \"own\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\nnotify_every = \"10min\"\n"))],
        );
        assert_eq!(c.job("db").unwrap().rules.notify_every, NotifyEvery::Every);
        assert_eq!(c.job("db").unwrap().rules.failures_before_notify, 1);
        assert_eq!(
            c.job("own").unwrap().rules.notify_every,
            NotifyEvery::TenMin
        );
    }

    #[test]
    fn depends_on_and_maintenance_jobs_know_the_names_of_good_files_and_of_broken_tables() {
        // a.toml is good (read in pieces), b.toml has a problem (read the careful way).
        let web = "[[job]]\nname = \"web\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n\
                   depends_on = [\"db\", \"broken\", \"dbx\"]\n";
        let broken = "[[job]]\nname = \"broken\"\nkind = \"tcp\"\nhost = \"h\"\nport = 0\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(
            dir.path().join("settings.toml"),
            "[general]\nalertcontact = \"a@b.c\"\n[[maintenance]]\nname = \"m\"\n\
             jobs = [\"db\", \"broken\", \"web\", \"brokenx\"]\nstart = \"01:00\"\nduration = \"1h\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("jobs/a.toml"), TCP).unwrap();
        std::fs::write(dir.path().join("jobs/b.toml"), format!("{web}\n{broken}")).unwrap();
        let (config, problems) =
            load_checked(&dir.path().join("settings.toml"), LoadOptions::default());
        let told: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            told,
            [
                (1, "job \"web\": `depends_on` names \"dbx\", which is not a job; did you mean \"db\"? (a peer's job is \"peer NAME\")"),
                (12, "job \"broken\": `port` = 0 is not a TCP port (1-65535)"),
            ]
        );
        let warnings: Vec<String> = config
            .expect("settings load")
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect();
        assert_eq!(
            warnings,
            ["[[maintenance]] \"m\": `jobs` names \"brokenx\", which is not a configured job; did you mean \"broken\"?"]
        );
    }

    #[test]
    fn a_tls_cert_job_reminds_daily_unless_it_says_otherwise() {
        let cert = "[[job]]\nname = \"cert\"\nkind = \"tls_cert\"\nhost = \"example.com\"\n";
        let own = "[[job]]\nname = \"own\"\nkind = \"tls_cert\"\nhost = \"example.org\"\nnotify_every = \"hour\"\n";
        let (_d, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n[defaults]\nnotify_every = \"every\"\n",
            &[("a.toml", &format!("{cert}\n{own}\n{TCP}"))],
        );
        assert_eq!(c.job("cert").unwrap().rules.notify_every, NotifyEvery::Day);
        assert_eq!(c.job("own").unwrap().rules.notify_every, NotifyEvery::Hour);
        assert_eq!(c.job("db").unwrap().rules.notify_every, NotifyEvery::Every);
    }

    #[test]
    fn a_broken_job_file_is_left_out_whole_and_the_others_load() {
        let broken = format!("{TCP}\n[[job]]\nname = \"web\"\nkind = \"http\"\nurll = \"x\"\n");
        let (dir, c) = load_files(
            "[general]\nalertcontact = \"a@b.c\"\n",
            &[
                ("a.toml", &broken),
                (
                    "b.toml",
                    "[[job]]\nname = \"disk\"\nkind = \"file\"\npath = \"/\"\n",
                ),
            ],
        );
        let names: Vec<&str> = c.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, vec!["disk"], "db shares a.toml with the broken job");
        let a = dir.path().join("jobs/a.toml");
        assert_eq!(c.problems.len(), 1);
        assert_eq!(
            (c.problems[0].file.as_path(), c.problems[0].line),
            (a.as_path(), 10)
        );
        assert!(c.is_broken_file(&a));
        assert_eq!(c.broken_files(), vec![a.as_path()]);
        // A problem of the settings file is an error, with every job file's problems too.
        std::fs::write(dir.path().join("settings.toml"), "[general]\nbogus = 1\n").unwrap();
        let e = load(&dir.path().join("settings.toml")).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
    }

    #[test]
    fn env_variables_read_are_recorded_and_the_cron_environment_lacks_them() {
        // Set by cargo for the tests it runs; never by cron.
        let var = "CARGO_MANIFEST_DIR";
        assert!(std::env::var(var).is_ok(), "run the tests with cargo");
        let settings = format!(
            "[general]\nalertcontact = \"a@b.c\"\n[pushover]\ntoken_env = \"{var}\"\nuser = \"u\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(dir.path().join("settings.toml"), &settings).unwrap();
        let path = dir.path().join("settings.toml");
        let c = load(&path).expect("loads with the variable set");
        assert_eq!(c.env_reads.len(), 1);
        assert_eq!(c.env_reads[0].line, 4);
        assert_eq!(c.env_reads[0].message, format!("`token_env`: {var}"));
        let e = load_with(&path, LoadOptions { cron_env: true }).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        assert!(
            e.problems[0]
                .message
                .contains(&format!("{var} is not set in cron's environment")),
            "{e}"
        );
        let env = cron_environment();
        assert_eq!(env.get("PATH").map(String::as_str), Some(CRON_PATH));
        assert!(!env.contains_key(var));
    }

    #[test]
    fn a_section_written_as_a_list_of_tables_is_named_and_mended() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
        std::fs::write(
            dir.path().join("settings.toml"),
            "[[general]]\nservername = \"x\"\ntick_deadline = 5\n",
        )
        .unwrap();
        let e = load(&dir.path().join("settings.toml")).unwrap_err();
        let messages: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].ends_with(":1: `[[general]]` must be `[general]`: there is one such section, written with one bracket on each side"),
            "{messages:?}"
        );
        // Mended, so what is inside is checked too.
        assert!(
            messages[1]
                .ends_with(":3: `tick_deadline` must be a duration such as \"10s\", not a number"),
            "{messages:?}"
        );
    }
}
