//! [`ResponseFuture`]: reports each attempt's verdict to the rate controller.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

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
