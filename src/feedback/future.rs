//! [`ResponseFuture`]: classifies the attempt when it completes.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::service::Settings;
use super::stamp::{ClassifiedError, Verdict};
use crate::BoxError;
use crate::classify::Classify;

pin_project! {
    /// The response future of [`Classified`](super::Classified).
    pub struct ResponseFuture<F, C> {
        #[pin]
        inner: F,
        settings: Arc<Settings<C>>,
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn new(inner: F, settings: Arc<Settings<C>>) -> Self {
        Self { inner, settings }
    }
}

impl<F, C, B, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    C: Classify<Response<B>, BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx)).map_err(Into::into);
        let verdict = this.settings.classifier.classify(&result);
        if let Some(steward) = &this.settings.steward {
            steward.on_verdict(&verdict);
        }
        Poll::Ready(match result {
            Ok(mut response) => {
                response.extensions_mut().insert(Verdict(verdict));
                Ok(response)
            }
            Err(error) => Err(Box::new(ClassifiedError::new(verdict, error))),
        })
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
