//! The adaptive concurrency cap: [`AdaptiveConcurrencyLayer`] builds
//! [`AdaptiveConcurrency`], a concurrency cap whose size the
//! [`ConcurrencyController`] tunes from each call's round trip and verdict
//! (back-pressure such as 429 or 503 shrinks it). Waits for a permit in
//! `poll_ready`; reports in its response future, before the permit goes back.
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_pacer::adaptive::concurrency::{AdaptiveConcurrencyLayer, ConcurrencyController};
//! use tower_pacer::concurrency::ConcurrencyLimiter;
//!
//! # fn main() -> Result<(), tower_pacer::ConfigError> {
//! let cap = ConcurrencyLimiter::new(4)?;
//! let controller = ConcurrencyController::builder(cap.clone()).initial(4).max(64).build()?;
//! let _stack = ServiceBuilder::new()
//!     .layer(AdaptiveConcurrencyLayer::new(controller.clone()))
//!     .service(tower::service_fn(|_: http::Request<()>| async {
//!         Ok::<_, std::io::Error>(http::Response::new(()))
//!     }));
//! assert_eq!(cap.limit(), 4);
//! # Ok(()) }
//! ```

mod controller;
pub mod future;
mod layer;
mod service;

pub use controller::{ConcurrencyController, ConcurrencyControllerBuilder, ConcurrencyStats};
pub use layer::AdaptiveConcurrencyLayer;
pub use service::AdaptiveConcurrency;
