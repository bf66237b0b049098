//! `checker jobs-json`: this instance's job states in the shape of `GET /jobs.json`
//! (SPEC §12), for peers that confirm failures over ssh instead of HTTP. It reads the
//! state without the lock, so it answers at once even while a tick is running.

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::quorum::wire;
use crate::state::Store;

pub fn run(config: &Config) -> Result<Exit, AppError> {
    let store = Store::new(&config.general.state_file, config.general.lock_timeout);
    // Unreadable: nothing on stdout, so the asker counts it as no answer (exit 3).
    let state = store.read()?;
    let doc = wire::build(
        &config.general.servername,
        &wire::listing(config),
        &state,
        Utc::now(),
    );
    let text = serde_json::to_string(&doc).map_err(|e| AppError::Other(e.into()))?;
    println!("{text}");
    Ok(Exit::Success)
}
