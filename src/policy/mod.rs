//! One [`Policy`] per API: everything needed to talk to it politely.
//!
//! A policy names the quotas, the concurrency cap, the retry rules, the
//! classification quirks and batching of one destination. It is plain data:
//! start from [`Policy::default`] or a [preset](crate::presets), adjust the
//! fields, or read it from a file (feature `serde`). [`Policy::validate`]
//! names the field at fault; [`Pacer::new`](crate::Pacer::new) builds the
//! stack from it.
//!
//! In TOML:
//!
//! ```toml
//! name = "hubspot"
//! concurrency = 10
//! max_wait = "60s"
//! quotas = [
//!     { limit = 100, window = "10s" },
//!     { limit = 250000, window = "1d" },
//! ]
//! headroom = { fraction = 1.0, margin = "20ms" }
//!
//! [retry]
//! max_attempts = 5
//! base = "200ms"
//! cap = "30s"
//! jitter = "full"          # or "decorrelated", "none"
//! max_retry_after = "2m"
//! budget = { ttl = "10s", min_per_sec = 10, ratio = 0.2 }
//!
//! [batch]
//! max_items = 100
//! max_latency = "50ms"
//! ```
//!
//! For an API that documents no limit, an adaptive rate and concurrency:
//!
//! ```toml
//! name = "undocumented"
//! [adaptive_rate]
//! strategy = "cubic"       # or "aimd", with initial_rate
//! max_rate = 500.0
//! header_pacing = true
//! [adaptive_concurrency]
//! initial = 4
//! max = 64
//! ```
//!
//! The same in JSON, read with `serde_json`, and checked:
//!
#![cfg_attr(feature = "serde", doc = "```")]
#![cfg_attr(not(feature = "serde"), doc = "```ignore")]
//! use tower_pacer::policy::Policy;
//!
//! let policy: Policy = serde_json::from_str(r#"{
//!     "name": "hubspot",
//!     "concurrency": 10,
//!     "quotas": [{ "limit": 100, "window": "10s" }, { "limit": 250000, "window": "1d" }],
//!     "retry": { "max_attempts": 5, "max_retry_after": "2m" }
//! }"#)?;
//! policy.validate()?;
//! assert_eq!(policy.retry.max_attempts, 5);
//!
//! let mut broken = policy.clone();
//! broken.retry.max_attempts = 0;
//! assert_eq!(broken.validate().unwrap_err().to_string(), "retry.max_attempts: must be ≥ 1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod spec;

pub(crate) use build::StampedRetryLayer;
pub use build::{PolicyClassifier, PolicyRetryLayer};
pub use spec::{
    AdaptiveConcurrencySpec, AdaptiveRateSpec, BackendSpec, BatchSpec, BudgetSpec, ClassifySpec,
    FallbackSpec, HeadroomSpec, JitterSpec, Policy, QuotaSpec, RetrySpec, StrategySpec,
};
