//! [`AdaptiveConcurrency`]: a concurrency cap tuned by round trips.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::ConcurrencyController;
use super::future::ResponseFuture;
use crate::classify::Classify;
use crate::concurrency::ConcurrencyLimit;

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
    pub(crate) fn new(inner: S, controller: ConcurrencyController, classifier: Arc<C>) -> Self {
        Self {
            inner: ConcurrencyLimit::new(inner, controller.limiter().clone()),
            controller,
            classifier,
        }
    }

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
    type Future = ResponseFuture<crate::concurrency::future::ResponseFuture<S::Future>, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let dispatched = self.controller.dispatch();
        ResponseFuture::new(
            self.inner.call(request),
            dispatched,
            self.controller.clone(),
            self.classifier.clone(),
        )
    }
}
