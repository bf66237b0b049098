//! The one state transaction. Every writer of the state (a run's phases, a pushed result,
//! each round of deliveries, `test-notify`) goes through `Txn`: take the lock, load the
//! state, note a state file moved aside or a history database started afresh (an error
//! event and an alert each), change the state and collect events, then save the state and
//! append the events to the history (secrets masked), and release the lock. Lock order:
//! the state, then the database. A `Txn` dropped without `commit` saves nothing.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::engine::record::record_trouble;
use crate::engine::RunError;
use crate::history::{Event, History};
use crate::state::{Guard, ReadAhead, State, Store};

/// Where one configuration's runs keep what they know: the state file (with its lock)
/// and the history database.
pub struct Ledger<'c> {
    config: &'c Config,
    store: Store,
    history: History,
}

impl<'c> Ledger<'c> {
    pub fn new(config: &'c Config) -> Self {
        Ledger {
            config,
            store: Store::new(&config.general.state_file, config.general.lock_timeout),
            history: History::from_config(&config.general),
        }
    }

    pub fn config(&self) -> &'c Config {
        self.config
    }

    /// The history, for work that takes only the database (retention).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Starts a transaction at `now`: see [`Txn`].
    pub fn begin(&self, now: DateTime<Utc>) -> Result<Txn<'_, 'c>, RunError> {
        self.begin_ahead(now, None)
    }

    /// [`Ledger::begin`] with the state file read ahead (see `state::ReadAhead`).
    pub fn begin_ahead(
        &self,
        now: DateTime<Utc>,
        ahead: Option<ReadAhead>,
    ) -> Result<Txn<'_, 'c>, RunError> {
        let guard = self.store.lock()?;
        let mut state = self.store.load_locked_ahead(&guard, ahead)?;
        let mut events = Vec::new();
        if let Some(why) = state.recovered_from.take() {
            record_trouble(
                self.config,
                &mut state,
                &mut events,
                "checker state",
                why,
                now,
            );
        }
        // Opening the history imports, migrates, or moves a corrupt database aside: under
        // the state lock, so that only one process does it.
        self.history.prepare()?;
        if let Some(why) = self.history.take_recovered() {
            record_trouble(
                self.config,
                &mut state,
                &mut events,
                "checker history",
                why,
                now,
            );
        }
        Ok(Txn {
            ledger: self,
            guard,
            state,
            events,
            now,
        })
    }
}

/// The state under the lock, and the history events to append with it. Change `state`,
/// push to `events`, then `commit`.
pub struct Txn<'l, 'c> {
    ledger: &'l Ledger<'c>,
    guard: Guard,
    pub state: State,
    pub events: Vec<Event>,
    /// When the transaction began: the time its changes are made at.
    pub now: DateTime<Utc>,
}

impl Txn<'_, '_> {
    /// Saves the state, appends the events to the history and releases the lock.
    pub fn commit(self) -> Result<(), RunError> {
        let Txn {
            ledger,
            guard,
            state,
            events,
            ..
        } = self;
        ledger.store.save_locked(&guard, &state)?;
        // Every path records its events here, so this is where configured secrets are
        // masked in them.
        let masked: Vec<Event> = events.into_iter().map(crate::redact::value).collect();
        ledger.history.append(&masked)?;
        drop(guard);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventKind;

    fn broken_files_config() -> (tempfile::TempDir, Config) {
        let (dir, mut config) = crate::engine::test_config("");
        config.general.state_file = dir.path().join("state.json");
        config.general.history_db = dir.path().join("history.db");
        config.general.history_dir = dir.path().join("history");
        (dir, config)
    }

    fn errors(config: &Config) -> Vec<String> {
        let h = History::reader(&config.general);
        h.read(&crate::history::Query::default())
            .expect("history reads")
            .into_iter()
            .filter(|e| e.event == EventKind::Error)
            .filter_map(|e| e.message)
            .collect()
    }

    #[test]
    fn a_state_file_and_a_history_moved_aside_are_each_an_error_event_and_an_alert() {
        let (_dir, config) = broken_files_config();
        std::fs::write(&config.general.state_file, "{ not json").expect("state");
        std::fs::write(&config.general.history_db, "not a database at all").expect("db");
        let ledger = Ledger::new(&config);
        let txn = ledger.begin(Utc::now()).expect("begins");
        let jobs: Vec<&str> = txn
            .state
            .outbox
            .iter()
            .map(|e| e.alert.job.as_str())
            .collect();
        assert_eq!(jobs, vec!["checker state", "checker history"]);
        assert!(txn.state.recovered_from.is_none());
        txn.commit().expect("commits");
        let errors = errors(&config);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .all(|m| m.contains("was unreadable") && m.contains("moved aside")),
            "{errors:?}"
        );

        // Told once: the next transaction finds both in order.
        let txn = ledger.begin(Utc::now()).expect("begins");
        assert_eq!(txn.state.outbox.len(), 2);
        assert!(txn.events.is_empty());
    }

    #[test]
    fn a_transaction_dropped_without_commit_saves_nothing_and_releases_the_lock() {
        let (_dir, config) = broken_files_config();
        let ledger = Ledger::new(&config);
        let mut txn = ledger.begin(Utc::now()).expect("begins");
        txn.state
            .jobs
            .entry("web".into())
            .or_default()
            .total_attempts = 3;
        drop(txn);
        let mut txn = ledger.begin(Utc::now()).expect("the lock is free again");
        assert!(txn.state.jobs.is_empty());
        txn.state
            .jobs
            .entry("web".into())
            .or_default()
            .total_attempts = 3;
        txn.commit().expect("commits");
        let txn = ledger.begin(Utc::now()).expect("begins");
        assert_eq!(txn.state.jobs["web"].total_attempts, 3);
    }
}
