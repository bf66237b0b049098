//! checker: a cron-driven monitor that watches web sites, ports, jobs and other checkers,
//! and proves that it is itself alive and able to send mail.

pub mod check;
pub mod config;
pub mod duration;
pub mod notify;
pub mod schedule;
