//! Future types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::{ConcurrencyPermit, PermitBody};

pin_project! {
    /// The response future of [`ConcurrencyLimit`](super::ConcurrencyLimit):
    /// holds the permit until the inner future completes.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        permit: Option<ConcurrencyPermit>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, permit: Option<ConcurrencyPermit>) -> Self {
        Self { inner, permit }
    }
}

impl<F: Future> ResponseFuture<F> {
    /// The output with the permit still held, for a caller that must act
    /// on the result before the next call may take the permit.
    pub(crate) fn poll_keeping_permit(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<(F::Output, Option<ConcurrencyPermit>)> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        Poll::Ready((output, this.permit.take()))
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        // Release now, not whenever the finished future is dropped.
        this.permit.take();
        Poll::Ready(output)
    }
}

pin_project! {
    /// The response future of
    /// [`BodyConcurrencyLimit`](super::BodyConcurrencyLimit): moves the
    /// permit into the response body.
    #[derive(Debug)]
    pub struct BodyResponseFuture<F> {
        #[pin]
        inner: F,
        permit: Option<ConcurrencyPermit>,
    }
}

impl<F> BodyResponseFuture<F> {
    pub(crate) fn new(inner: F, permit: Option<ConcurrencyPermit>) -> Self {
        Self { inner, permit }
    }
}

impl<F, B, E> Future for BodyResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<PermitBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let permit = this.permit.take();
        Poll::Ready(Ok(response.map(|body| PermitBody::new(body, permit))))
    }
}
