//! Fixtures shared by the test binaries. Each area's `main.rs` declares
//! this module once (`#[path = "../support/mod.rs"] mod support;`) and uses
//! what it needs:
//!
//! - the mock API's client and server helpers (`support::spawn`,
//!   `support::client`, …): the single copy in
//!   `crates/pacer-mock/tests/support/`, re-exported here;
//! - [`files`]: a store's files read at rest;
//! - [`rate`]: models of what a limiter band allows;
//! - [`redis`]: where Redis is, unique keys, a `redis-server` of a test's own;
//! - [`TIMING`]: the lock that runs timing-sensitive tests one at a time.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

pub mod files;
#[path = "../../crates/pacer-mock/tests/support/mod.rs"]
pub mod mock;
pub mod rate;
#[cfg(feature = "redis")]
pub mod redis;

pub use mock::*;

/// The timing-sensitive tests of a binary run one at a time: the server
/// counts arrival times, and tests running side by side on a small machine
/// delay each other's arrivals.
pub static TIMING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
