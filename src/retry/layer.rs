//! [`RetryLayer`]: the configuration, shared by every service it builds.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::config::{RetryLayerBuilder, Shared};
use super::{HttpReplay, Retry, RetryBudget};
use crate::classify::{BoxErrors, HttpClassifier};
use crate::feedback::Steward;
use crate::rate::Limiter;

/// Applies retries to a service; see [`Retry`] and the
/// [module documentation](super).
///
/// Every service the layer builds, and every clone of those, shares one
/// configuration, one retry budget and one seed sequence: build one layer
/// per destination.
pub struct RetryLayer<C = BoxErrors<HttpClassifier>, R = HttpReplay> {
    shared: Arc<Shared<C, R>>,
}

impl RetryLayer {
    /// A builder with the defaults: HTTP classification over
    /// [`BoxError`](crate::BoxError)s, HTTP replay rules, 3 attempts, full
    /// jitter from 100 ms to 20 s, a 60 s `max_retry_after`, a 50 ms
    /// safety margin and the default [`RetryBudget`].
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder::default()
    }
}

impl<C, R> RetryLayer<C, R> {
    pub(crate) fn from_shared(shared: Arc<Shared<C, R>>) -> Self {
        Self { shared }
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Shared<C, R> {
        &self.shared
    }

    /// The retry budget, if there is one.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.shared.config.budget.as_ref()
    }

    /// The limiter paused on rate-limited answers, if one was given.
    pub fn limiter(&self) -> Option<&Limiter> {
        self.shared.config.steward.as_ref().map(Steward::limiter)
    }

    /// Attempts per request, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.shared.config.max_attempts
    }
}

impl<C, R> Clone for RetryLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C, R> fmt::Debug for RetryLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, R> Layer<S> for RetryLayer<C, R> {
    type Service = Retry<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_shared(inner, Arc::clone(&self.shared))
    }
}
