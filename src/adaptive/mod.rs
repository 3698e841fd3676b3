//! Adaptive pacing for limits nobody documented: a send rate and a
//! concurrency cap that follow the server's feedback.
//!
//! Static limiters calibrated to the documented limit leave throughput on
//! the table, and many APIs document nothing. Here the client finds the
//! limit itself.
//!
//! # Adaptive rate
//!
//! A [`RateController`] retunes one rate band of a shared
//! [`Limiter`](crate::rate::Limiter) (`set_quota`) from the outcome of
//! every attempt, following an [`AdaptiveStrategy`]:
//!
//! - [`Aimd`]: the article's rule, ×0.5 on a 429 and ×1.1 after 10
//!   successes, between bounds;
//! - [`Cubic`]: the AWS SDKs' adaptive mode (measured send rate, β 0.7,
//!   scale 0.4, unlimited until the first throttle), with its fixes:
//!   one decrease per epoch, no growth while app-limited;
//!   [`Cubic::aws_as_implemented`] is the unfixed baseline.
//!
//! The controller gives the limiter a burst of only 100 ms of the rate
//! ([`burst_window`](RateControllerBuilder::burst_window)), so that after a
//! decrease the server's bucket refills instead of being drained again.
//! With [`header_pacing`](RateControllerBuilder::header_pacing), a
//! response saying `r` calls remain for `t` seconds (IETF `RateLimit`,
//! `X-RateLimit-*`, HubSpot… as parsed by [`headers`](crate::headers))
//! caps the rate at `r ÷ t`, counting the calls already sent since, and
//! pauses the limiter until `t` when nothing is left.
//!
//! [`AdaptiveRateLayer`] feeds the controller. Where it goes:
//!
//! ```text
//! Retry               every attempt, retries included, goes through the
//!  └ AdaptiveRate     controller, which sees what the server sees
//!    └ RateLimit      waits for its slot at the rate the controller set
//!      └ AdaptiveConcurrency (optional) measures the server's RTT
//!        └ inner service
//! ```
//!
//! The layer admits callers at the controller's current rate before they
//! reserve a slot (an *admission gate*, in `poll_ready`): the limiter's
//! slots are fixed once reserved, so callers that reserved while the rate
//! was low would otherwise keep far-away slots after it rises (with 64
//! callers at 0.5/s, two minutes' worth). The limiter stays the authority.
//!
//! *Above* the rate-limit layer, so an attempt is stamped when it asks for
//! its slot. That is what makes "one decrease per epoch" exact: after a
//! decrease, callers already queued keep the slots they were given at the
//! old pace, and their 429s, which are the same congestion event, carry
//! stamps from before the decrease and are ignored; a stamp taken at send
//! time (below the limiter) would make each of them a new event. It also
//! makes header pacing count the queued calls against what the server
//! says is left.
//!
//! *Pausing*: on a 429 with `Retry-After`, the
//! [`RetryLayer`](crate::retry::RetryLayer) given the same limiter already
//! pauses it (with its safety margin), so the controller does not by
//! default; turn on
//! [`pause_on_throttle`](RateControllerBuilder::pause_on_throttle) in a
//! stack without retries. Pauses only ever extend (`pause_until` keeps the
//! later instant), so the two never add up. The controller does pause by
//! itself on a *successful* response whose headers say no quota is left:
//! the retry layer never sees that one.
//!
//! # Adaptive concurrency
//!
//! A [`ConcurrencyController`] resizes a shared
//! [`ConcurrencyLimiter`](crate::concurrency::ConcurrencyLimiter) from
//! round-trip times and back-pressure (429, 503…), as Vector's adaptive
//! request concurrency does; [`AdaptiveConcurrencyLayer`] applies the cap
//! and feeds the controller. For APIs that limit simultaneous requests;
//! against a rate limit the adaptive rate is the main control.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::adaptive::{AdaptiveRateLayer, Cubic, Rate, RateController};
//! use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let limiter = Limiter::new(Quota::per_second(1)?); // the controller sets the rate
//! let controller = RateController::builder(limiter.clone(), Cubic::builder().build()?)
//!     .header_pacing(true)
//!     .build()?;
//! assert_eq!(controller.rate(), Rate::Unlimited); // until the first 429
//!
//! // An API with 10 calls left in its 5 s window.
//! let api = service_fn(|_: http::Request<()>| async {
//!     let response = http::Response::builder()
//!         .header("ratelimit", "\"default\";r=10;t=5")
//!         .body(())?;
//!     Ok::<_, tower_pacer::BoxError>(response)
//! });
//! let client = ServiceBuilder::new()
//!     .layer(AdaptiveRateLayer::new(controller.clone()))
//!     .layer(RateLimitLayer::new(limiter))
//!     .service(api);
//! client.oneshot(http::Request::new(())).await?;
//! // 10 calls over 5 s: paced at 2 per second.
//! assert_eq!(controller.rate(), Rate::PerSecond(2.0));
//! # Ok(()) }
//! ```

mod aimd;
mod check;
pub mod concurrency;
mod cubic;
mod ewma;
pub mod rate;
mod send_rate;
mod strategy;

pub use aimd::{Aimd, AimdBuilder};
pub use concurrency::{
    AdaptiveConcurrency, AdaptiveConcurrencyLayer, ConcurrencyController,
    ConcurrencyControllerBuilder, ConcurrencyStats,
};
pub use cubic::{Cubic, CubicBuilder};
pub use rate::{
    AdaptiveRate, AdaptiveRateLayer, RateController, RateControllerBuilder, RateStats, Stamp,
};
pub use strategy::{AdaptiveStrategy, Rate};

/// The response futures of both layers, under the names they had before
/// each feature got its own module.
pub mod future {
    pub use super::concurrency::future::ResponseFuture as ConcurrencyResponseFuture;
    pub use super::rate::future::ResponseFuture;
}
