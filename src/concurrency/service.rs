use std::task::{Context, Poll, ready};

use tower_service::Service;

use super::ConcurrencyLimiter;
use super::future::{BodyResponseFuture, ResponseFuture};
use super::permit_slot::PermitSlot;

/// Caps the calls in flight with a shared [`ConcurrencyLimiter`].
///
/// # Where the wait happens
///
/// In `poll_ready`, as in tower: a service that is ready holds a permit, so
/// callers feel backpressure before they build a request. The permit moves
/// into the response future in `call` and is released when that future
/// completes or is dropped — for HTTP, when the response *head* arrives;
/// use [`BodyConcurrencyLimit`] to hold it until the body ends.
///
/// A clone shares the cap but starts without a permit.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    slot: PermitSlot,
}

impl<S> ConcurrencyLimit<S> {
    /// Cap `inner` with `limiter`.
    pub fn new(inner: S, limiter: ConcurrencyLimiter) -> Self {
        Self {
            inner,
            slot: PermitSlot::new(limiter),
        }
    }

    /// The shared cap.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        self.slot.limiter()
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

impl<S, Request> Service<Request> for ConcurrencyLimit<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.slot.poll_acquire(cx));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.slot.take_for_call())
    }
}

/// Like [`ConcurrencyLimit`], for `http::Response`s: the permit is held
/// until the response body has been read to its end or dropped.
#[derive(Debug, Clone)]
pub struct BodyConcurrencyLimit<S> {
    inner: S,
    slot: PermitSlot,
}

impl<S> BodyConcurrencyLimit<S> {
    /// Cap `inner` with `limiter`.
    pub fn new(inner: S, limiter: ConcurrencyLimiter) -> Self {
        Self {
            inner,
            slot: PermitSlot::new(limiter),
        }
    }

    /// The shared cap.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        self.slot.limiter()
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

impl<S, Request, B> Service<Request> for BodyConcurrencyLimit<S>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = http::Response<super::PermitBody<B>>;
    type Error = S::Error;
    type Future = BodyResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.slot.poll_acquire(cx));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        BodyResponseFuture::new(self.inner.call(request), self.slot.take_for_call())
    }
}
