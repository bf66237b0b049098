//! `checker test-notify [CHANNEL] [--digest]`: send a test message (or, with `--digest`,
//! a sample digest: example failures and a recovery in one message) through each
//! configured channel (or the one named) right now, print per channel whether it was
//! delivered, and exit 1 if any failed. Each attempt is in the history; email attempts
//! set the mail health.

use chrono::Utc;

use crate::config::{Channel, Config};
use crate::engine::delivery::{deliver_digest_limited, deliver_limited, note_email_outcome};
use crate::engine::txn::Ledger;
use crate::error::AppError;
use crate::exit::Exit;
use crate::history::{Event, EventKind};
use crate::notify::{digest, Alert, AlertKind, Delivered, SendOptions};
use crate::runtime::Workers;

pub fn run(
    config: &Config,
    only: Option<&str>,
    digest: bool,
    nomail: bool,
) -> Result<Exit, AppError> {
    let all = config.channel_names();
    let channels: Vec<String> = match only {
        Some(name) if all.iter().any(|c| c == name) => vec![name.to_string()],
        Some(name) => {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            let hint = crate::config::nearest(name, &refs)
                .map(|n| format!("; did you mean {n:?}?"))
                .unwrap_or_default();
            return Err(AppError::Usage(format!(
                "unknown channel {name:?}{hint} (channels: {})",
                all.join(", ")
            )));
        }
        None => all,
    };
    let now = Utc::now();
    let alert = Alert {
        kind: AlertKind::Test,
        servername: config.general.servername.clone(),
        job: "test-notify".into(),
        job_kind: "test".into(),
        description: None,
        message: "test notification: if you read this, the channel works".into(),
        consecutive_failures: 0,
        failing_since: None,
        last_success: None,
        next_reminder: String::new(),
        at: now,
        recipients: config.general.alertcontact.clone(),
        target: None,
        expected: None,
    };
    let runtime = crate::runtime::build(Workers::PerCore)?;
    let send = SendOptions { nomail };
    let sample = digest::sample(
        &config.general.servername,
        &config.general.alertcontact,
        now,
    );
    let outcomes = runtime.block_on(async {
        let futs = channels.iter().map(|c| async {
            if digest {
                deliver_digest_limited(config, c, &sample, send).await
            } else {
                deliver_limited(config, c, &alert, send).await
            }
        });
        futures_util::future::join_all(futs).await
    });
    let what = if digest {
        "sample digest"
    } else {
        "test notification"
    };

    let width = channels
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0);
    let mut failed = false;
    let mut events = Vec::new();
    let done = Utc::now();
    for (c, outcome) in channels.iter().zip(&outcomes) {
        let mut ev = Event::new(done, EventKind::Notify, Some("test-notify"));
        ev.channel = Some(c.clone());
        ev.ok = Some(outcome.is_ok());
        match outcome {
            Ok(Delivered::Sent) => {
                println!(
                    "{c:<width$}  delivered{}",
                    if digest { " (a sample digest)" } else { "" }
                );
                ev.message = Some(format!("{what} delivered"));
            }
            Ok(Delivered::SentExcept(refused)) => {
                let who: Vec<String> = refused
                    .iter()
                    .map(|r| format!("{} ({})", r.recipient, r.reply))
                    .collect();
                println!("{c:<width$}  delivered, but refused for {}", who.join(", "));
                ev.message = Some(format!(
                    "{what} delivered, but refused for {}",
                    who.join(", ")
                ));
            }
            Ok(Delivered::Recorded) => {
                println!("{c:<width$}  recorded, not sent (email is off or --nomail)");
                ev.message = Some(format!("{what} recorded, not sent (email off)"));
            }
            Err(e) => {
                failed = true;
                println!(
                    "{c:<width$}  FAILED: {}",
                    crate::text::printable(e.message())
                );
                ev.message = Some(format!("{what} failed: {}", e.message()));
            }
        }
        events.push(ev);
    }

    // Record the attempts (and what they say of mail health) under the state lock.
    let ledger = Ledger::new(config);
    let mut txn = ledger.begin(done)?;
    if let Some(pos) = channels.iter().position(|c| c == Channel::EMAIL) {
        note_email_outcome(&mut txn.state, &outcomes[pos], done, "test-notify");
    }
    txn.events.extend(events);
    txn.commit()?;
    Ok(Exit::unhealthy_if(failed))
}
