//! checker's integration tests: one binary, one module per area, one `support` for the
//! fixtures they share (the temp dir and its `checker` runs, the real servers, the test
//! mail servers started once per run).
//!
//! Each `tests/*.rs` file would be a crate of its own linking the whole library again;
//! one binary builds and links once (as cargo's own `tests/testsuite/`). Run one area
//! with `cargo test --test it engine::`, one test by name as usual.

mod support;

mod channels;
mod checks;
mod cli;
mod digest;
mod engine;
mod history;
mod logging;
mod mail;
mod metrics;
mod package;
mod peers;
mod pushed;
mod quiet;
mod quorum;
mod selfcheck;
mod state;
mod statuspage;
