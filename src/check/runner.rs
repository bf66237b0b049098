//! Runs the checks of one run: every job concurrently up to `max_concurrency`, started in
//! the order given, each attempt under its timeout, transient failures retried with
//! exponential backoff, and the whole run cut off at the tick deadline.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::http::Clients;
use super::{command, dns, file, http, peer, tcp, tls_cert, Attempt, CheckResult, Outcome};
use crate::config::{Job, JobKind};
use crate::duration::timed_out;

pub struct RunnerOptions {
    pub max_concurrency: usize,
    /// The whole run stops waiting after this long.
    pub deadline: Duration,
}

/// How long past its own timeout an attempt may run before the runner gives up on it.
/// Every check enforces its timeout itself; the margin lets a killed command be reaped
/// and its outcome reported in the check's own words.
const SAFETY_MARGIN: Duration = Duration::from_secs(2);

/// What a running job has done so far, for the report if the deadline cuts it off.
#[derive(Default)]
struct Progress {
    attempts: u32,
    /// The attempt that last failed and how, while the job waits to retry.
    last_failure: Option<(u32, String)>,
    /// The attempts that failed and were retried, for the history.
    earlier: Vec<Attempt>,
}

/// Runs every job in `jobs`; returns one entry per job, in the same order: `Some(result)`,
/// or `None` when the deadline passed before the check could even start.
pub async fn run_all(jobs: &[Job], opts: &RunnerOptions) -> Vec<Option<CheckResult>> {
    run_shared(Arc::from(jobs), opts).await
}

/// [`run_all`] of jobs the caller already holds in an `Arc`: each check's task shares
/// them instead of taking a copy of its job.
pub async fn run_shared(jobs: Arc<[Job]>, opts: &RunnerOptions) -> Vec<Option<CheckResult>> {
    let deadline = crate::saturating::instant_in(opts.deadline);
    let semaphore = Arc::new(Semaphore::new(opts.max_concurrency.max(1)));
    let clients = Arc::new(Clients::new());
    let progress: Vec<Arc<Mutex<Progress>>> = jobs.iter().map(|_| Arc::default()).collect();

    let mut results: Vec<Option<CheckResult>> = vec![None; jobs.len()];
    let mut started: Vec<Option<Instant>> = vec![None; jobs.len()];
    // Which job each task runs, looked up only for a task that panicked.
    let mut task_index = Vec::with_capacity(jobs.len());
    let mut tasks = JoinSet::new();

    let dispatch_and_collect = async {
        let mut next = 0;
        loop {
            tokio::select! {
                // Collect first so finished checks free their permits for the next ones.
                biased;
                Some(joined) = tasks.join_next() => {
                    if let Ok((index, result)) = joined {
                        results[index] = Some(result);
                    }
                }
                // The dispatcher alone takes permits, so jobs start in the order given.
                permit = semaphore.clone().acquire_owned(), if next < jobs.len() => {
                    let Ok(permit) = permit else { break };
                    let index = next;
                    next += 1;
                    started[index] = Some(Instant::now());
                    let jobs = Arc::clone(&jobs);
                    let clients = Arc::clone(&clients);
                    let progress = Arc::clone(&progress[index]);
                    let handle = tasks.spawn(async move {
                        let result = run_job(&jobs[index], &clients, deadline, &progress).await;
                        drop(permit);
                        (index, result)
                    });
                    task_index.push((handle.id(), index));
                }
                else => break,
            }
        }
    };
    let cut_off = tokio::time::timeout_at(deadline, dispatch_and_collect)
        .await
        .is_err();

    // Cancel what is still running and wait for the cancellation itself, so that what
    // the checks hold (a command's process group) is released before we return.
    tasks.abort_all();
    let mut panicked = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, result)) => results[index] = Some(result),
            Err(e) if e.is_panic() => panicked.extend(
                task_index
                    .iter()
                    .find(|(id, _)| *id == e.id())
                    .map(|(_, index)| *index),
            ),
            Err(_) => {}
        }
    }

    let now = Instant::now();
    for (index, job) in jobs.iter().enumerate() {
        let Some(start) = started[index] else {
            continue;
        };
        if results[index].is_some() {
            continue;
        }
        let (attempts, last_failure, earlier) = match progress[index].lock() {
            Ok(p) => (p.attempts, p.last_failure.clone(), p.earlier.clone()),
            Err(_) => (0, None, Vec::new()),
        };
        let mut message = if panicked.contains(&index) || !cut_off {
            "the check stopped unexpectedly (internal error)".to_string()
        } else {
            format!(
                "not finished within the tick deadline ({})",
                crate::duration::format(opts.deadline)
            )
        };
        if let Some((failed, how)) = last_failure {
            message.push_str(&format!("; attempt {failed} failed: {how}"));
        }
        results[index] = Some(CheckResult {
            job: job.name.clone(),
            ok: false,
            message,
            duration_ms: millis(now - start),
            attempts: attempts.max(1),
            perfdata: Vec::new(),
            count: None,
            earlier_attempts: earlier,
            cert_not_after: None,
        });
    }
    // Whatever a target echoed (a password in an error page), no configured secret is
    // reported, stored or printed.
    results
        .into_iter()
        .map(|r| r.map(crate::redact::value))
        .collect()
}

