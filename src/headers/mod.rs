//! Rate-limit header parsing: `Retry-After`, the IETF `RateLimit` fields and
//! the common vendor forms, lenient on input and strict on output.
//!
//! [`RateLimitInfo::from_headers`] reads every dialect of a response at
//! once; the individual parsers are public too (and fuzzed). All of them
//! are pure: the wall clock is a parameter, nothing panics on any input,
//! arithmetic is checked, and:
//!
//! - surrounding whitespace is trimmed;
//! - negative, garbage and values too large for a `u64` are `None`
//!   (treated as absent, so the caller falls back to its own backoff) —
//!   except `grpc-retry-pushback-ms`, where gRFC A6 says garbage means
//!   "do not retry";
//! - a representable but absurd delay is clamped to [`MAX_DELAY`], so the
//!   retry layer still sees "the server asked for longer than I will wait";
//! - a date in the past is `Duration::ZERO`.
//!
//! | Dialect | Headers | Parser |
//! |---|---|---|
//! | RFC 9110 | `Retry-After` (seconds, decimal seconds, 3 HTTP-date forms) | [`parse_retry_after`] |
//! | IETF draft -08..-10 | `RateLimit: "p";r=..;t=..`, `RateLimit-Policy: "p";q=..;w=..` | [`parse_ratelimit`], [`parse_ratelimit_policy`] |
//! | IETF draft -07 | `RateLimit: limit=.., remaining=.., reset=..`, `RateLimit-Policy: 10;w=1` | same |
//! | IETF draft -01..-06 | `RateLimit-Limit/-Remaining/-Reset` | [`parse_count`], [`parse_seconds`] |
//! | GitHub, X, Discord… | `X-RateLimit-Limit/-Remaining/-Reset`, `X-Rate-Limit-*` | [`parse_count`], [`parse_reset`] |
//! | Discord | `X-RateLimit-Reset-After: 64.57` | [`parse_seconds`] |
//! | HubSpot | `X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds/-Daily/-Daily-Remaining` | [`parse_count`], [`parse_millis`] |
//! | Shopify | `X-Shopify-Shop-Api-Call-Limit: 32/40` | [`parse_usage`] |
//! | Salesforce | `Sforce-Limit-Info: api-usage=n/m` | [`parse_sforce_limit_info`] |
//! | Stripe | `Stripe-Should-Retry: true/false` | [`parse_bool`] |
//! | gRPC | `grpc-retry-pushback-ms` | [`parse_grpc_pushback`] |
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use http::HeaderMap;
//! use tower_pacer::headers::RateLimitInfo;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ratelimit-policy", r#""burst";q=100;w=10"#.parse().unwrap());
//! headers.insert("ratelimit", r#""burst";r=0;t=4"#.parse().unwrap());
//! headers.insert("retry-after", "5".parse().unwrap());
//!
//! let info = RateLimitInfo::from_headers(&headers, SystemTime::now());
//! assert_eq!(info.limit, Some(100));
//! assert_eq!(info.window, Some(Duration::from_secs(10)));
//! assert_eq!(info.remaining, Some(0));
//! assert_eq!(info.reset_after, Some(Duration::from_secs(4)));
//! // Retry-After takes precedence over the reset, as the IETF draft says.
//! assert_eq!(info.wait_hint(), Some(Duration::from_secs(5)));
//! ```

use std::time::Duration;

mod grpc;
mod ietf;
mod info;
pub mod names;
mod num;
mod retry_after;
mod vendor;

pub use grpc::{GrpcPushback, parse_grpc_pushback};
pub use ietf::{MAX_MEMBERS, QuotaPolicy, QuotaStatus, parse_ratelimit, parse_ratelimit_policy};
pub use info::RateLimitInfo;
pub use num::{parse_count, parse_millis, parse_seconds};
pub use retry_after::{parse_http_date, parse_retry_after};
pub use vendor::{Usage, parse_bool, parse_reset, parse_sforce_limit_info, parse_usage};

/// The longest delay any parser here returns: 24 hours.
///
/// Every documented window is at most a day (daily quotas at HubSpot,
/// Salesforce, GA4), so anything longer is a bug or an attack
/// (go-retryablehttp users have seen "retrying in 484289h"). Clamping
/// rather than dropping keeps the signal "wait longer than you are willing
/// to" for the retry layer's own `max_retry_after`, which fails fast.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Values of `X-RateLimit-Reset` at or above this (10⁹ s) are Unix epoch
/// seconds; below it, delta seconds.
///
/// The header has no standard: GitHub, X and Discord send an epoch, others a
/// delta. The two ranges cannot be confused in practice: 10⁹ s of delta is
/// almost 32 years, far beyond any window (and beyond [`MAX_DELAY`]
/// anyway), while 10⁹ as an epoch is 2001-09-09, so every reset a live
/// server sends today is well above it. This is a heuristic, not a
/// standard; every IETF generation uses deltas and is read as such.
pub const EPOCH_THRESHOLD: u64 = 1_000_000_000;
