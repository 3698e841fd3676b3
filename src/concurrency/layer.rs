use std::marker::PhantomData;

use tower_layer::Layer;

use super::{ConcurrencyLimit, ConcurrencyLimiter, OnBodyEnd, OnResponse};
use crate::ConfigError;

/// Applies a shared [`ConcurrencyLimiter`]; see [`ConcurrencyLimit`].
///
/// Every service this layer builds, and every clone, shares the one cap
/// (unlike tower's `ConcurrencyLimitLayer`, which makes a new semaphore per
/// `layer` call).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer<R = OnResponse> {
    limiter: ConcurrencyLimiter,
    _release: PhantomData<fn() -> R>,
}

/// A [`ConcurrencyLimitLayer`] whose permits last until the response body
/// ends; see [`ConcurrencyLimitLayer::until_body_end`].
pub type BodyConcurrencyLimitLayer = ConcurrencyLimitLayer<OnBodyEnd>;

impl ConcurrencyLimitLayer {
    /// Share `limiter`.
    pub fn new(limiter: ConcurrencyLimiter) -> Self {
        Self {
            limiter,
            _release: PhantomData,
        }
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
        ConcurrencyLimitLayer {
            limiter: self.limiter,
            _release: PhantomData,
        }
    }
}

impl<R> ConcurrencyLimitLayer<R> {
    /// The shared cap.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        &self.limiter
    }
}

impl<S, R> Layer<S> for ConcurrencyLimitLayer<R> {
    type Service = ConcurrencyLimit<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit::new(inner, self.limiter.clone())
    }
}
