//! The limiter: its core through the public API, the `RateLimit` layer,
//! property tests over arrivals and interleavings (in paused time), and the
//! lock-free GCRA path under contention from OS threads.

#[path = "../support/mod.rs"]
mod support;

mod gcra_stress;
mod interleavings;
mod layer;
mod limiter;
mod properties;
