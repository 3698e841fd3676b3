//! [`Classified`]: the service right around the client.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use tower_service::Service;

use super::future::ResponseFuture;
use super::steward::Steward;
use crate::BoxError;
use crate::classify::Classify;

/// What the services of one [`ClassifyLayer`](super::ClassifyLayer) share.
#[derive(Debug)]
pub(crate) struct Settings<C> {
    pub(crate) classifier: C,
    pub(crate) steward: Option<Steward>,
}

/// Classifies each attempt once and stamps the verdict on its result; see
/// the [module docs](super). It never waits: `poll_ready` is the client's.
/// Its errors are [`BoxError`]s, a [`ClassifiedError`](super::ClassifiedError)
/// around each of the client's.
#[derive(Debug)]
pub struct Classified<S, C> {
    inner: S,
    settings: Arc<Settings<C>>,
}

impl<S: Clone, C> Clone for Classified<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            settings: Arc::clone(&self.settings),
        }
    }
}

impl<S, C> Classified<S, C> {
    pub(crate) fn new(inner: S, settings: Arc<Settings<C>>) -> Self {
        Self { inner, settings }
    }
}

crate::macros::inner_access!(Classified<S, C>);

impl<S, C, Req, B> Service<Req> for Classified<S, C>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
    C: Classify<Response<B>, BoxError>,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), Arc::clone(&self.settings))
    }
}
