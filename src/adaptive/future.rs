//! Future types.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::concurrency::{ConcurrencyController, Dispatched};
use super::controller::{RateController, Stamp};
use crate::classify::Classify;

pin_project! {
    /// The response future of [`AdaptiveRate`](super::AdaptiveRate):
    /// reports the classified result to the controller when it completes.
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        report: Option<(Stamp, RateController, Arc<C>)>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(
        inner: F,
        stamp: Stamp,
        controller: RateController,
        classifier: Arc<C>,
    ) -> Self {
        Self {
            inner,
            report: Some((stamp, controller, classifier)),
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some((stamp, controller, classifier)) = this.report.take() {
            controller.observe(stamp, &classifier.classify(&result));
        }
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// The response future of
    /// [`AdaptiveConcurrency`](super::AdaptiveConcurrency): reports the
    /// round-trip time and the classified result when it completes.
    pub struct ConcurrencyResponseFuture<F, C> {
        #[pin]
        inner: F,
        report: Option<(Instant, ConcurrencyController, Arc<C>)>,
        // Out at the inner service until answered or dropped.
        dispatched: Option<Dispatched>,
    }
}

impl<F, C> ConcurrencyResponseFuture<F, C> {
    pub(crate) fn new(
        inner: F,
        dispatched: Dispatched,
        controller: ConcurrencyController,
        classifier: Arc<C>,
    ) -> Self {
        Self {
            inner,
            report: Some((Instant::now(), controller, classifier)),
            dispatched: Some(dispatched),
        }
    }
}

impl<F, C, T, E> Future
    for ConcurrencyResponseFuture<crate::concurrency::future::ResponseFuture<F>, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The permit goes back only after the controller has seen the
        // answer: released first, it would let a waiting call out under
        // the old cap just before a refusal lowers it.
        let (result, permit) = ready!(this.inner.poll_keeping_permit(cx));
        if let Some((start, controller, classifier)) = this.report.take() {
            controller.observe(start, &classifier.classify(&result).outcome);
        }
        this.dispatched.take();
        drop(permit);
        Poll::Ready(result)
    }
}

impl<F, C> fmt::Debug for ConcurrencyResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyResponseFuture")
            .finish_non_exhaustive()
    }
}
