//! checker: a cron-driven monitor that watches web sites, ports, jobs and other checkers,
//! and proves that it is itself alive and able to send mail.

pub mod app;
pub mod calendar;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exit;
pub mod history;
pub mod last_resort;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod pattern;
pub mod peer;
pub mod process;
pub mod quorum;
pub mod redact;
pub mod rules;
pub mod runtime;
pub mod safe_file;
pub mod saturating;
pub mod schedule;
pub mod selfcheck;
pub mod serve;
pub mod state;
pub mod statuspage;
pub mod syslog;
pub mod template;
pub mod text;
pub mod tls;

#[cfg(test)]
mod docs_links;
