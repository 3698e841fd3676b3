use tower_layer::Layer;

use super::{Limiter, RateLimit, UnitCost};

/// Applies a shared [`Limiter`] to a service; see [`RateLimit`].
///
/// Every service this layer builds, and every clone of those, draws on the
/// same limiter: cloning never multiplies the quota.
#[derive(Debug, Clone)]
pub struct RateLimitLayer<C = UnitCost> {
    limiter: Limiter,
    cost: C,
}

impl RateLimitLayer {
    /// Each request costs one unit of `limiter`.
    pub fn new(limiter: Limiter) -> Self {
        Self {
            limiter,
            cost: UnitCost,
        }
    }
}

impl<C> RateLimitLayer<C> {
    /// Price each request with `cost` instead (see [`Cost`](super::Cost)).
    pub fn with_cost<C2>(self, cost: C2) -> RateLimitLayer<C2> {
        RateLimitLayer {
            limiter: self.limiter,
            cost,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

impl<S, C: Clone> Layer<S> for RateLimitLayer<C> {
    type Service = RateLimit<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::with_cost(inner, self.limiter.clone(), self.cost.clone())
    }
}
