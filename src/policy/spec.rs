//! The policy's fields, as a file spells them.

use std::time::Duration;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

use crate::retry::{DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_AFTER, DEFAULT_SAFETY_MARGIN};

/// How to talk to one API: its quotas, concurrency, retries, classification
/// and batching, in one value.
///
/// Build it in code (start from [`Policy::default`] or a
/// [preset](crate::presets)) or read it from a file with `serde` (feature
/// `serde`); [`validate`](Self::validate) checks every field and names the
/// one at fault (`retry.max_attempts: must be ≥ 1`).
/// [`Pacer::new`](crate::Pacer::new) turns it into a stack.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct Policy {
    /// A label for this destination in statistics and logs.
    pub name: String,
    /// The quota bands; a call needs room in every one. Empty: no quota,
    /// only the cooldown gate that a 429 closes.
    pub quotas: Vec<QuotaSpec>,
    /// The most calls in flight at once (`None`: no cap).
    pub concurrency: Option<usize>,
    /// A slot further away than this fails at once with
    /// `RateError::QuotaExhausted` (`None`: wait as long as it takes).
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde::option"))]
    pub max_wait: Option<Duration>,
    /// A safety margin under the quotas.
    pub headroom: HeadroomSpec,
    /// Retries.
    pub retry: RetrySpec,
    /// How responses are classified.
    pub classify: ClassifySpec,
    /// Batching, for APIs with batch endpoints (see [`crate::batch`]).
    pub batch: Option<BatchSpec>,
    /// An adaptive send rate on top of the quotas (`[adaptive_rate]` in a
    /// file): for limits nobody documented; see [`crate::adaptive`].
    pub adaptive_rate: Option<AdaptiveRateSpec>,
    /// An adaptive concurrency cap, in place of `concurrency`
    /// (`[adaptive_concurrency]`); see [`crate::adaptive`].
    pub adaptive_concurrency: Option<AdaptiveConcurrencySpec>,
    /// Where the quotas are counted: in this process (the default), or in
    /// Redis, shared by every process using the same key (`[backend]`).
    pub backend: BackendSpec,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            quotas: Vec::new(),
            concurrency: None,
            max_wait: None,
            headroom: HeadroomSpec::default(),
            retry: RetrySpec::default(),
            classify: ClassifySpec::default(),
            batch: None,
            adaptive_rate: None,
            adaptive_concurrency: None,
            backend: BackendSpec::Local,
        }
    }
}

/// One quota band: either a window (`limit` + `window`) or a rate (`rate`
/// + `per`, optionally `burst`).
///
/// In TOML: `{ limit = 100, window = "10s" }` or
/// `{ rate = 2, per = "1s", burst = 40 }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct QuotaSpec {
    /// Window quota: calls allowed in any interval of `window`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub limit: Option<u64>,
    /// Window quota: the window's length.
    #[cfg_attr(
        feature = "serde",
        serde(
            with = "crate::duration::serde::option",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub window: Option<Duration>,
    /// Rate quota: calls per `per`.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub rate: Option<u64>,
    /// Rate quota: the period of `rate`.
    #[cfg_attr(
        feature = "serde",
        serde(
            with = "crate::duration::serde::option",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub per: Option<Duration>,
    /// Rate quota: the largest burst (default 1: evenly spaced).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub burst: Option<u64>,
}

impl QuotaSpec {
    /// At most `limit` calls in any interval of `window`.
    pub fn window(limit: u64, window: Duration) -> Self {
        Self {
            limit: Some(limit),
            window: Some(window),
            ..Self::default()
        }
    }

    /// `rate` calls per `per`, in bursts of up to `burst`.
    pub fn rate(rate: u64, per: Duration, burst: u64) -> Self {
        Self {
            rate: Some(rate),
            per: Some(per),
            burst: Some(burst),
            ..Self::default()
        }
    }
}

/// A safety margin under the quotas; see [`Headroom`](crate::rate::Headroom).
///
/// It narrows the documented quotas only: an `adaptive_rate` band runs at the
/// rate its controller reports, which is already what the server accepted.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct HeadroomSpec {
    /// The share of each quota to use, in `(0, 1]`.
    pub fraction: f64,
    /// Added to every window and period.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub margin: Duration,
    /// Narrow the binding band a step on each refusal the books did not
    /// expect, then relax slowly (default `true`); see
    /// [`Limiter::note_refusal`](crate::rate::Limiter::note_refusal).
    /// Ignored with an `adaptive_rate`, which steers its band itself.
    pub learn: bool,
}

