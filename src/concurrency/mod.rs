//! A concurrency cap shared by every clone, resizable at run time.
//!
//! Some APIs limit simultaneous requests rather than (or as well as) their
//! rate: Mailchimp allows 10 connections per key, GA4 10 concurrent
//! requests, Salesforce 25 long-running calls. A [`ConcurrencyLimiter`] is
//! that cap; [`ConcurrencyLimitLayer`] applies it. Every service built from
//! one limiter shares it, and [`ConcurrencyLimiter::resize`] changes it
//! while calls are in flight (adaptive concurrency drives that).
//!
//! ```
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::concurrency::{ConcurrencyLimitLayer, ConcurrencyLimiter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let cap = ConcurrencyLimiter::new(10)?;
//! let client = ServiceBuilder::new()
//!     .layer(ConcurrencyLimitLayer::new(cap.clone()))
//!     .service(service_fn(|n: u32| async move { Ok::<_, tower_pacer::BoxError>(n * 2) }));
//! assert_eq!(client.oneshot(21).await?, 42);
//! assert_eq!(cap.in_flight(), 0);
//! # Ok(()) }
//! ```

mod body;
pub mod future;
mod layer;
mod limiter;
mod permit_slot;
mod service;

pub use body::PermitBody;
pub use layer::{BodyConcurrencyLimitLayer, ConcurrencyLimitLayer};
pub use limiter::{ConcurrencyLimiter, ConcurrencyPermit};
pub(crate) use permit_slot::PermitSlot;
pub use service::{BodyConcurrencyLimit, ConcurrencyLimit, OnBodyEnd, OnResponse};
