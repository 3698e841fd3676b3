//! Client-side rate limiting: the limiter core and the [`RateLimit`] layer.
//!
//! A [`Limiter`] holds one or more [`Quota`] bands — a GCRA rate with burst,
//! or an exact sliding window — and hands out *slots*: each call reserves
//! the earliest instant at which every band has room, and sleeps until then.
//! Waiters are served in order at distinct instants (no thundering herd), a
//! slot beyond `max_wait` is a typed error instead of a silent long sleep,
//! and [`Limiter::pause_until`] holds the whole destination back after a
//! 429. All waiting goes through `tokio::time`, so tests run in paused time.
//!
//! [`RateLimitLayer`] puts a limiter in front of any service. Unlike tower's
//! own `RateLimit`, its services are `Clone` and every clone shares the one
//! limiter, so no `Buffer` is needed.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! tokio::time::pause();
//! // HubSpot: 100 calls in any 10 s, and 250 000 a day.
//! let limiter = Limiter::builder()
//!     .quota(Quota::window(100, Duration::from_secs(10))?)
//!     .quota(Quota::window(250_000, Duration::from_secs(86_400))?)
//!     .max_wait(Duration::from_secs(60))
//!     .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(limiter.clone()))
//!     .service(service_fn(|n: u32| async move { Ok::<_, tower_pacer::BoxError>(n) }));
//!
//! let start = tokio::time::Instant::now();
//! for n in 0..150 {
//!     client.clone().oneshot(n).await?;
//! }
//! // The last 50 calls waited for the first 50 to leave the window.
//! assert!(start.elapsed() >= Duration::from_secs(10));
//! # Ok(()) }
//! ```

mod builder;
mod clock;
mod cost;
pub mod future;
mod gcra;
mod headroom;
mod lateness;
mod layer;
mod learn;
mod limiter;
mod observer;
mod precise;
mod quota;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod service;
mod snapshot;
mod window;

#[cfg(feature = "redis")]
pub use self::redis::{Fallback, RedisLimiter, RedisLimiterBuilder};
pub use crate::error::RateError;
pub use builder::LimiterBuilder;
pub use clock::LimiterClock;
pub use cost::{Cost, UnitCost};
pub use headroom::Headroom;
pub use layer::RateLimitLayer;
pub use learn::{LEARN_FLOOR, LEARN_HOLD_SPANS, LEARN_MIN_HOLD, LEARN_RELAX, LEARN_STEP};
pub use limiter::{Limiter, Reservation};
pub use observer::LimiterObserver;
pub use quota::{BandRole, MAX_PERIOD, Quota, QuotaKind};
pub use service::RateLimit;
pub use snapshot::{BandSnapshot, LearnedBand, LimiterSnapshot};
pub use window::{BUCKETS, EXACT_LIMIT, WINDOW_GUARD};
