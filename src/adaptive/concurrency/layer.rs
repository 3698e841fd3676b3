//! [`AdaptiveConcurrencyLayer`]: configuration only; builds [`AdaptiveConcurrency`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{AdaptiveConcurrency, ConcurrencyController};
use crate::classify::HttpClassifier;

/// Caps the calls in flight with the controller's
/// [`ConcurrencyLimiter`](crate::concurrency::ConcurrencyLimiter) and
/// reports each call's round-trip time and outcome to the
/// [`ConcurrencyController`], which resizes the cap; see
/// [`AdaptiveConcurrency`].
///
/// Place it right around the inner service (below the
/// [`RateLimitLayer`](crate::rate::RateLimitLayer)), so the time it measures
/// is the server's, not a wait for a rate-limit slot.
#[derive(Debug, Clone)]
pub struct AdaptiveConcurrencyLayer<C = HttpClassifier> {
    controller: ConcurrencyController,
    classifier: Arc<C>,
}

impl AdaptiveConcurrencyLayer<HttpClassifier> {
    /// Report to `controller`, classifying with the default HTTP rules
    /// (for an inner service whose error implements `std::error::Error`).
    pub fn new(controller: ConcurrencyController) -> Self {
        Self::with_classifier(controller, HttpClassifier::default())
    }
}

impl<C> AdaptiveConcurrencyLayer<C> {
    /// Report to `controller`, classifying with `classifier`.
    pub fn with_classifier(controller: ConcurrencyController, classifier: C) -> Self {
        Self {
            controller,
            classifier: Arc::new(classifier),
        }
    }

    /// The shared controller.
    pub fn controller(&self) -> &ConcurrencyController {
        &self.controller
    }
}

impl<S, C> Layer<S> for AdaptiveConcurrencyLayer<C> {
    type Service = AdaptiveConcurrency<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveConcurrency::new(inner, self.controller.clone(), self.classifier.clone())
    }
}
