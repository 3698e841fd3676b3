//! The adaptive send rate: [`AdaptiveRateLayer`] builds [`AdaptiveRate`],
//! which admits each attempt at the [`RateController`]'s current rate,
//! stamps it, and reports its verdict; the controller retunes one band of
//! the destination's limiter. See the [parent module](super) for where the
//! layer goes and why.
//!
//! ```
//! use tower::ServiceBuilder;
//! use tower_pacer::adaptive::rate::{AdaptiveRateLayer, RateController};
//! use tower_pacer::adaptive::Aimd;
//! use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
//!
//! # fn main() -> Result<(), tower_pacer::ConfigError> {
//! let limiter = Limiter::new(Quota::per_second(10)?);
//! let controller = RateController::builder(limiter.clone(), Aimd::builder(10.0).build()?).build()?;
//! let _stack = ServiceBuilder::new()
//!     .layer(AdaptiveRateLayer::new(controller))
//!     .layer(RateLimitLayer::new(limiter))
//!     .service(tower::service_fn(|_: http::Request<()>| async {
//!         Ok::<_, tower_pacer::BoxError>(http::Response::new(()))
//!     }));
//! # Ok(()) }
//! ```

mod controller;
pub mod future;
mod gate;
mod header_pacing;
mod layer;
mod service;

pub use controller::{RateController, RateControllerBuilder, RateStats, Stamp};
pub use layer::AdaptiveRateLayer;
pub use service::AdaptiveRate;