/// One job: attempts until success, a failure a retry will not mend, the retries are
/// used up, or the next retry could not start before the deadline.
async fn run_job(
    job: &Job,
    clients: &Clients,
    deadline: Instant,
    progress: &Mutex<Progress>,
) -> CheckResult {
    let start = Instant::now();
    let mut attempt = 0u32;
    let mut earlier = Vec::new();
    let outcome = loop {
        attempt += 1;
        if let Ok(mut p) = progress.lock() {
            p.attempts = attempt;
        }
        let attempt_start = Instant::now();
        let outcome = run_once(job, clients).await;
        if outcome.ok || !outcome.transient || attempt > job.retries {
            break outcome;
        }
        let wait = backoff(job.retry_backoff, attempt);
        // A retry that cannot begin before the deadline would only replace a real
        // failure with "not finished" (nor can one too far off to compute).
        if Instant::now()
            .checked_add(wait)
            .is_none_or(|t| t >= deadline)
        {
            break outcome;
        }
        earlier.push(Attempt {
            attempt,
            message: outcome.message.clone(),
            duration_ms: millis(attempt_start.elapsed()),
            at: chrono::Utc::now(),
        });
        if let Ok(mut p) = progress.lock() {
            p.last_failure = Some((attempt, outcome.message.clone()));
            p.earlier = earlier.clone();
        }
        tokio::time::sleep(wait).await;
    };
    CheckResult {
        job: job.name.clone(),
        ok: outcome.ok,
        message: outcome.message,
        duration_ms: millis(start.elapsed()),
        attempts: attempt,
        perfdata: outcome.perfdata,
        count: None,
        earlier_attempts: earlier,
        cert_not_after: outcome.cert_not_after,
    }
}

async fn run_once(job: &Job, clients: &Clients) -> Outcome {
    let timeout = job.timeout;
    let check = async {
        match &job.kind {
            JobKind::Http(spec) => http::check(spec, timeout, clients).await,
            JobKind::Tcp(spec) => tcp::check(spec, timeout).await,
            JobKind::Command(spec) => command::check(spec, timeout).await,
            JobKind::TlsCert(spec) => tls_cert::check(spec, timeout).await,
            JobKind::File(spec) => file::check(spec).await,
            JobKind::Dns(spec) => dns::check(spec, timeout).await,
            JobKind::Peer(spec) => peer::check(spec, timeout, clients).await,
            // Never selected by a run (its deadline is checked under the lock instead).
            JobKind::Passive(_) => Outcome::fail("a passive job has no check of its own: results come from `checker report` and `checker wrap`"),
        }
    };
    match tokio::time::timeout(timeout.saturating_add(SAFETY_MARGIN), check).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::transient(timed_out(timeout)),
    }
}

/// The wait before retry `k` (1-based): `base * 2^(k-1)`.
fn backoff(base: Duration, k: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(k.saturating_sub(1)))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base() {
        let base = Duration::from_millis(100);
        let waits: Vec<_> = (1..=4).map(|k| backoff(base, k).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800]);
        // Absurd retry counts saturate instead of overflowing.
        assert!(backoff(base, 200) >= Duration::from_secs(365 * 86_400));
    }
}
