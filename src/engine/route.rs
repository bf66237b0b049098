//! Where an alert goes: the channels a job (or `[defaults]`) names, and while mail is
//! known to be broken, the other channels too, so that no alert is silently lost with
//! the mail (SPEC §6). Pure functions of the settings and the state.

use crate::config::Config;
use crate::state::State;

/// The channels an alert goes to: the job's, and while mail is known to be broken, every
/// other channel too, so that no alert is silently lost with the mail (SPEC §6).
pub fn route(config: &Config, state: &State, notify: &[String]) -> Vec<String> {
    let mut channels = notify.to_vec();
    if config.email.enabled && state.mail.ok == Some(false) && notify.iter().any(|c| c == "email") {
        for c in fallback_channels(config, notify) {
            if !channels.contains(&c) {
                channels.push(c);
            }
        }
    }
    channels
}

/// Where alerts go when email does not work: the other channels the job and `[defaults]`
/// name; when they name none, every configured channel but email.
pub fn fallback_channels(config: &Config, notify: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in notify.iter().chain(&config.default_notify) {
        if c != "email" && !out.contains(c) {
            out.push(c.clone());
        }
    }
    if out.is_empty() {
        out = config
            .channel_names()
            .into_iter()
            .filter(|c| c != "email")
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(defaults: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("jobs")).expect("jobs dir");
        std::fs::write(
            dir.path().join("settings.toml"),
            format!(
                "[general]\nalertcontact = \"ops@example.com\"\n\n\
                 [email]\nfrom = \"checker@example.com\"\nsmtp_host = \"127.0.0.1\"\n\n\
                 [[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/\"\n\n\
                 [[webhooks]]\nname = \"pager\"\nurl = \"http://127.0.0.1:9/\"\n\n\
                 [defaults]\nnotify = {defaults}\n"
            ),
        )
        .expect("settings");
        let config = crate::config::load(&dir.path().join("settings.toml")).expect("loads");
        (dir, config)
    }

    #[test]
    fn an_email_alert_also_takes_the_other_channels_only_while_mail_is_known_broken() {
        let (_dir, config) = config("[\"email\", \"pager\"]");
        let email = vec!["email".to_string()];
        let mut state = State::default();
        assert_eq!(route(&config, &state, &email), vec!["email"]);
        state.mail.ok = Some(true);
        assert_eq!(route(&config, &state, &email), vec!["email"]);
        state.mail.ok = Some(false);
        // The other channels `[defaults]` names, not every configured one.
        assert_eq!(route(&config, &state, &email), vec!["email", "pager"]);
        // An alert that does not go by email is not copied anywhere.
        let chat = vec!["chat".to_string()];
        assert_eq!(route(&config, &state, &chat), vec!["chat"]);
    }

    #[test]
    fn without_other_channels_named_the_fallback_is_every_configured_channel_but_email() {
        let (_dir, config) = config("[\"email\"]");
        assert_eq!(fallback_channels(&config, &[]), vec!["chat", "pager"]);
        let job = vec!["email".to_string(), "pager".to_string()];
        assert_eq!(fallback_channels(&config, &job), vec!["pager"]);
    }
}
