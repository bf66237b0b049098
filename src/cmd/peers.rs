//! `checker peers [--json]`: asks every configured peer now, all at once, and prints what
//! each answered. Changes no state and sends nothing; exit 1 when any peer is unwell.

use std::time::Instant;

use serde::Serialize;

use crate::check::http::Clients;
use crate::check::peer;
use crate::config::{Config, JobKind};
use crate::error::AppError;
use crate::exit::Exit;
use crate::runtime::Workers;

#[derive(Debug, Serialize)]
struct Row {
    peer: String,
    job: String,
    target: String,
    answer: String,
    ok: bool,
    message: String,
    duration_ms: u64,
}

pub fn run(config: &Config, json: bool) -> Result<Exit, AppError> {
    let peers: Vec<_> = config
        .jobs
        .iter()
        .filter_map(|j| match &j.kind {
            JobKind::Peer(p) => Some((j, p)),
            _ => None,
        })
        .collect();
    let runtime = crate::runtime::build(Workers::PerCore)?;
    let clients = Clients::new();
    let rows: Vec<Row> = runtime.block_on(futures_util::future::join_all(peers.iter().map(
        |(job, spec)| {
            let clients = &clients;
            async move {
                let started = Instant::now();
                let a = peer::ask(spec, job.timeout, clients).await;
                Row {
                    peer: spec.name.clone(),
                    job: job.name.clone(),
                    target: spec.target.describe(),
                    answer: a.answer,
                    ok: a.outcome.ok,
                    message: a.outcome.message,
                    duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                }
            }
        },
    )));
    let all_ok = rows.iter().all(|r| r.ok);
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            peers: &'a [Row],
        }
        super::print_json(&Out { peers: &rows })?;
    } else if rows.is_empty() {
        println!("(no peers configured: add [[peers]] to the settings)");
    } else {
        print_table(&rows);
    }
    Ok(Exit::unhealthy_if(!all_ok))
}

fn print_table(rows: &[Row]) {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.peer.clone(),
                r.target.clone(),
                crate::text::printable(&r.answer).into_owned(),
                if r.ok { "ok" } else { "FAIL" }.to_string(),
                format!("{} ms", r.duration_ms),
                crate::text::printable(&r.message).into_owned(),
            ]
        })
        .collect();
    super::list::print_rows(
        &["PEER", "TARGET", "ANSWER", "OK", "TIME", "MESSAGE"],
        &cells,
    );
}
