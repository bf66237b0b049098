//! `checker peer-status [--json]`: this instance's health as its peers see it. Prints
//! exactly `True`, `MailProblem` or `JobProblem` (exit 0 only for `True`). It reads the
//! state without the lock, so it answers at once even while a tick is running.

use chrono::Utc;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::peer::status::{self, Policy, Word};
use crate::state::Store;

pub fn run(config: &Config, json: bool) -> Result<Exit, AppError> {
    let policy = Policy::from_config(config);
    let store = Store::new(&config.general.state_file, config.general.lock_timeout);
    let (st, unreadable) = match store.read() {
        Ok(state) => (status::compute(&state, &policy, Utc::now()), None),
        Err(e) => (status::unreadable(&policy, &e.to_string()), Some(e)),
    };
    if json {
        super::print_json(&st)?;
    } else {
        println!("{}", st.status.as_str());
    }
    // A peer running this over ssh still reads a word; the exit status says state error.
    if let Some(e) = unreadable {
        return Err(AppError::State(e));
    }
    Ok(Exit::unhealthy_if(st.status != Word::True))
}
