use tower_layer::Layer;

use super::Pacer;
use super::optional::Optional;
use crate::adaptive::{
    AdaptiveConcurrency, AdaptiveConcurrencyLayer, AdaptiveRate, AdaptiveRateLayer,
};
use crate::concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer};
use crate::feedback::{Classified, Stamped};
use crate::policy::PolicyClassifier;
use crate::rate::{RateLimit, RateLimitLayer};
use crate::retry::{HttpReplay, Retry};
use crate::stats::{RecordAttempts, RecordAttemptsLayer, RecordRequests, RecordRequestsLayer};

/// The service [`PacerLayer`] builds around `S`; the [`Optional`]s are
/// the adaptive controllers, present when the policy asks for them.
pub type PacerService<S> = RecordRequests<
    Retry<
        ConcurrencyLimit<Optional<AdaptiveRate<Paced<S>, Stamped<PolicyClassifier>>, Paced<S>>>,
        Stamped<PolicyClassifier>,
        HttpReplay,
    >,
>;

/// The rate-limited part of [`PacerService`].
pub type Paced<S> =
    RateLimit<Optional<AdaptiveConcurrency<Observed<S>, Stamped<PolicyClassifier>>, Observed<S>>>;

/// The bottom of [`PacerService`]: each attempt counted, and classified
/// once right above the client.
pub type Observed<S> = RecordAttempts<Classified<S, PolicyClassifier>>;

/// The whole stack of a [`Pacer`], in the order of its
/// [module docs](super); every service it builds shares the pacer's state.
#[derive(Debug, Clone)]
pub struct PacerLayer {
    pacer: Pacer,
}

impl PacerLayer {
    pub(crate) fn new(pacer: Pacer) -> Self {
        Self { pacer }
    }

    /// The pacer whose state the stacks share.
    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }
}

impl<S> Layer<S> for PacerLayer {
    type Service = PacerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let pacer = &self.pacer;
        // Each attempt's verdict enters here, once; every layer above reads
        // it through `Stamped` (see `crate::feedback`).
        let classified = pacer.classify_layer().layer(inner);
        let attempts = RecordAttemptsLayer::new(pacer.counters().clone()).layer(classified);
        // Adaptive concurrency measures the server's round trip, so it goes
        // right around the client.
        let bottom = match pacer.concurrency_controller() {
            Some(controller) => Optional::On(
                AdaptiveConcurrencyLayer::with_classifier(
                    controller.clone(),
                    Stamped(pacer.policy().classifier()),
                )
                .layer(attempts),
            ),
            None => Optional::Off(attempts),
        };
        let paced = RateLimitLayer::new(pacer.limiter().clone()).layer(bottom);
        // The adaptive rate stamps each attempt as it asks for its slot.
        let adapted = match pacer.rate_controller() {
            Some(controller) => Optional::On(
                AdaptiveRateLayer::with_classifier(
                    controller.clone(),
                    Stamped(pacer.policy().classifier()),
                )
                .layer(paced),
            ),
            None => Optional::Off(paced),
        };
        let capped = ConcurrencyLimitLayer::new(pacer.concurrency().clone()).layer(adapted);
        let retried = pacer.retry_layer().layer(capped);
        RecordRequestsLayer::new(pacer.counters().clone()).layer(retried)
    }
}
