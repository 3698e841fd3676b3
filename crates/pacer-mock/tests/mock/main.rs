//! Tests of the mock API server: exact accounting, the HTTP behaviour, and
//! the `pacer-mock` binary.

#[path = "../support/mod.rs"]
mod support;

mod accounting;
mod cli;
mod server;
