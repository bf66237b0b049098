//! HELPER-TODO
use super::{Alert, DeliveryError};
use crate::config::CommandChannel;

pub async fn send(_c: &CommandChannel, _alert: &Alert) -> Result<(), DeliveryError> {
    Err(DeliveryError::Transient("HELPER-TODO".into()))
}
