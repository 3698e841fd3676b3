//! [`AdaptiveRateLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{AdaptiveRate, RateController};
use crate::classify::{BoxErrors, HttpClassifier};

/// Feeds every attempt's outcome to a shared [`RateController`]; see
/// [`AdaptiveRate`].
///
/// Place it **below** the retry layer (so each attempt is seen, as the
/// server sees it) and **above** the [`RateLimitLayer`](crate::rate::RateLimitLayer)
/// of the controller's limiter (so an attempt is stamped when it asks for
/// its slot: see the [module docs](super) for why).
///
/// `C` classifies results ([`Classify`](crate::classify::Classify)); the
/// default suits `http::Response`s over the rate-limit layer, whose errors
/// are [`BoxError`](crate::BoxError)s.
#[derive(Debug, Clone)]
pub struct AdaptiveRateLayer<C = BoxErrors<HttpClassifier>> {
    controller: RateController,
    classifier: Arc<C>,
}

impl AdaptiveRateLayer {
    /// Report to `controller`, classifying with the default HTTP rules.
    pub fn new(controller: RateController) -> Self {
        Self::with_classifier(controller, BoxErrors(HttpClassifier::default()))
    }
}

impl<C> AdaptiveRateLayer<C> {
    /// Report to `controller`, classifying with `classifier`.
    pub fn with_classifier(controller: RateController, classifier: C) -> Self {
        Self {
            controller,
            classifier: Arc::new(classifier),
        }
    }

    /// The shared controller.
    pub fn controller(&self) -> &RateController {
        &self.controller
    }
}

impl<S, C> Layer<S> for AdaptiveRateLayer<C> {
    type Service = AdaptiveRate<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        AdaptiveRate::new(inner, self.controller.clone(), self.classifier.clone())
    }
}
