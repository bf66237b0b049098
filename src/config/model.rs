//! The validated configuration every other module works from: defaults applied,
//! durations parsed, paths resolved against the settings file's folder, secrets resolved.
//! Each section's part is defined in the section's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::channels::commands::CommandChannel;
use super::channels::pushover::Pushover;
use super::channels::webhooks::Webhook;
use super::channels::Channel;
use super::email::Email;
use super::general::General;
use super::job::{Job, JobKind, PeerTarget};
use super::logging::Logging;
use super::maintenance::Maintenance;
use super::metrics::Metrics;
use super::problem::Problem;
use super::secret::Secret;
use super::serve::Serve;
use super::status_page::StatusPage;
use crate::template::Template;

#[derive(Debug, Clone)]
pub struct Config {
    /// The settings file this was loaded from.
    pub path: PathBuf,
    pub general: General,
    pub logging: Logging,
    pub email: Email,
    pub commands: Vec<CommandChannel>,
    pub jobs: Vec<Job>,
    /// `[defaults] notify`: where alerts about checker itself go (an unreadable state
    /// file, a tick that overran its deadline).
    pub default_notify: Vec<String>,
    /// `[defaults] digest`: whether a channel that does not set `digest` sends one
    /// message per delivery round instead of one per alert.
    pub default_digest: bool,
    /// `[serve]`: the status server peers ask.
    pub serve: Serve,
    /// `[metrics]`: the textfile for node_exporter.
    pub metrics: Metrics,
    /// `[status_page]`: the HTML page a tick writes and `serve` answers at `/status`.
    pub status_page: StatusPage,
    /// `[pushover]`, when configured: the channel "pushover".
    pub pushover: Option<Pushover>,
    /// `[[webhooks]]`: one channel each, by name.
    pub webhooks: Vec<Webhook>,
    /// `[[maintenance]]`: windows that hold back failure alerts (SPEC §10).
    pub maintenance: Vec<Maintenance>,
    /// What is allowed but probably not meant (an empty jobs folder): `validate` prints
    /// these, ticks log them.
    pub warnings: Vec<Problem>,
    /// The problems of the job files that could not be loaded. Such a file adds no job
    /// (the others load): a tick skips its jobs, keeps their state and alerts about each
    /// problem once; `status` shows them first; `validate` fails on them.
    pub problems: Vec<Problem>,
    /// Each `*_env` key of the settings, with the variable it was read from: the
    /// environment of whoever ran checker, which may not be cron's (`validate` says so).
    pub env_reads: Vec<Problem>,
}

impl Config {
    /// Ends the configuration of a process about to exit without freeing it: its jobs'
    /// strings and lists, freed one by one, cost a tick of 10,000 jobs some 7 M
    /// instructions for memory the exit hands back whole. Nothing of it needs dropping
    /// (it holds no file, lock or thread), so nothing is lost. Only for the end of a
    /// short-lived command.
    pub fn forget_at_exit(self) {
        std::mem::forget(self);
    }

    /// Every title and body template of every channel.
    pub fn templates(&self) -> Vec<&Template> {
        let mut all = vec![&self.email.templates];
        all.extend(self.pushover.iter().map(|p| &p.templates));
        all.extend(self.webhooks.iter().map(|w| &w.templates));
        all.into_iter()
            .flat_map(|t| t.title.iter().chain(t.body.iter()))
            .collect()
    }

    /// The job named `name`. A linear search: for a lookup per job (thousands), build
    /// [`Config::jobs_by_name`] once instead.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// Every job by name, the first of a name winning as in [`Config::job`]: one lookup
    /// each for the loops over every job of the state (a tick's bookkeeping, `status`),
    /// which would otherwise cost the square of the number of jobs.
    pub fn jobs_by_name(&self) -> super::names::ByName<&str, &Job> {
        let mut map = super::names::ByName::default();
        map.reserve(self.jobs.len());
        for j in &self.jobs {
            map.entry(j.name.as_str()).or_insert(j);
        }
        map
    }

    /// Whether `file` is a job file that could not be loaded (its jobs are left out).
    pub fn is_broken_file(&self, file: &Path) -> bool {
        self.problems.iter().any(|p| p.file == file)
    }

