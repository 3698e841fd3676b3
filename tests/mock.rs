//! Tests of the mock API server (feature `mock`): exact accounting, the
//! HTTP behaviour, naive versus paced clients, and the `pacer-mock` binary.

mod support;

#[path = "mock/accounting.rs"]
mod accounting;
#[path = "mock/cli.rs"]
mod cli;
#[path = "mock/pacing.rs"]
mod pacing;
#[path = "mock/server.rs"]
mod server;
