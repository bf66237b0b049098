//! checker: a cron-driven monitor that watches web sites, ports, jobs and other checkers,
//! and proves that it is itself alive and able to send mail.

pub mod app;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod delivery;
pub mod duration;
pub mod error;
pub mod history;
pub mod last_resort;
pub mod logging;
pub mod notify;
pub mod outbox;
pub mod passive;
pub mod peer;
pub mod push;
pub mod redact;
pub mod rules;
pub mod safe_file;
pub mod saturating;
pub mod schedule;
pub mod selfcheck;
pub mod serve;
pub mod state;
pub mod syslog;
pub mod template;
pub mod text;
pub mod tick;
pub mod tls;

#[cfg(test)]
mod docs_links;
