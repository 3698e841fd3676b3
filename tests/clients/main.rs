//! The stack inside real clients over loopback sockets (real time): a
//! hyper-util client, reqwest-middleware, a tonic channel, and the axum
//! example's shared upstream quota. The timing-sensitive tests take
//! `support::TIMING`, so they run one at a time.

#[path = "../support/mod.rs"]
mod support;

mod axum_upstream;
mod hyper_client;
#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "tonic")]
mod tonic;
