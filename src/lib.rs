//! # tower-pacer
//!
//! Composable [`tower`] layers that make an *outbound* API client polite and
//! fast: calls are paced so the remote limit is not hit in the first place,
//! and when it is hit anyway, the client backs off the way the server asked.
//!
//! Rate limiting here is a client-side constraint, not an error handler: a
//! request waits for its slot *before* it goes out.
//!
//! Modules:
//! - [`rate`]: the limiter core (GCRA and exact sliding-window quotas, several
//!   bands at once, FIFO reservations, cooldown gate) and the
//!   [`RateLimit`](rate::RateLimit) layer over a shared limiter.
//! - [`concurrency`]: a shared, resizable concurrency cap.
//! - [`headers`]: rate-limit header parsing (`Retry-After`, the IETF
//!   `RateLimit` fields, vendor `X-RateLimit-*` forms, gRPC pushback) into
//!   one [`RateLimitInfo`](headers::RateLimitInfo).
//! - [`classify`]: what a response or error means (`Success`,
//!   `RateLimited`, `Transient`, `Permanent`), for HTTP and gRPC.
//! - [`retry`]: `Retry-After`-aware retries with jittered backoff, a shared
//!   retry budget and idempotency rules, pausing the destination's limiter
//!   on a 429.
//! - [`adaptive`]: an adaptive send rate (AIMD, fixed CUBIC, header-driven
//!   pacing) and an adaptive concurrency cap, tuned by the server's feedback.
//! - [`policy`] and [`presets`]: one destination's rules in one value (from
//!   code, or TOML/JSON with the `serde` feature), and ready policies for
//!   HubSpot, Salesforce, Mailchimp, GA4, GitHub, Stripe, Slack, Shopify.
//! - [`Pacer`]: the whole stack for one destination, in the right order,
//!   over shared state; [`destinations`] routes each request to its own.
//! - [`batch`]: callers send single items, the API gets one call per batch.
//! - [`dlq`]: dead letters — what finally failed, kept with its payload
//!   (credentials redacted) in memory or SQLite, and replayed later.
//! - [`stats`]: counters and the 429 ratio (and the `metrics` facade with the
//!   `metrics` feature); [`bulk`]: a queue of records through a stack, with
//!   progress, a graceful stop and a report.
//!
//! The mock API server the tests run against is its own crate,
//! [`pacer-mock`](https://docs.rs/pacer-mock); the command-line tool that
//! syncs a file of records to a real API is [`pacer`](https://docs.rs/pacer).
//!
//! ```
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::Pacer;
//! use tower_pacer::presets::{self, HubSpotTier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let pacer = Pacer::new(presets::hubspot(HubSpotTier::Starter))?;
//! let api = service_fn(|_: http::Request<String>| async {
//!     Ok::<_, tower_pacer::BoxError>(http::Response::new(String::from("{}")))
//! });
//! let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
//! client.oneshot(http::Request::new(String::new())).await?;
//! assert_eq!(pacer.stats().succeeded, 1);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// A boxed error, as tower uses for middleware errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

mod error;
mod macros;
#[cfg(feature = "redis")]
mod redis_connection;
pub use error::{ConfigError, ParseError};
pub use pacer::Pacer;

pub mod adaptive;
pub mod batch;
pub mod bulk;
pub mod classify;
pub mod concurrency;
pub mod destinations;
pub mod dlq;
pub mod duration;
pub mod feedback;
pub mod headers;
pub mod pacer;
pub mod policy;
pub mod presets;
pub mod rate;
pub mod redact;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
pub mod retry;
pub mod stats;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;

/// The README's examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
