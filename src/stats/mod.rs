//! In-process statistics: what a destination's stack did, as a snapshot.
//!
//! [`Stats`] is a set of shared counters. [`RecordRequestsLayer`] counts
//! requests and their final outcome at the top of a stack;
//! [`RecordAttemptsLayer`] counts every attempt that reaches the inner
//! service and how the server answered (429s, 5xx, transport errors), at
//! the bottom. [`Pacer`](crate::Pacer) places both. The snapshot's
//! [`rate_limited_ratio`](StatsSnapshot::rate_limited_ratio) is the figure
//! to alert on: above 5 % of attempts, pacing is not doing its job. With
//! the `metrics` feature the same events go to the `metrics` facade too
//! (see the `metrics` submodule for the names).
//!
//! Both layers also open a `tracing` span (DEBUG) per call:
//! `pacer_request{destination, status, attempts, error}` at the top and
//! `pacer_attempt{status, error}` for each attempt, its child. The layers'
//! own events — a wait for a slot (TRACE), a retry and why, a pause after
//! a 429, a dead letter stored, a new adaptive rate (DEBUG) — happen
//! inside them, so a subscriber shows which request each belongs to.
//!
//! ```
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::stats::{RecordAttemptsLayer, RecordRequestsLayer, Stats};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let stats = Stats::new();
//! let api = service_fn(|_: ()| async {
//!     Ok::<_, tower_pacer::BoxError>(http::Response::builder().status(429).body(())?)
//! });
//! let client = ServiceBuilder::new()
//!     .layer(RecordRequestsLayer::new(stats.clone()))
//!     .layer(RecordAttemptsLayer::new(stats.clone()))
//!     .service(api);
//! client.oneshot(()).await?;
//! let snapshot = stats.snapshot();
//! assert_eq!((snapshot.requests, snapshot.failed, snapshot.rate_limited), (1, 1, 1));
//! assert_eq!(snapshot.rate_limited_ratio(), 1.0);
//! # Ok(()) }
//! ```

mod counters;
mod facade;
pub mod future;
mod layer;
mod level;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod service;

pub use counters::{Stats, StatsSnapshot};
pub(crate) use facade::{EventCounter, ValueGauge};
pub use future::ResponseFuture;
pub use layer::{RecordAttemptsLayer, RecordLayer, RecordRequestsLayer};
pub use level::{
    EachAttempt, EachGrpcAttempt, EachGrpcRequest, EachRequest, Level, grpc_http_status,
};
pub use service::{Record, RecordAttempts, RecordRequests};
