use std::task::{Context, Poll};

use http_body::Body;
use tower_service::Service;

use super::capture::Snapshot;
use super::future::ResponseFuture;
use super::layer::DeadLetterLayer;
use crate::BoxError;
use crate::classify::Classify;
use crate::retry::ReplayBody;

/// Records each request that finally failed — retries exhausted, a
/// `Retry-After` beyond the cap, a permanent refusal, no quota within
/// `max_wait`, a transport error — as a [`DeadLetter`](super::DeadLetter),
/// waits until the store has it, then returns the result to the caller
/// unchanged. Successes cost a copy of the request's head (and a reference
/// to its body bytes) and nothing else.
///
/// Place it above retries (the [`Pacer`](crate::Pacer) stack): it must see
/// final outcomes only. A store that fails is logged; the caller still gets
/// its result.
#[derive(Debug)]
pub struct DeadLetterService<S, C> {
    pub(crate) inner: S,
    pub(crate) layer: DeadLetterLayer<C>,
}

crate::macros::inner_access!(DeadLetterService<S, C>);

impl<S: Clone, C> Clone for DeadLetterService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, C, B, RB> Service<http::Request<B>> for DeadLetterService<S, C>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Error: Into<BoxError>,
    B: ReplayBody + Body,
    C: Classify<http::Response<RB>, BoxError> + Send + Sync + 'static,
{
    type Response = http::Response<RB>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, C, RB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let snapshot = Snapshot::of(&request, &self.layer.redaction);
        ResponseFuture::new(self.inner.call(request), snapshot, self.layer.clone())
    }
}