    /// The job files that could not be loaded, each once, in the order of their problems.
    pub fn broken_files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = Vec::new();
        for p in &self.problems {
            if !files.contains(&p.file.as_path()) {
                files.push(&p.file);
            }
        }
        files
    }

    /// Every secret of the configuration, for masking in whatever checker stores, prints,
    /// logs or forwards (`crate::redact`): passwords, tokens, user keys, webhook URLs and
    /// headers, and the credentials inside configured URLs (userinfo passwords, key-like
    /// query values), credential-looking headers of http jobs and credential-named `env`
    /// values of commands.
    pub fn secrets(&self) -> Vec<String> {
        fn header(out: &mut Vec<String>, value: &str) {
            out.push(value.to_string());
            // "Bearer abc": the credential alone too, as a server may echo just that.
            if let Some((_, cred)) = value.trim().split_once(' ') {
                out.push(cred.trim().to_string());
            }
        }
        fn env(out: &mut Vec<String>, env: &BTreeMap<String, String>) {
            for (k, v) in env {
                if crate::redact::sensitive_name(k) {
                    out.push(v.clone());
                }
            }
        }
        let mut out: Vec<String> = Vec::new();
        let secret = |out: &mut Vec<String>, s: &Secret| out.push(s.expose().to_string());
        for s in [
            &self.email.password,
            &self.email.imap_password,
            &self.serve.token,
        ]
        .into_iter()
        .flatten()
        {
            secret(&mut out, s);
        }
        if let Some(p) = &self.pushover {
            secret(&mut out, &p.token);
            secret(&mut out, &p.user);
            out.extend(crate::redact::url_credentials(&p.api_url));
        }
        for w in &self.webhooks {
            secret(&mut out, &w.url);
            out.extend(crate::redact::url_credentials(w.url.expose()));
            for (_, v) in &w.headers {
                header(&mut out, v.expose());
            }
            if let Some(t) = &w.token {
                secret(&mut out, t);
            }
        }
        for c in &self.commands {
            env(&mut out, &c.env);
        }
        for j in &self.jobs {
            match &j.kind {
                JobKind::Http(h) => {
                    out.extend(match &h.parsed_url {
                        Some(u) => crate::redact::parsed_url_credentials(u),
                        None => crate::redact::url_credentials(&h.url),
                    });
                    for (k, v) in &h.headers {
                        if crate::redact::sensitive_name(k) {
                            header(&mut out, v);
                        }
                    }
                }
                JobKind::Command(c) => env(&mut out, &c.env),
                JobKind::Peer(p) => {
                    if let Some(t) = &p.token {
                        secret(&mut out, t);
                    }
                    for target in std::iter::once(&p.target).chain(p.jobs.as_ref()) {
                        match target {
                            PeerTarget::Url(u) => out.extend(crate::redact::url_credentials(u)),
                            PeerTarget::Command(c) => env(&mut out, &c.env),
                        }
                    }
                }
                _ => {}
            }
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }

    /// Every channel a job may list in `notify`: email, then the commands, pushover and
    /// the webhooks, each in the order written.
    pub fn channels(&self) -> Vec<Channel<'_>> {
        let mut all = vec![Channel::Email(&self.email)];
        all.extend(self.commands.iter().map(Channel::Command));
        all.extend(self.pushover.iter().map(Channel::Pushover));
        all.extend(self.webhooks.iter().map(Channel::Webhook));
        all
    }

    /// The channel jobs call `name` in `notify`, if one is configured.
    pub fn channel(&self, name: &str) -> Option<Channel<'_>> {
        self.channels().into_iter().find(|c| c.name() == name)
    }

    /// Whether alerts through `channel` go out as digests: its own `digest`, else
    /// `[defaults] digest`, for a channel whose kind can send one (`Channel::digest`).
    pub fn digest(&self, channel: &str) -> bool {
        self.channel(channel)
            .is_some_and(|c| c.digest(self.default_digest))
    }

    /// Every channel name a job may list in `notify`.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels()
            .iter()
            .map(|c| c.name().to_string())
            .collect()
    }

    /// Every CA file the configuration names (`[email] ca_file`, `tls_cert` and `http`
    /// jobs' `ca_file`), each once: what `tls::preload` reads before a run.
    pub fn ca_files(&self) -> Vec<&Path> {
        let mut paths: Vec<&Path> = self.email.ca_file.iter().map(PathBuf::as_path).collect();
        for j in &self.jobs {
            match &j.kind {
                JobKind::TlsCert(t) => paths.extend(t.ca_file.as_deref()),
                JobKind::Http(h) => paths.extend(h.ca_file.as_deref()),
                _ => {}
            }
        }
        paths.sort();
        paths.dedup();
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::load_files;

    const SETTINGS: &str = "[general]\nalertcontact = \"a@b.c\"\n\
        [email]\nsmtp_host = \"mail.example.com\"\nfrom = \"checker@example.com\"\ntimeout = \"20s\"\n\
        [[commands]]\nname = \"page\"\ncommand = [\"/bin/true\"]\ntimeout = \"7s\"\n\
        [pushover]\ntoken = \"azGDORePK8gMaC0QOYAMyEEuzJnyUi\"\nuser = \"uQiRzpo4DXghDmr9QzzfQu27cmVRsG\"\ntimeout = \"3s\"\n\
        [[webhooks]]\nname = \"ops\"\nurl = \"https://hooks.example.com/x\"\ntimeout = \"4s\"\n";

    #[test]
    fn every_channel_is_found_by_its_name_with_its_own_timeout() {
        let (_d, c) = load_files(SETTINGS, &[]);
        let found: Vec<(&str, u64, bool)> = c
            .channels()
            .iter()
            .map(|ch| (ch.name(), ch.timeout().as_secs(), ch.is_email()))
            .collect();
        assert_eq!(
            found,
            [
                ("email", 20, true),
                ("page", 7, false),
                ("pushover", 3, false),
                ("ops", 4, false)
            ]
        );
        assert_eq!(c.channel_names(), ["email", "page", "pushover", "ops"]);
        assert!(matches!(c.channel(Channel::EMAIL), Some(Channel::Email(_))));
        assert!(
            matches!(c.channel("page"), Some(Channel::Command(p)) if p.command == ["/bin/true"])
        );
        assert!(matches!(
            c.channel(Channel::PUSHOVER),
            Some(Channel::Pushover(_))
        ));
        assert!(matches!(c.channel("ops"), Some(Channel::Webhook(w)) if w.name == "ops"));
        assert!(c.channel("nope").is_none());
        // Without [pushover], "pushover" is no channel.
        let (_d, c) = load_files("[general]\nalertcontact = \"a@b.c\"\n", &[]);
        assert!(c.channel(Channel::PUSHOVER).is_none());
        assert_eq!(c.channel_names(), ["email"]);
    }

    #[test]
    fn each_ca_file_is_listed_once_whoever_names_it() {
        let jobs = "[[job]]\nname = \"a\"\nkind = \"tls_cert\"\nhost = \"example.com\"\nverify = true\nca_file = \"/etc/ca.pem\"\n\
            [[job]]\nname = \"b\"\nkind = \"http\"\nurl = \"https://example.com/\"\nca_file = \"/etc/ca.pem\"\n\
            [[job]]\nname = \"c\"\nkind = \"http\"\nurl = \"https://example.org/\"\nca_file = \"/etc/other.pem\"\n";
        let settings = SETTINGS.replace(
            "timeout = \"20s\"\n",
            "timeout = \"20s\"\nca_file = \"/etc/mail.pem\"\n",
        );
        let (_d, c) = load_files(&settings, &[("a.toml", jobs)]);
        let files: Vec<&str> = c.ca_files().iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(files, ["/etc/ca.pem", "/etc/mail.pem", "/etc/other.pem"]);
    }

    #[test]
    fn a_channel_sends_digests_by_its_own_key_else_by_the_defaults() {
        let (_d, c) = load_files(SETTINGS, &[]);
        let all = ["email", "page", "pushover", "ops"];
        assert!(all.iter().all(|ch| !c.digest(ch)), "off by default");
        // The last table of SETTINGS is the "ops" webhook: it says no.
        let settings = format!("{SETTINGS}digest = false\n\n[defaults]\ndigest = true\n");
        let (_d, c) = load_files(&settings, &[]);
        let on: Vec<&str> = all.into_iter().filter(|ch| c.digest(ch)).collect();
        assert_eq!(on, ["email", "page", "pushover"]);
        assert!(!c.digest("nope"), "an unknown channel sends nothing");
        let settings = SETTINGS.replace("timeout = \"7s\"\n", "timeout = \"7s\"\ndigest = true\n");
        let (_d, c) = load_files(&settings, &[]);
        assert!(c.digest("page") && !c.digest("email"));
    }
}
