//! Retries that do what the server asked: `Retry-After`-aware, jittered,
//! budgeted, idempotency-aware, and in step with the destination's limiter.
//!
//! [`RetryLayer`] sits **above** the [`RateLimit`](crate::rate::RateLimit)
//! layer, so every attempt waits for its own slot like any other call.
//! Each attempt's result is classified ([`Classify`](crate::classify::Classify),
//! by default [`HttpClassifier`](crate::classify::HttpClassifier)); a
//! `RateLimited` or `Transient` outcome is retried when all of these hold,
//! checked in this order:
//!
//! 1. the request is idempotent, or was provably never sent
//!    ([`Classification::not_sent`](crate::classify::Classification::not_sent),
//!    e.g. connection refused); see [`HttpReplay`] for the HTTP rules
//!    (GET, HEAD, PUT, DELETE, OPTIONS, TRACE; POST and PATCH only with an
//!    `Idempotency-Key` header or after opting in);
//! 2. the request can be replayed ([`ReplayBody`]: buffered bodies yes,
//!    streaming bodies no, so those go out once);
//! 3. fewer than `max_attempts` attempts were made;
//! 4. it is not a `RateLimited` answer whose headers say the *daily* quota
//!    is at 0 with no delay given (HubSpot, Salesforce): a retry a backoff
//!    later would be refused too;
//! 5. the server's delay, if any, is at most `max_retry_after`; otherwise
//!    the call fails at once with [`RetryError::RetryAfterTooLong`], which
//!    carries the requested delay;
//! 6. the retry would start before the `deadline` (counted from the first
//!    send);
//! 7. the shared [`RetryBudget`] has a retry left.
//!
//! # The delay
//!
//! `delay = max(backoff, server delay + safety margin)`. The server's
//! delay (`Retry-After` in seconds, decimal seconds or any HTTP-date form,
//! or the quota reset when the quota is at 0; parsed by
//! [`headers`](crate::headers)) is a floor: jitter never shortens it. The
//! margin (50 ms by default) keeps the retry off the edge of the server's
//! window; it is not added to a zero delay (a date in the past), which
//! retries after the backoff alone. The backoff is exponential with full
//! jitter by default, decorrelated jitter as an option ([`Backoff`],
//! [`Jitter`]), from a seedable RNG: one stream per retried request, derived
//! from the layer's seed, so delays are reproducible.
//!
//! # One 429 pauses the whole destination
//!
//! Given the destination's [`Limiter`](crate::rate::Limiter)
//! ([`RetryLayerBuilder::limiter`]), a `RateLimited` result with a delay
//! calls [`Limiter::pause_until`](crate::rate::Limiter::pause_until)`(now +
//! delay + margin)`, whether or not this request is retried (the server's
//! word holds for everyone), for a delay of at most `max_retry_after` (a
//! hostile or mistaken header must not park every caller for a day). Every
//! caller then waits, and afterwards they go out at the limiter's pace, one
//! slot each, rather than as a herd.
//! Without a limiter only the retrying request waits.
//!
//! # What the caller gets
//!
//! - Success, a permanent failure, or a retryable one that may not or can
//!   no longer be retried (attempts, deadline or budget exhausted, not
//!   idempotent, not replayable): **the last attempt's result, unchanged**,
//!   as tower's own `Retry` does: the final 429 or 503 response as
//!   `Ok(response)`, a transport error as that (boxed) error. Why it
//!   stopped is in a `tracing` event.
//! - A server delay over `max_retry_after`: `Err(`[`RetryError`]`)`, the
//!   only error the layer makes itself.
//! - HTTP responses carry an [`Attempts`] extension (1 = not retried).
//!
//! Errors are [`BoxError`](crate::BoxError)s, as everywhere in tower
//! middleware; downcast to [`RetryError`] or to the inner error.
//!
//! # The budget
//!
//! The [`RetryBudget`] (default: 20 % of the last 10 s of requests, plus
//! 10 retries per second) is shared by every service the layer builds and
//! all their clones, so an API that fails for everyone gets at most that
//! much extra load, however many callers there are. It runs on
//! `tokio::time`, unlike tower's `TpsBudget` (see [`RetryBudget`] for
//! why).
//!
//! # Why not `tower::retry::Policy`
//!
//! A tower [`Policy`](tower::retry::Policy) could carry most of this, but:
//! - it can only hand back the inner service's own result or error type, so
//!   a typed "retry after too long" error would force every inner error
//!   type to be constructible from it; this layer returns
//!   [`BoxError`](crate::BoxError) like the rest of the crate;
//! - per-request state (attempt count, start time for the deadline,
//!   previous delay, RNG stream) would live in a policy cloned per request
//!   by tower's `Retry::call`; here the configuration stays in one `Arc`
//!   and the state lives in the named [`ResponseFuture`];
//! - the decision must see the classification, the limiter and the budget
//!   together, and record attempts on the final response: a small state
//!   machine of our own is simpler than threading all of it through
//!   `Policy`'s `retry`/`clone_request` pair.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
//! use tower_pacer::retry::{Attempts, RetryLayer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let limiter = Limiter::new(Quota::per_second(10)?);
//! let retry = RetryLayer::builder()
//!     .max_attempts(4)
//!     .limiter(limiter.clone()) // a 429 pauses every caller of this API
//!     .build()?;
//!
//! // An API that answers the first call with 429 and `Retry-After: 2`.
//! let calls = Arc::new(AtomicU32::new(0));
//! let api = service_fn(move |_: http::Request<String>| {
//!     let n = calls.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let response = if n == 0 {
//!             http::Response::builder().status(429).header("retry-after", "2").body(())
//!         } else {
//!             http::Response::builder().status(200).body(())
//!         };
//!         Ok::<_, tower_pacer::BoxError>(response?)
//!     }
//! });
//! let client = ServiceBuilder::new()
//!     .layer(retry)
//!     .layer(RateLimitLayer::new(limiter))
//!     .service(api);
//!
//! let start = tokio::time::Instant::now();
//! let request = http::Request::get("https://api.example.com/contacts").body(String::new())?;
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
//! // Retry-After (2 s) plus the 50 ms safety margin.
//! assert_eq!(start.elapsed(), Duration::from_millis(2050));
//! # Ok(()) }
//! ```

mod backoff;
mod body;
mod budget;
mod config;
mod error;
pub mod future;
mod layer;
mod policy;
mod replay;
mod service;

pub use backoff::{Backoff, Jitter};
pub use body::ReplayBody;
pub use budget::RetryBudget;
pub use config::{
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER, DEFAULT_SAFETY_MARGIN, RetryLayerBuilder,
};
pub use error::RetryError;
pub use future::ResponseFuture;
pub use layer::RetryLayer;
pub use replay::{Attempts, Cloned, HttpReplay, IDEMPOTENCY_KEY, Replay};
pub use service::Retry;
