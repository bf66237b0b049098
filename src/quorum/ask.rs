//! Asking the peers for their job states: each peer a run's jobs confirm with is asked
//! once, whichever jobs need it, all at once and beside the run's checks, under the
//! longest timeout of those jobs (never past the tick deadline). `url` peers by
//! `GET /jobs.json` with their token; `command` peers by running their `jobs-json`
//! command. Whatever goes wrong is an answer of its own (`Err` with the reason): a peer
//! cannot stop a run, and its answer is read as hostile input (`wire::parse`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::process::Command;
use tokio::time::Instant;

use super::wire::{self, PeerJobs, MAX_ANSWER};
use super::{Answers, Asked};
use crate::check::http::{read_body, request_error, Clients};
use crate::config::{Config, Job, JobKind, PeerSpec, PeerTarget};
use crate::duration::timed_out;
use crate::process::Failure;
use crate::text::truncate;

/// One peer to ask in this run.
#[derive(Debug, Clone)]
pub struct Ask {
    pub peer: String,
    /// How to ask it; `Err`: why it is not asked (a disabled peer).
    how: Result<How, String>,
    pub timeout: Duration,
    /// The job names asked about (each job's `confirm_job` or its own name).
    pub jobs: HashSet<String>,
}

#[derive(Debug, Clone)]
struct How {
    target: PeerTarget,
    spec: PeerSpec,
}

/// The peers `due`'s jobs confirm with, each once, with the longest timeout of the jobs
/// that need it, at most `cap` (the tick deadline).
pub fn plan(config: &Config, due: &[Job], cap: Duration) -> Vec<Ask> {
    let mut asks: Vec<Ask> = Vec::new();
    for job in due {
        let Some(c) = &job.confirm else { continue };
        let name = c.job.clone().unwrap_or_else(|| job.name.clone());
        for peer in &c.with {
            let i = match asks.iter().position(|a| a.peer == *peer) {
                Some(i) => i,
                None => {
                    asks.push(Ask {
                        peer: peer.clone(),
                        how: how(config, peer),
                        timeout: Duration::ZERO,
                        jobs: HashSet::new(),
                    });
                    asks.len() - 1
                }
            };
            let ask = &mut asks[i];
            ask.timeout = ask.timeout.max(job.timeout).min(cap);
            ask.jobs.insert(name.clone());
        }
    }
    asks
}

fn how(config: &Config, peer: &str) -> Result<How, String> {
    let (job, spec) = config
        .jobs
        .iter()
        .find_map(|j| match &j.kind {
            JobKind::Peer(p) if p.name == peer => Some((j, p)),
            _ => None,
        })
        // `validate` refuses such a configuration; a state written by another one may
        // still name it.
        .ok_or_else(|| format!("not asked: no peer {peer:?} in [[peers]]"))?;
    if !job.enabled {
        return Err("not asked: the peer is disabled (enabled = false)".into());
    }
    let target = spec
        .jobs
        .clone()
        .ok_or_else(|| "not asked: no `jobs_command` for this command peer".to_string())?;
    Ok(How {
        target,
        spec: PeerSpec::clone(spec),
    })
}

/// Asks every peer of `asks` at once; `started` is when the run's checks started, from
/// which each answer's time is counted.
pub async fn ask_all(asks: &[Ask], started: Instant) -> Answers {
    if asks.is_empty() {
        return Answers::none();
    }
    let clients = Clients::new();
    let answers = futures_util::future::join_all(asks.iter().map(|a| async {
        let answer = match &a.how {
            Ok(how) => ask(how, &a.jobs, a.timeout, &clients).await,
            Err(why) => Err(why.clone()),
        };
        // A peer may echo what it was sent (its `Authorization` header): no configured
        // secret goes further.
        let answer = answer
            .map(|mut jobs| {
                for j in jobs.jobs.values_mut() {
                    j.message = j.message.take().map(crate::redact::string);
                }
                jobs
            })
            .map_err(crate::redact::string);
        if let Err(why) = &answer {
            log::info!("peer {}: {why}", a.peer);
        }
        (
            a.peer.clone(),
            Asked {
                after: started.elapsed(),
                answer,
            },
        )
    }))
    .await;
    Answers {
        peers: answers.into_iter().collect::<HashMap<_, _>>(),
    }
}

async fn ask(
    how: &How,
    jobs: &HashSet<String>,
    timeout: Duration,
    clients: &Clients,
) -> Result<PeerJobs, String> {
    let bytes = match tokio::time::timeout(timeout, fetch(how, timeout, clients)).await {
        Err(_) => return Err(format!("no answer: {}", timed_out(timeout))),
        Ok(r) => r?,
    };
    if bytes.len() > MAX_ANSWER {
        return Err(format!(
            "its answer is larger than {} MiB",
            MAX_ANSWER / (1024 * 1024)
        ));
    }
    wire::parse(&bytes, Some(jobs))
}

/// The answer's bytes (at most one more than `MAX_ANSWER`).
async fn fetch(how: &How, timeout: Duration, clients: &Clients) -> Result<Vec<u8>, String> {
    match &how.target {
        PeerTarget::Url(url) => {
            let client = clients.get(true, how.spec.accept_invalid_certs)?;
            let mut request = client.get(url).timeout(timeout);
            if let Some(token) = &how.spec.token {
                request = request.bearer_auth(token.expose());
            }
            let no_answer =
                |e: reqwest::Error| format!("no answer: {}", request_error(&e, timeout).message);
            let mut response = request.send().await.map_err(no_answer)?;
            let status = response.status().as_u16();
            if status != 200 {
                let hint = match status {
                    401 | 403 => ": is its `token` right?",
                    404 => ": does its checker serve /jobs.json (a version with confirmation)? Else set `jobs_url`",
                    _ => "",
                };
                return Err(format!("it answered HTTP {status}{hint}"));
            }
            read_body(&mut response, MAX_ANSWER + 1)
                .await
                .map_err(no_answer)
        }
        PeerTarget::Command(c) => {
            let Some((program, args)) = c.command.split_first() else {
                return Err("not asked: the command is empty".into());
            };
            let mut command = Command::new(program);
            command.args(args).envs(&c.env);
            if let Some(cwd) = &c.cwd {
                command.current_dir(cwd);
            }
            match crate::process::run_capped(command, None, timeout, MAX_ANSWER + 1).await {
                Ok(done) if !done.stdout.iter().all(u8::is_ascii_whitespace) => Ok(done.stdout),
                Ok(done) => {
                    let stderr = String::from_utf8_lossy(&done.stderr);
                    let why = stderr
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(|l| format!(": {}", truncate(l, 200)))
                        .unwrap_or_default();
                    let ended = match done.status.code() {
                        Some(code) => format!("exited with status {code}"),
                        None => "was killed by a signal".into(),
                    };
                    Err(format!(
                        "no answer: the command {ended} and printed nothing{why}"
                    ))
                }
                Err(Failure::Spawn(e)) => Err(format!("no answer: cannot run {program}: {e}")),
                Err(Failure::TimedOut) => Err(format!("no answer: {}", timed_out(timeout))),
                Err(Failure::Wait(e)) => Err(format!("no answer: waiting for {program}: {e}")),
            }
        }
    }
}
