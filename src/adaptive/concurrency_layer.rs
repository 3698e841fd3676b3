//! [`AdaptiveConcurrencyLayer`] and its service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use super::ConcurrencyController;
use super::future::ConcurrencyResponseFuture;
use crate::classify::{Classify, HttpClassifier};
use crate::concurrency::ConcurrencyLimit;

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
        AdaptiveConcurrency {
            inner: ConcurrencyLimit::new(inner, self.controller.limiter().clone()),
            controller: self.controller.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A [`ConcurrencyLimit`] whose cap follows a [`ConcurrencyController`].
///
/// Waits for a permit in `poll_ready` (as [`ConcurrencyLimit`] does);
/// the round-trip time runs from `call` to the end of the inner future.
/// The cap counts as used when as many calls are out at the inner service
/// as it allows — not permits held by calls still waiting above (for a
/// rate limiter's slot, say), which the server does not see.
/// Results pass through unchanged.
pub struct AdaptiveConcurrency<S, C> {
    inner: ConcurrencyLimit<S>,
    controller: ConcurrencyController,
    classifier: Arc<C>,
}

impl<S, C> AdaptiveConcurrency<S, C> {
    /// The shared controller.
    pub fn controller(&self) -> &ConcurrencyController {
        &self.controller
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S: Clone, C> Clone for AdaptiveConcurrency<S, C> {
    /// A clone shares the cap and the controller but starts without a permit.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            controller: self.controller.clone(),
            classifier: Arc::clone(&self.classifier),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveConcurrency<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveConcurrency")
            .field("inner", &self.inner)
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl<S, C, Request> Service<Request> for AdaptiveConcurrency<S, C>
where
    S: Service<Request>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        ConcurrencyResponseFuture<crate::concurrency::future::ResponseFuture<S::Future>, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let dispatched = self.controller.dispatch();
        ConcurrencyResponseFuture::new(
            self.inner.call(request),
            dispatched,
            self.controller.clone(),
            self.classifier.clone(),
        )
    }
}
