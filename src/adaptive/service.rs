//! [`AdaptiveRate`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::RateController;
use super::future::ResponseFuture;
use crate::classify::Classify;

/// Stamps each call, classifies its result and reports both to a
/// [`RateController`], which retunes its limiter. Built by
/// [`AdaptiveRateLayer`](super::AdaptiveRateLayer).
///
/// Results pass through unchanged; the layer adds no error of its own.
/// A call whose response future is dropped before it completes is not
/// reported.
pub struct AdaptiveRate<S, C> {
    inner: S,
    controller: RateController,
    classifier: Arc<C>,
}

impl<S, C> AdaptiveRate<S, C> {
    pub(crate) fn new(inner: S, controller: RateController, classifier: Arc<C>) -> Self {
        Self {
            inner,
            controller,
            classifier,
        }
    }

    /// The shared controller.
    pub fn controller(&self) -> &RateController {
        &self.controller
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the wrapper.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C> Clone for AdaptiveRate<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            controller: self.controller.clone(),
            classifier: Arc::clone(&self.classifier),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveRate<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveRate")
            .field("inner", &self.inner)
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl<S, C, Request> Service<Request> for AdaptiveRate<S, C>
where
    S: Service<Request>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let stamp = self.controller.on_sent();
        ResponseFuture::new(
            self.inner.call(request),
            stamp,
            self.controller.clone(),
            self.classifier.clone(),
        )
    }
}
