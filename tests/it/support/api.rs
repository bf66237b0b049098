//! Every path into the `checker` library that the tests use, in one place: most tests run
//! the binary, and the few that call the library (checks, channels, logging, mail) import
//! from here, so that moving a module inside `src/` means changing this file only.

use std::path::Path;

use serde_json::Value;

/// The checks and their runner.
pub mod check {
    pub use checker::check::http::Clients;
    pub use checker::check::runner::{run_all, RunnerOptions};
    pub use checker::check::{command, dns, file, http, tcp, tls_cert, OUTPUT_CAP};
}

/// The configuration's types, as the library builds them from the files.
pub mod config {
    pub use checker::config::{
        load, CommandChannel, CommandSpec, DnsRecord, DnsSpec, Email, FileSpec, HttpSpec, Job,
        JobKind, Level, Logging, NotifyEvery, Rules, Secret, Security, SourceLoc, TcpSpec,
        TlsCertSpec,
    };
    pub use checker::schedule::Schedule;
}

/// Alerts and the channels that deliver them.
pub mod notify {
    pub use checker::notify::{
        command, deliver, email, Alert, AlertKind, Delivered, DeliveryError, SendOptions,
    };
}

pub use checker::cli::command as cli_command;
pub use checker::logging;

/// Every history event (newest first) as `history --json` gives them, read through the
/// library as a reader (no state lock).
pub fn read_history(db: &Path, legacy_dir: &Path) -> Vec<Value> {
    let h = checker::history::History::new(
        db,
        legacy_dir,
        std::time::Duration::from_secs(60),
        checker::history::Access::Reader,
    );
    h.read(&checker::history::Query::default())
        .expect("history readable")
        .into_iter()
        .map(|e| serde_json::to_value(e).expect("event serialises"))
        .collect()
}
