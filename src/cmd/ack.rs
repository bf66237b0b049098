//! `checker ack JOB [--comment TEXT]` (SPEC §10): the job's current failure streak is
//! known, so no more reminders for it; its recovery notice still goes out, and the next
//! streak is not acknowledged. A job that is not failing is an error (exit 2).

use chrono::Utc;

use crate::config::Config;
use crate::engine::txn::Ledger;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::{Event, EventKind};
use crate::state::{Ack, JobStatus};
use crate::text::{printable, truncate};

pub fn run(config: &Config, job: &str, comment: Option<&str>) -> Result<Exit, AppError> {
    super::known_job(config, job)?;
    let comment = comment
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| truncate(c, super::silence::REASON_CAP));
    let who = super::who();
    let ledger = Ledger::new(config);
    let mut txn = ledger.begin(Utc::now())?;
    let now = txn.now;
    let Some(js) = txn
        .state
        .jobs
        .get_mut(job)
        .filter(|js| js.status == JobStatus::Failing)
    else {
        let status = txn
            .state
            .jobs
            .get(job)
            .map_or("pending", |js| js.status.as_str());
        // Dropped without commit: nothing is written.
        return Err(AppError::Usage(format!(
            "job {job:?} is not failing (it is {status}): there is no failure streak to acknowledge"
        )));
    };
    let since = js.first_failure;
    let failures = js.consecutive_failures;
    js.ack = Some(Ack {
        at: now,
        who: who.clone(),
        comment: comment.clone(),
        streak: since,
    });
    let since_text = since
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "unknown".into());
    let mut ev = Event::new(now, EventKind::Ack, Some(job));
    ev.message = Some(format!(
        "acknowledged by {who}: no more reminders for the failure streak since {since_text}{}",
        comment
            .as_deref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default()
    ));
    txn.events.push(ev);
    txn.commit()?;
    log::info!("{job}: failure streak acknowledged by {who}");
    println!(
        "acknowledged {}: failing since {since_text} ({failures} failure(s) in a row); no more reminders for this streak, and its recovery will still be told",
        printable(job)
    );
    Ok(Exit::Success)
}
