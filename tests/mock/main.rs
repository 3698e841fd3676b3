//! The retry and batch layers against `pacer-mock` over loopback (real
//! time, time-scaled windows). The timing-sensitive files with throughput
//! figures have binaries of their own (`pacer_mock`, `mock_pacing`).

#[path = "../support/mod.rs"]
mod support;

// `JsonBatch` needs the `serde` feature.
#[cfg(feature = "serde")]
mod batch_mock;
mod retry_mock;