impl Default for HeadroomSpec {
    fn default() -> Self {
        Self {
            fraction: 1.0,
            margin: Duration::ZERO,
            learn: true,
        }
    }
}

/// Retries; see [`RetryLayer`](crate::retry::RetryLayer).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct RetrySpec {
    /// Attempts per request, the first included (1 = no retries).
    pub max_attempts: u32,
    /// The first backoff step.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub base: Duration,
    /// The largest backoff step.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub cap: Duration,
    /// How backoff is randomised.
    pub jitter: JitterSpec,
    /// No retry starts later than this after the first call.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde::option"))]
    pub deadline: Option<Duration>,
    /// A server asking for a longer wait fails the call at once.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub max_retry_after: Duration,
    /// Added to a server's `Retry-After`.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub safety_margin: Duration,
    /// The retry budget (`None`: unlimited — not advised).
    pub budget: Option<BudgetSpec>,
    /// Retry POST and PATCH even without an `Idempotency-Key`.
    pub retry_unsafe_methods: bool,
    /// Retry a refusal (429, or a 503/403 read as a rate limit) whatever
    /// the method: the server refused it before processing it (default
    /// `true`). Off for an API known to process requests before refusing.
    pub retry_refused: bool,
    /// Seed of the jitter, for reproducible runs.
    pub seed: Option<u64>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
            jitter: JitterSpec::Full,
            deadline: None,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            safety_margin: DEFAULT_SAFETY_MARGIN,
            budget: Some(BudgetSpec::default()),
            retry_unsafe_methods: false,
            retry_refused: true,
            seed: None,
        }
    }
}

/// How backoff delays are randomised; see [`Jitter`](crate::retry::Jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum JitterSpec {
    /// Uniform in `[0, min(cap, base·2ⁿ)]`.
    #[default]
    Full,
    /// `min(cap, uniform(base, previous·3))`.
    Decorrelated,
    /// No randomness: `min(cap, base·2ⁿ)`.
    None,
}

/// A retry budget; see [`RetryBudget`](crate::retry::RetryBudget).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct BudgetSpec {
    /// How long a request counts towards the budget.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub ttl: Duration,
    /// Retries always allowed per second.
    pub min_per_sec: u32,
    /// Retries allowed per request, on top (0.2 = 20 %).
    pub ratio: f64,
}

impl Default for BudgetSpec {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            min_per_sec: 10,
            ratio: 0.2,
        }
    }
}

/// How responses are classified; see
/// [`HttpClassifier`](crate::classify::HttpClassifier).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct ClassifySpec {
    /// A 403 carrying rate-limit signals counts as rate-limited (GitHub,
    /// Salesforce, Mailchimp answer 403).
    pub forbidden_rate_limits: bool,
    /// Obey Stripe's `Stripe-Should-Retry`.
    pub should_retry_header: bool,
    /// A rate-limited answer without any delay waits at least this long
    /// (GitHub's secondary limits: a minute); at most a day, like any
    /// server delay ([`MAX_DELAY`](crate::headers::MAX_DELAY)).
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde::option"))]
    pub rate_limited_min_wait: Option<Duration>,
}

impl Default for ClassifySpec {
    fn default() -> Self {
        Self {
            forbidden_rate_limits: true,
            should_retry_header: true,
            rate_limited_min_wait: None,
        }
    }
}

/// Batching for APIs with batch endpoints; see [`crate::batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct BatchSpec {
    /// Items per batch call at most.
    pub max_items: usize,
    /// The oldest item waits at most this long for its batch to fill.
    #[cfg_attr(feature = "serde", serde(with = "crate::duration::serde"))]
    pub max_latency: Duration,
}

