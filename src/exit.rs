//! Exit statuses (SPEC §2), as one type: every command ends in an `Exit`, and every
//! error becomes one through `AppError::exit`, so no status is a bare number elsewhere.

/// How checker ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (a cron tick: the tick completed, whatever the checks found).
    Success,
    /// 1: what was asked about is not well: a check failed (`run-once`), this instance
    /// or a peer is unhealthy (`peer-status`, `peers`), a channel failed (`test-notify`).
    Unhealthy,
    /// 1: checker itself failed (the async runtime did not start, an I/O error outside
    /// the state and the history). The same number as `Unhealthy`, as SPEC §2 gives
    /// only 0 to 3, but never the same path.
    InternalError,
    /// 2: usage or configuration error.
    Usage,
    /// 3: state error (lock timeout, unreadable or newer state, the history).
    State,
    /// `wrap`: the wrapped command's own status (128 + N when signal N killed it).
    Wrapped(u8),
}

impl Exit {
    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Unhealthy | Exit::InternalError => 1,
            Exit::Usage => 2,
            Exit::State => 3,
            Exit::Wrapped(code) => code,
        }
    }

    /// `Unhealthy` when `bad`, else `Success`.
    pub fn unhealthy_if(bad: bool) -> Exit {
        if bad {
            Exit::Unhealthy
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statuses_are_those_of_spec_section_2() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::Unhealthy.code(), 1);
        assert_eq!(Exit::InternalError.code(), 1);
        assert_eq!(Exit::Usage.code(), 2);
        assert_eq!(Exit::State.code(), 3);
        assert_eq!(Exit::Wrapped(137).code(), 137);
        assert_eq!(Exit::unhealthy_if(true), Exit::Unhealthy);
        assert_eq!(Exit::unhealthy_if(false), Exit::Success);
    }
}
