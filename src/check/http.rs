//! HELPER-TODO
use std::time::Duration;
use super::Outcome;
use crate::config::HttpSpec;

/// Shared HTTP clients for one run, keyed by the settings that need a client of their own.
#[derive(Default)]
pub struct Clients {}

pub async fn check(_spec: &HttpSpec, _timeout: Duration, _clients: &Clients) -> Outcome {
    Outcome::fail("HELPER-TODO")
}
