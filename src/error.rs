//! Errors a user can cause or meet, and the one place they become exit statuses (SPEC §2,
//! `exit::Exit`): usage or configuration 2, state and history 3, checker's own failures
//! `InternalError`.

use crate::config::ConfigError;
use crate::engine::RunError;
use crate::exit::Exit;
use crate::runtime::RuntimeError;
use crate::state::StateError;

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
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl AppError {
    /// How checker ends after this error.
    pub fn exit(&self) -> Exit {
        match self {
            AppError::Usage(_) | AppError::Config(_) => Exit::Usage,
            AppError::State(_)
            | AppError::History(_)
            | AppError::Run(RunError::State(_) | RunError::History(_)) => Exit::State,
            AppError::Run(RunError::Runtime(_)) | AppError::Runtime(_) | AppError::Other(_) => {
                Exit::InternalError
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_exit_status_and_an_internal_error_is_not_a_failed_check() {
        let io = || std::io::Error::other("no threads");
        assert_eq!(AppError::Usage("x".into()).exit(), Exit::Usage);
        assert_eq!(
            AppError::Config(ConfigError { problems: vec![] }).exit(),
            Exit::Usage
        );
        let lock = || StateError::LockTimeout {
            path: "/var/lib/checker/state.json.lock".into(),
            secs: 5,
        };
        assert_eq!(AppError::State(lock()).exit(), Exit::State);
        assert_eq!(AppError::Run(RunError::State(lock())).exit(), Exit::State);
        assert_eq!(
            AppError::Run(RunError::Runtime(RuntimeError(io()))).exit(),
            Exit::InternalError
        );
        assert_eq!(
            AppError::Runtime(RuntimeError(io())).exit(),
            Exit::InternalError
        );
        assert_eq!(
            AppError::Other(anyhow::anyhow!("disk gone")).exit(),
            Exit::InternalError
        );
        assert_ne!(Exit::InternalError, Exit::Unhealthy);
    }
}
