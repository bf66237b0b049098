//! HELPER-TODO
use super::{Alert, Delivered, DeliveryError, SendOptions};
use crate::config::Email;

pub async fn send(_email: &Email, _alert: &Alert, _opts: SendOptions) -> Result<Delivered, DeliveryError> {
    Err(DeliveryError::Transient("HELPER-TODO".into()))
}
