//! Peers, as the one being watched: the status word this instance gives its peers
//! (`status`). Asking other peers is the `peer` check (`check::peer`); answering over HTTP
//! is `serve`.

pub mod status;

pub use status::{PeerStatus, Policy, Word};
