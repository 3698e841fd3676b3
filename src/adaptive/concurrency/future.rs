//! [`ResponseFuture`]: reports each call's round trip and verdict to the
//! concurrency controller, then gives its permit back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::controller::{ConcurrencyController, Dispatched};
use crate::classify::Classify;

pin_project! {
    /// The response future of
    /// [`AdaptiveConcurrency`](super::AdaptiveConcurrency): reports the
    /// round-trip time and the classified result when it completes.
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        report: Option<(Instant, ConcurrencyController, Arc<C>)>,
        // Out at the inner service until answered or dropped.
        dispatched: Option<Dispatched>,
    }
}

impl<F, C> ResponseFuture<F, C> {
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

impl<F, C, T, E> Future for ResponseFuture<crate::concurrency::future::ResponseFuture<F>, C>
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

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
