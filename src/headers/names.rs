//! Names of the headers this module reads, as `http` constants (lower
//! case, as HTTP/2 sends them; `HeaderMap` lookups ignore case anyway).
//!
//! Public so that servers and mocks can emit exactly what the parsers read.

use http::header::HeaderName;

pub use http::header::{DATE, RETRY_AFTER};

macro_rules! names {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $($(#[$doc])* pub const $name: HeaderName = HeaderName::from_static($value);)*
    };
}

names! {
    /// IETF draft -07..-10 `RateLimit` (current quota state).
    RATELIMIT = "ratelimit";
    /// IETF draft -05..-10 `RateLimit-Policy` (the quotas enforced).
    RATELIMIT_POLICY = "ratelimit-policy";
    /// IETF draft -01..-06 `RateLimit-Limit`.
    RATELIMIT_LIMIT = "ratelimit-limit";
    /// IETF draft -01..-06 `RateLimit-Remaining`.
    RATELIMIT_REMAINING = "ratelimit-remaining";
    /// IETF draft -01..-06 `RateLimit-Reset` (delta seconds).
    RATELIMIT_RESET = "ratelimit-reset";
    /// GitHub, Discord and many others: quota size.
    X_RATELIMIT_LIMIT = "x-ratelimit-limit";
    /// GitHub, Discord and many others: quota left.
    X_RATELIMIT_REMAINING = "x-ratelimit-remaining";
    /// GitHub, Discord and many others: reset, epoch or delta seconds.
    X_RATELIMIT_RESET = "x-ratelimit-reset";
    /// Discord: fractional seconds until reset.
    X_RATELIMIT_RESET_AFTER = "x-ratelimit-reset-after";
    /// GitHub: the bucket the request counted against (`core`, `search`…).
    X_RATELIMIT_RESOURCE = "x-ratelimit-resource";
    /// Discord: opaque id of the shared bucket.
    X_RATELIMIT_BUCKET = "x-ratelimit-bucket";
    /// X (Twitter): quota size.
    X_RATE_LIMIT_LIMIT = "x-rate-limit-limit";
    /// X (Twitter): quota left.
    X_RATE_LIMIT_REMAINING = "x-rate-limit-remaining";
    /// X (Twitter): reset, epoch seconds.
    X_RATE_LIMIT_RESET = "x-rate-limit-reset";
    /// HubSpot: quota per interval.
    X_HUBSPOT_RATELIMIT_MAX = "x-hubspot-ratelimit-max";
    /// HubSpot: quota left in the interval.
    X_HUBSPOT_RATELIMIT_REMAINING = "x-hubspot-ratelimit-remaining";
    /// HubSpot: the interval, in milliseconds.
    X_HUBSPOT_RATELIMIT_INTERVAL_MILLISECONDS = "x-hubspot-ratelimit-interval-milliseconds";
    /// HubSpot: daily quota (not sent for OAuth requests).
    X_HUBSPOT_RATELIMIT_DAILY = "x-hubspot-ratelimit-daily";
    /// HubSpot: daily quota left.
    X_HUBSPOT_RATELIMIT_DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining";
    /// Shopify REST: `used/limit` of the leaky bucket.
    X_SHOPIFY_SHOP_API_CALL_LIMIT = "x-shopify-shop-api-call-limit";
    /// Salesforce: `api-usage=used/limit` (daily org usage) and friends.
    SFORCE_LIMIT_INFO = "sforce-limit-info";
    /// Stripe: `true` / `false`, whether a retry can succeed.
    STRIPE_SHOULD_RETRY = "stripe-should-retry";
    /// gRPC: status code, in the headers of a trailers-only response.
    GRPC_STATUS = "grpc-status";
    /// gRPC (gRFC A6): server pushback in milliseconds; negative = don't retry.
    GRPC_RETRY_PUSHBACK_MS = "grpc-retry-pushback-ms";
}

/// The header that makes a non-idempotent request safe to repeat (Stripe,
/// PayPal, the IETF draft): retries send a POST again only with it, and
/// batch calls carry one. Also [`retry::IDEMPOTENCY_KEY`](crate::retry::IDEMPOTENCY_KEY).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Where each preset's API takes its credential: the header (or, for
/// GA4's Measurement Protocol, the query parameter) by preset name.
/// [`Redaction::default`](crate::redact::Redaction) hides every one of
/// them, so a dead letter or a log line of these APIs never shows a key.
/// Also [`presets::AUTH_HEADERS`](crate::presets::AUTH_HEADERS).
///
/// ```
/// use tower_pacer::headers::names::AUTH_HEADERS;
/// use tower_pacer::redact::Redaction;
///
/// let redaction = Redaction::default();
/// assert!(AUTH_HEADERS.iter().all(|(_, name)| redaction.hides_name(name)));
/// ```
pub const AUTH_HEADERS: &[(&str, &str)] = &[
    ("hubspot", "authorization"),
    ("salesforce", "authorization"),
    ("mailchimp", "authorization"),
    ("ga4", "api_secret"),
    ("github", "authorization"),
    ("stripe", "authorization"),
    ("slack", "authorization"),
    ("shopify", "x-shopify-access-token"),
];