impl BatchSpec {
    /// Batches of up to `max_items`, sent after `max_latency` at the latest.
    pub fn new(max_items: usize, max_latency: Duration) -> Self {
        Self {
            max_items,
            max_latency,
        }
    }
}

/// Which adaptive rate strategy to use; see [`crate::adaptive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum StrategySpec {
    /// CUBIC as the AWS SDKs' adaptive mode, with its fixes: unlimited
    /// until the first 429, then finds the limit in seconds.
    #[default]
    Cubic,
    /// The article's AIMD: ×0.5 on a 429, ×1.1 after 10 successes; needs
    /// an `initial_rate`.
    Aimd,
}

/// An adaptive send rate; see [`crate::adaptive::RateController`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct AdaptiveRateSpec {
    /// The strategy.
    pub strategy: StrategySpec,
    /// The starting rate in calls per second (AIMD's start; CUBIC starts
    /// unlimited).
    pub initial_rate: Option<f64>,
    /// Never slower than this (calls per second).
    pub min_rate: Option<f64>,
    /// Never faster than this (calls per second).
    pub max_rate: Option<f64>,
    /// Obey `RateLimit` / `X-RateLimit-*` headers: never exceed what the
    /// server says is left, spread over the time left.
    pub header_pacing: bool,
}

impl Default for AdaptiveRateSpec {
    fn default() -> Self {
        Self {
            strategy: StrategySpec::Cubic,
            initial_rate: None,
            min_rate: None,
            max_rate: None,
            header_pacing: true,
        }
    }
}

/// An adaptive concurrency cap; see
/// [`crate::adaptive::ConcurrencyController`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[non_exhaustive]
pub struct AdaptiveConcurrencySpec {
    /// The starting cap.
    pub initial: usize,
    /// The smallest cap.
    pub min: usize,
    /// The largest cap.
    pub max: usize,
}

impl Default for AdaptiveConcurrencySpec {
    fn default() -> Self {
        Self {
            initial: 1,
            min: 1,
            max: 200,
        }
    }
}

/// Where a policy's quotas are counted.
///
/// In TOML, the default is `backend = { type = "local" }`; a quota shared
/// by several processes through Redis (feature `redis`; see
/// [`RedisLimiter`](crate::rate::RedisLimiter)):
///
/// ```toml
/// [backend]
/// type = "redis"
/// url = "redis://127.0.0.1:6379"
/// key = "hubspot-portal-42"                   # the same in every process
/// fallback = { type = "local", share = 0.25 } # or { type = "fail_closed" }
/// timeout = "500ms"                           # per Redis call
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum BackendSpec {
    /// In this process.
    #[default]
    Local,
    /// In Redis, shared with every process using the same `key`.
    Redis {
        /// The Redis URL (`redis://host:port/db`, `rediss://…`).
        url: String,
        /// The destination's key, the same in every process sharing it.
        key: String,
        /// What to do while Redis does not answer.
        #[cfg_attr(feature = "serde", serde(default))]
        fallback: FallbackSpec,
        /// The timeout of each Redis call (default 500 ms).
        #[cfg_attr(
            feature = "serde",
            serde(default, with = "crate::duration::serde::option")
        )]
        timeout: Option<Duration>,
    },
}

impl BackendSpec {
    /// Quotas in the Redis at `url`, under `key`, failing closed.
    pub fn redis(url: impl Into<String>, key: impl Into<String>) -> Self {
        BackendSpec::Redis {
            url: url.into(),
            key: key.into(),
            fallback: FallbackSpec::FailClosed,
            timeout: None,
        }
    }
}

/// What a Redis-backed limiter does while Redis does not answer; see
/// [`Fallback`](crate::rate::Fallback).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum FallbackSpec {
    /// Refuse calls (`RateError::Unavailable`).
    #[default]
    FailClosed,
    /// Pace calls locally at `share` of every quota.
    Local {
        /// This process's share, in `(0, 1]`.
        share: f64,
    },
}
