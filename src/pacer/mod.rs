//! [`Pacer`]: one destination's shared state, and the whole stack in the
//! right order.
//!
//! `Pacer::new(policy)?` creates the destination's limiter, concurrency
//! cap, retry budget and statistics once; [`Pacer::layer`] wraps any HTTP
//! client service in the stack, outermost first:
//!
//! ```text
//! RecordRequests   count requests and final outcomes
//!  └ Retry          Retry-After-aware, jittered backoff, budget; a 429 pauses the limiter
//!    └ ConcurrencyLimit   the shared cap (waits in poll_ready)
//!      └ AdaptiveRate     (policy.adaptive_rate) tunes the limiter from every attempt
//!        └ RateLimit        a slot in every quota band (waits in the response future)
//!          └ AdaptiveConcurrency (policy.adaptive_concurrency) a cap tuned by round trips
//!            └ RecordAttempts count what the server sees: attempts, 429s, 5xx
//!              └ your client  (hyper-util, reqwest-middleware, tonic Channel…)
//! ```
//!
//! Retry sits outside the limiter so every retry costs a slot like any other
//! call; the pause a 429 triggers holds every caller of the destination.
//! Every service built from one `Pacer`, and every clone of those, shares
//! everything: clone freely, the quota is never multiplied.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::Pacer;
//! use tower_pacer::policy::{Policy, QuotaSpec};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! tokio::time::pause();
//! let mut policy = Policy::default();
//! policy.quotas = vec![QuotaSpec::window(10, Duration::from_secs(1))];
//! policy.concurrency = Some(4);
//! let pacer = Pacer::new(policy)?;
//!
//! let api = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, tower_pacer::BoxError>(http::Response::new(String::from("ok")))
//! });
//! let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
//! for _ in 0..25 {
//!     client.clone().oneshot(http::Request::new(String::new())).await?;
//! }
//! let stats = pacer.stats();
//! assert_eq!((stats.requests, stats.succeeded, stats.rate_limited), (25, 25, 0));
//! // Calls 11 and 21 waited for a window to pass; the rest went straight out.
//! assert_eq!(stats.waited, 2);
//! # Ok(()) }
//! ```

mod layer;
mod optional;

pub use layer::{Observed, Paced, PacerLayer, PacerService};
pub use optional::{Optional, OptionalFuture};

use std::fmt;
use std::sync::Arc;

use crate::ConfigError;
use crate::adaptive::{ConcurrencyController, RateController};
use crate::concurrency::ConcurrencyLimiter;
use crate::feedback::{ClassifyLayer, Steward};
use crate::policy::{Policy, PolicyClassifier, StampedRetryLayer};
use crate::rate::Limiter;
use crate::retry::RetryBudget;
use crate::stats::{Stats, StatsSnapshot};

/// One destination's shared state, built from a [`Policy`]; see the
/// [module docs](self).
#[derive(Clone)]
pub struct Pacer {
    shared: Arc<Shared>,
}

struct Shared {
    policy: Policy,
    limiter: Limiter,
    /// The static cap above the limiter (unlimited when adaptive
    /// concurrency owns the cap).
    concurrency: ConcurrencyLimiter,
    /// Classifies each attempt once, right above the client; its
    /// [`Steward`] is the one writer of the limiter for the server's word.
    classify: ClassifyLayer<PolicyClassifier>,
    retry: StampedRetryLayer,
    rate_controller: Option<RateController>,
    concurrency_controller: Option<ConcurrencyController>,
    stats: Stats,
}

impl Pacer {
    /// The destination's state for `policy`.
    ///
    /// # Errors
    ///
    /// The policy's first invalid field, as [`Policy::validate`] names it.
    pub fn new(policy: Policy) -> Result<Pacer, ConfigError> {
        let name = policy.name.clone();
        Self::named(policy, &name)
    }

    /// A pacer whose spans, logs and metrics say `destination` (one
    /// [`Destinations`](crate::destinations::Destinations) entry) rather
    /// than the policy's name, which several destinations may share.
    pub(crate) fn named(policy: Policy, destination: &str) -> Result<Pacer, ConfigError> {
        policy.validate()?;
        // The parts name themselves after the policy: build them from a
        // copy named after the destination, keep the policy as given.
        let mut parts = policy.clone();
        parts.name = destination.to_owned();
        let limiter = parts.limiter()?;
        let concurrency = match parts.concurrency_limiter()? {
            Some(cap) => cap,
            None => ConcurrencyLimiter::unlimited(),
        };
        let retry = parts.stamped_retry_layer()?;
        let steward = Steward::new(
            limiter.clone(),
            parts.retry.max_retry_after,
            parts.retry.safety_margin,
        );
        let classify = ClassifyLayer::with_steward(parts.classifier(), steward);
        let rate_controller = parts.rate_controller(&limiter)?;
        let adaptive_cap = ConcurrencyLimiter::unlimited();
        let concurrency_controller = parts.concurrency_controller(&adaptive_cap)?;
        let policy_name = parts.name;
        Ok(Pacer {
            shared: Arc::new(Shared {
                policy,
                limiter,
                concurrency,
                classify,
                retry,
                rate_controller,
                concurrency_controller,
                stats: Stats::named(&policy_name),
            }),
        })
    }

