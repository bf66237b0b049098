//! Errors a user can cause or meet, and the one place they become exit statuses (SPEC §2):
//! 2 usage or configuration, 3 state; anything else 1.

use crate::config::ConfigError;
use crate::state::StateError;
use crate::tick::RunError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    State(#[from] StateError),
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("{0}")]
    History(#[from] crate::history::HistoryError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) | AppError::Config(_) => 2,
            AppError::State(_) => 3,
            AppError::Run(RunError::State(_) | RunError::History(_)) => 3,
            AppError::History(_) => 3,
            AppError::Run(_) | AppError::Other(_) => 1,
        }
    }
}
