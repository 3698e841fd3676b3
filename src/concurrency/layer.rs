use tower_layer::Layer;

use super::{BodyConcurrencyLimit, ConcurrencyLimit, ConcurrencyLimiter};
use crate::ConfigError;

/// Applies a shared [`ConcurrencyLimiter`]; see [`ConcurrencyLimit`].
///
/// Every service this layer builds, and every clone, shares the one cap
/// (unlike tower's `ConcurrencyLimitLayer`, which makes a new semaphore per
/// `layer` call).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limiter: ConcurrencyLimiter,
}

impl ConcurrencyLimitLayer {
    /// Share `limiter`.
    pub fn new(limiter: ConcurrencyLimiter) -> Self {
        Self { limiter }
    }

    /// A new cap of `limit` calls in flight.
    ///
    /// # Errors
    ///
    /// As [`ConcurrencyLimiter::new`].
    pub fn with_limit(limit: usize) -> Result<Self, ConfigError> {
        Ok(Self::new(ConcurrencyLimiter::new(limit)?))
    }

    /// For `http::Response`s: hold each permit until the response *body*
    /// has been read to its end (or dropped), not just until its head
    /// arrives.
    pub fn until_body_end(self) -> BodyConcurrencyLimitLayer {
        BodyConcurrencyLimitLayer {
            limiter: self.limiter,
        }
    }

    /// The shared cap.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        &self.limiter
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit::new(inner, self.limiter.clone())
    }
}

/// Like [`ConcurrencyLimitLayer`], holding each permit until the response
/// body ends; see [`ConcurrencyLimitLayer::until_body_end`].
#[derive(Debug, Clone)]
pub struct BodyConcurrencyLimitLayer {
    limiter: ConcurrencyLimiter,
}

impl<S> Layer<S> for BodyConcurrencyLimitLayer {
    type Service = BodyConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyConcurrencyLimit::new(inner, self.limiter.clone())
    }
}
