//! HELPER-TODO
use std::time::Duration;
use super::Outcome;
use crate::config::CommandSpec;

pub async fn check(_spec: &CommandSpec, _timeout: Duration) -> Outcome {
    Outcome::fail("HELPER-TODO")
}
