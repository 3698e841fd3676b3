use tower_layer::Layer;

use super::Pacer;
use crate::concurrency::{ConcurrencyLimit, ConcurrencyLimitLayer};
use crate::policy::PolicyClassifier;
use crate::rate::{RateLimit, RateLimitLayer};
use crate::retry::{HttpReplay, Retry};
use crate::stats::{RecordAttempts, RecordAttemptsLayer, RecordRequests, RecordRequestsLayer};

/// The service [`PacerLayer`] builds around `S`.
pub type PacerService<S> = RecordRequests<
    Retry<ConcurrencyLimit<RateLimit<RecordAttempts<S>>>, PolicyClassifier, HttpReplay>,
>;

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
        let attempts = RecordAttemptsLayer::new(pacer.counters().clone()).layer(inner);
        let paced = RateLimitLayer::new(pacer.limiter().clone()).layer(attempts);
        let capped = ConcurrencyLimitLayer::new(pacer.concurrency().clone()).layer(paced);
        let retried = pacer.retry_layer().layer(capped);
        RecordRequestsLayer::new(pacer.counters().clone()).layer(retried)
    }
}
