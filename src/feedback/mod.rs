//! Where feedback enters a stack: each attempt is classified once, right
//! above the client, and one writer applies the server's word to the
//! destination's limiter.
//!
//! - [`ClassifyLayer`] goes directly around the client. It classifies each
//!   attempt's result once — the [`Outcome`](crate::classify::Outcome) and
//!   the parsed [`RateLimitInfo`](crate::headers::RateLimitInfo) — and
//!   stamps the verdict on it: a [`Verdict`] in the response's extensions,
//!   or a [`ClassifiedError`] around the error. With a [`Steward`] it also
//!   applies a rate-limited verdict to the destination's limiter there,
//!   once per attempt.
//! - [`Stamped`] is the classifier for every layer above it (retry,
//!   adaptive rate and concurrency, dead letters): it reads the stamp, and
//!   classifies only what carries none (an error a layer above the client
//!   raised, such as a [`RateError`](crate::rate::RateError)). No layer
//!   parses the headers again.
//! - [`Steward`] is the one writer of a destination's limiter outside the
//!   limiter itself: the server's delays, the adaptive controller's pauses
//!   and rate changes all go through it, so one `max_pause` bounds every
//!   pause and one place decides whose word wins (pauses only extend; the
//!   learned margin hears each refusal once).
//!
//! The retry layer stamps the number of [`Attempts`] on the final
//! response, for the layers above it.
//!
//! The [`Pacer`](crate::Pacer) stack is built this way. A stack of your own
//! gets the same by putting `ClassifyLayer` at the bottom and
//! `Stamped(classifier)` in each layer above. [`Retry`](crate::retry::Retry)
//! takes the stamp off the error it returns, so callers see the client's
//! own error; without a retry layer above, unwrap it with
//! [`ClassifiedError::into_inner`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use tower::{Layer, Service, ServiceExt};
//! use tower_pacer::classify::{BoxErrors, Classification, Classify, HttpClassifier};
//! use tower_pacer::feedback::{ClassifyLayer, Stamped, Verdict};
//! use tower_pacer::BoxError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let client = tower::service_fn(|_: http::Request<()>| async {
//!     Ok::<_, BoxError>(http::Response::builder().status(429).header("retry-after", "2").body(())?)
//! });
//! let mut stack = ClassifyLayer::new(BoxErrors(HttpClassifier::default())).layer(client);
//! let result = stack.ready().await?.call(http::Request::new(())).await;
//! // The verdict travels up in the response…
//! let response = result.as_ref().map_err(|e| e.to_string())?;
//! assert!(response.extensions().get::<Verdict>().is_some());
//! // …and a `Stamped` classifier above reads it instead of the headers.
//! let above = Stamped(BoxErrors(HttpClassifier::default()));
//! let verdict: Classification = above.classify(&result);
//! assert!(verdict.is_retryable());
//! # Ok(()) }
//! ```

mod attempts;
pub mod future;
mod layer;
mod service;
mod stamp;
mod steward;

pub use attempts::Attempts;
pub use layer::ClassifyLayer;
pub use service::Classified;
pub use stamp::{ClassifiedError, Stamped, Verdict, unstamp};
pub use steward::Steward;
pub(crate) use steward::daily_quota_spent;
