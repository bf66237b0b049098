//! HELPER-TODO
use std::time::Duration;
use super::Outcome;
use crate::config::TcpSpec;

pub async fn check(_spec: &TcpSpec, _timeout: Duration) -> Outcome {
    Outcome::fail("HELPER-TODO")
}
