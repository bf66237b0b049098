//! The notification channels besides `[email]`: `[[commands]]`, `[pushover]` and
//! `[[webhooks]]`, one file each, read and validated with their names kept unique; and
//! [`Channel`], any configured channel looked up by name (`Config::channel`).

pub(super) mod commands;
pub(super) mod pushover;
pub(super) mod webhooks;

use std::path::Path;
use std::time::Duration;

use commands::{CommandChannel, RawCommandChannel};
use pushover::{Pushover, RawPushover, PUSHOVER};
use webhooks::{RawWebhook, Webhook};

use super::context::{section_line, FileCtx, S};
use super::email::{Email, EMAIL};

/// A channel a job may list in `notify`, as the section that configures it.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    Email(&'a Email),
    Command(&'a CommandChannel),
    Pushover(&'a Pushover),
    Webhook(&'a Webhook),
}

impl<'a> Channel<'a> {
    /// The name of the channel `[email]` configures.
    pub const EMAIL: &'static str = EMAIL;
    /// The name of the channel `[pushover]` configures.
    pub const PUSHOVER: &'static str = PUSHOVER;

    /// The name jobs list in `notify`.
    pub fn name(&self) -> &'a str {
        match self {
            Channel::Email(_) => EMAIL,
            Channel::Command(c) => &c.name,
            Channel::Pushover(_) => PUSHOVER,
            Channel::Webhook(w) => &w.name,
        }
    }

    /// How long one delivery attempt may take, as configured (`timeout`).
    pub fn timeout(&self) -> Duration {
        match self {
            Channel::Email(e) => e.timeout,
            Channel::Command(c) => c.timeout,
            Channel::Pushover(p) => p.timeout,
            Channel::Webhook(w) => w.timeout,
        }
    }

    /// Whether alerts through this channel go out as digests (several alerts decided
    /// together in one message): its own `digest` key, else `default` (`[defaults]
    /// digest`). A webhook format that posts each alert on its own by nature
    /// (`WebhookFormat::digests`) never does, whatever the keys say.
    pub fn digest(&self, default: bool) -> bool {
        let own = match self {
            Channel::Email(e) => e.digest,
            Channel::Command(c) => c.digest,
            Channel::Pushover(p) => p.digest,
            Channel::Webhook(w) if !w.format.digests() => return false,
            Channel::Webhook(w) => w.digest,
        };
        own.unwrap_or(default)
    }

    /// The channel's title and body templates (`[[commands]]` have none).
    pub fn templates(&self) -> Option<&'a crate::template::Templates> {
        match self {
            Channel::Email(e) => Some(&e.templates),
            Channel::Command(_) => None,
            Channel::Pushover(p) => Some(&p.templates),
            Channel::Webhook(w) => Some(&w.templates),
        }
    }

    /// Whether this is `[email]`, whose health the self-check proves and whose failures
    /// send alerts to the other channels too.
    pub fn is_email(&self) -> bool {
        matches!(self, Channel::Email(_))
    }
}

/// The channels of the settings besides email: `[[commands]]`, `[pushover]`,
/// `[[webhooks]]`.
pub(super) struct Channels {
    pub(super) commands: Vec<CommandChannel>,
    pub(super) pushover: Option<Pushover>,
    pub(super) webhooks: Vec<Webhook>,
}

/// Reads the three sections. A channel name is taken once: "email", then each command's,
/// "pushover" (a `[[commands]]` channel of that name next to `[pushover]` is a clash),
/// then each webhook's.
pub(super) fn resolve(
    cx: &mut FileCtx<'_>,
    base: &Path,
    commands: &[S<RawCommandChannel>],
    pushover: Option<&RawPushover>,
    webhooks: &[S<RawWebhook>],
) -> Channels {
    let commands = commands::resolve(cx, base, commands);
    let pushover = pushover::resolve(cx, base, pushover);
    let mut taken: Vec<String> = vec![EMAIL.to_string()];
    taken.extend(commands.iter().map(|c| c.name.clone()));
    if pushover.is_some() {
        if commands.iter().any(|c| c.name == PUSHOVER) {
            let line = section_line(cx.src, "[pushover]");
            cx.at_line(line, "[pushover] and a [[commands]] channel named \"pushover\" clash: rename the command");
        }
        taken.push(PUSHOVER.to_string());
    }
    let webhooks = webhooks::resolve(cx, base, webhooks, &taken);
    Channels {
        commands,
        pushover,
        webhooks,
    }
}
