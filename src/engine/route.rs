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