    /// The whole stack, as one layer; see the [module docs](self).
    pub fn layer(&self) -> PacerLayer {
        PacerLayer::new(self.clone())
    }

    /// The policy this pacer was built from.
    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// The destination's limiter (pause it, change its rate, look at it).
    pub fn limiter(&self) -> &Limiter {
        &self.shared.limiter
    }

    /// The destination's static concurrency cap (resize it). With adaptive
    /// concurrency, the cap the controller resizes is
    /// [`concurrency_controller`](Self::concurrency_controller)`.limiter()`.
    pub fn concurrency(&self) -> &ConcurrencyLimiter {
        &self.shared.concurrency
    }

    /// The adaptive rate controller, if the policy has one.
    pub fn rate_controller(&self) -> Option<&RateController> {
        self.shared.rate_controller.as_ref()
    }

    /// The adaptive concurrency controller, if the policy has one.
    pub fn concurrency_controller(&self) -> Option<&ConcurrencyController> {
        self.shared.concurrency_controller.as_ref()
    }

    /// The destination's retry budget, if the policy has one.
    pub fn retry_budget(&self) -> Option<&RetryBudget> {
        self.shared.retry.budget()
    }

    /// The raw counters (to share with other layers of yours).
    pub fn counters(&self) -> &Stats {
        &self.shared.stats
    }

    /// What the destination's stack did so far, with the limiter's waits.
    pub fn stats(&self) -> StatsSnapshot {
        let limiter = self.shared.limiter.snapshot();
        let mut snapshot = self.shared.stats.snapshot();
        snapshot.waited = limiter.waited;
        snapshot.total_wait = limiter.total_wait;
        snapshot.limit_mismatch = limiter.limit_mismatches;
        snapshot.learned_factor = limiter.learned.map(|learned| learned.factor);
        snapshot.adaptive_rate = self.rate_controller().map(|c| c.rate().per_second());
        snapshot.adaptive_concurrency = self.concurrency_controller().map(|c| c.stats().limit);
        snapshot
    }

    pub(crate) fn retry_layer(&self) -> &StampedRetryLayer {
        &self.shared.retry
    }

    pub(crate) fn classify_layer(&self) -> &ClassifyLayer<PolicyClassifier> {
        &self.shared.classify
    }

    /// True if both handles share one destination's state.
    pub fn same_as(&self, other: &Pacer) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl fmt::Debug for Pacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pacer")
            .field("name", &self.shared.policy.name)
            .field("limiter", &self.shared.limiter)
            .field("concurrency", &self.shared.concurrency)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    //! Issue 17: in the pacer's stack, each attempt's headers are parsed
    //! once, however many layers read the verdict.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{ServiceExt, service_fn};

    use super::Pacer;
    use crate::BoxError;
    use crate::classify::RESPONSES_CLASSIFIED;
    use crate::policy::Policy;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn each_attempt_is_classified_once_in_the_pacer_stack() {
        // Adaptive rate (with header pacing) and concurrency: every reader.
        let policy: Policy = serde_json::from_str(
            r#"{
                "name": "crm",
                "quotas": [{ "limit": 100, "window": "1s" }],
                "adaptive_rate": { "strategy": "aimd", "initial_rate": 50.0, "header_pacing": true },
                "adaptive_concurrency": { "initial": 4, "max": 16 },
                "retry": { "max_attempts": 3 }
            }"#,
        )
        .unwrap();
        let pacer = Pacer::new(policy).unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let client = {
            let sent = Arc::clone(&sent);
            service_fn(move |_request: http::Request<String>| {
                let n = sent.fetch_add(1, Ordering::SeqCst);
                async move {
                    let status = if n < 2 { 429 } else { 200 };
                    Ok::<_, BoxError>(
                        http::Response::builder()
                            .status(status)
                            .header("retry-after", "1")
                            .header("x-ratelimit-remaining", "40")
                            .header("x-ratelimit-limit", "100")
                            .body(String::new())?,
                    )
                }
            })
        };
        let service = tower::Layer::layer(&pacer.layer(), client);
        RESPONSES_CLASSIFIED.with(|n| n.set(0));
        let response = service
            .oneshot(
                http::Request::builder()
                    .method("PUT")
                    .uri("https://api.example.com/contacts/1")
                    .body(String::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(sent.load(Ordering::SeqCst), 3);
        assert_eq!(
            RESPONSES_CLASSIFIED.with(|n| n.get()),
            3,
            "responses classified for three attempts"
        );
    }
}
