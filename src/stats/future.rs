//! [`ResponseFuture`]: counts the answer when it comes (or the drop when
//! it never does).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tracing::Span;

use super::{Level, Stats};

pin_project! {
    /// The response future of [`Record`].
    #[derive(Debug)]
    pub struct ResponseFuture<F, L> {
        #[pin]
        inner: F,
        stats: Stats,
        span: Span,
        // What to count if dropped before the answer; `None` once answered.
        cancelled: Option<fn(&Stats)>,
        _level: PhantomData<fn() -> L>,
    }

    impl<F, L> PinnedDrop for ResponseFuture<F, L> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(cancelled) = this.cancelled.take() {
                cancelled(this.stats);
            }
        }
    }
}

impl<F, L> ResponseFuture<F, L> {
    pub(crate) fn new(inner: F, stats: Stats, span: Span, cancelled: fn(&Stats)) -> Self {
        Self {
            inner,
            stats,
            span,
            cancelled: Some(cancelled),
            _level: PhantomData,
        }
    }
}

impl<F, B, E, L: Level> Future for ResponseFuture<F, L>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        *this.cancelled = None;
        L::ended(this.stats, this.span, result.as_ref().ok());
        Poll::Ready(result)
    }
}
