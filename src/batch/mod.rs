//! Batching: callers send single items, the API gets one call per batch.
//!
//! Many APIs take records in batches and count a batch as one call:
//! HubSpot's batch endpoints take 100 records for one call of its 100 per
//! 10 s — 100 times the throughput of single calls. [`Batch`] lets callers
//! keep sending one item at a time: a worker task gathers items and calls
//! the inner service once per batch, when the batch has `max_items`, or
//! weighs `max_weight`, or its oldest item has waited `max_latency`
//! ([`BatchConfig`]). A [`BatchCodec`] builds the batch request and splits
//! the response; [`JsonBatch`] (feature `serde`) speaks the common
//! `{"inputs":[…]}` → `{"results":[…],"errors":[…]}` shape.
//!
//! Every caller gets exactly its own item's result: its success, its own
//! per-item error ([`BatchError::Item`]), the batch call's error if the
//! whole call failed ([`BatchError::Batch`], shared by the batch), or
//! [`BatchError::Missing`] if the response forgot it — never nothing, never
//! twice. The queue is bounded (callers wait in `poll_ready`); a caller
//! that drops its future before its batch is sent is left out of it; when
//! every handle is dropped the worker sends what is queued, then stops.
//!
//! Put the batch layer *above* a [`Pacer`](crate::Pacer) stack: each batch
//! is then one request to the limiter, retries and dead letters — 100
//! items, one slot of the quota.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::batch::{BatchCodec, BatchConfig, BatchError, BatchLayer};
//!
//! /// Doubles numbers, a batch at a time.
//! struct Doubler;
//! impl BatchCodec<u32> for Doubler {
//!     type Request = Vec<u32>;
//!     type Response = Vec<u32>;
//!     type Output = u32;
//!     type Decode = std::future::Ready<Result<Vec<Result<u32, BatchError>>, tower_pacer::BoxError>>;
//!     fn encode(&self, items: Vec<u32>) -> Result<Vec<u32>, tower_pacer::BoxError> { Ok(items) }
//!     fn decode(&self, response: Vec<u32>, _: usize) -> Self::Decode {
//!         std::future::ready(Ok(response.into_iter().map(Ok).collect()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let api = service_fn(|batch: Vec<u32>| async move {
//!     Ok::<_, tower_pacer::BoxError>(batch.iter().map(|n| n * 2).collect::<Vec<_>>())
//! });
//! let config = BatchConfig::new(100, Duration::from_millis(10))?;
//! let client = ServiceBuilder::new().layer(BatchLayer::new(Doubler, config)).service(api);
//! assert_eq!(client.oneshot(21).await?, 42);
//! # Ok(()) }
//! ```

mod codec;
mod config;
mod error;
pub mod future;
#[cfg(feature = "serde")]
mod json;
mod layer;
mod service;
mod worker;

pub use codec::BatchCodec;
pub use config::BatchConfig;
pub use error::{BatchError, BatchStatusError};
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use json::JsonBatch;
pub use layer::BatchLayer;
pub use service::Batch;
