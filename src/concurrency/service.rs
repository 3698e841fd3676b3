use std::marker::PhantomData;
use std::task::{Context, Poll, ready};

use tower_service::Service;

use super::ConcurrencyLimiter;
use super::future::{BodyResponseFuture, ResponseFuture};
use super::permit_slot::PermitSlot;

/// Release a permit when the response future completes (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct OnResponse;

/// Release a permit when the `http::Response` body has been read to its end
/// or dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnBodyEnd;

/// Caps the calls in flight with a shared [`ConcurrencyLimiter`].
///
/// # Where the wait happens
///
/// In `poll_ready`, as in tower: a service that is ready holds a permit, so
/// callers feel backpressure before they build a request. The permit moves
/// into the response future in `call`. With the default `R =`
/// [`OnResponse`] it is released when that future completes or is dropped —
/// for HTTP, when the response *head* arrives; with [`OnBodyEnd`]
/// ([`BodyConcurrencyLimit`]) it moves on into the response body and is
/// released when the body ends.
///
/// A clone shares the cap but starts without a permit.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S, R = OnResponse> {
    inner: S,
    slot: PermitSlot,
    _release: PhantomData<fn() -> R>,
}

/// A [`ConcurrencyLimit`] that holds each permit until the response body
/// ends; see [`ConcurrencyLimitLayer::until_body_end`](super::ConcurrencyLimitLayer::until_body_end).
pub type BodyConcurrencyLimit<S> = ConcurrencyLimit<S, OnBodyEnd>;

crate::macros::inner_access!(ConcurrencyLimit<S, R>);

impl<S, R> ConcurrencyLimit<S, R> {
    /// Cap `inner` with `limiter`.
    pub fn new(inner: S, limiter: ConcurrencyLimiter) -> Self {
        Self {
            inner,
            slot: PermitSlot::new(limiter),
            _release: PhantomData,
        }
    }

    /// The shared cap.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        self.slot.limiter()
    }

    fn poll_permit_then_inner<Request>(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), S::Error>>
    where
        S: Service<Request>,
    {
        ready!(self.slot.poll_acquire(cx));
        self.inner.poll_ready(cx)
    }
}

impl<S, Request> Service<Request> for ConcurrencyLimit<S, OnResponse>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_permit_then_inner(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.slot.take_for_call())
    }
}

impl<S, Request, B> Service<Request> for ConcurrencyLimit<S, OnBodyEnd>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = http::Response<super::PermitBody<B>>;
    type Error = S::Error;
    type Future = BodyResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_permit_then_inner(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        BodyResponseFuture::new(self.inner.call(request), self.slot.take_for_call())
    }
}
