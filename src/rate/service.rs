use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::limiter::{Release, RemoteReservation};
use super::{Cost, Limiter, Reservation, UnitCost};
use crate::BoxError;

/// Waits for a slot on a shared [`Limiter`] before each call.
///
/// # Where the wait happens
///
/// `poll_ready` only waits for the inner service. The slot is reserved in
/// `call`, because the cost depends on the request and because a slot
/// reserved in `poll_ready` would be held by a clone that is polled but
/// never called. If the slot has come, the request goes straight through
/// (no clone, no timer); otherwise the ready inner service moves into the
/// response future, which sleeps until the slot and then calls it (a clone
/// takes its place in the wrapper). Slots are handed out in `call` order.
///
/// A limiter shared through Redis (feature `redis`) decides in a round
/// trip: the ready service and the request then wait in the response
/// future for Redis's answer (the one boxed future of this layer, on that
/// path only), then for the slot.
///
/// A slot beyond the limiter's `max_wait`, or a cost no band can hold,
/// fails the call at once with a [`RateError`](super::RateError) (boxed, as
/// tower's middleware errors are; downcast to inspect it). Dropping the
/// response future while it waits gives the slot back where possible.
///
/// Clones share the limiter. The inner service must be `Clone` so a ready
/// copy can wait in the response future.
#[derive(Debug, Clone)]
pub struct RateLimit<S, C = UnitCost> {
    inner: S,
    limiter: Limiter,
    cost: C,
}

crate::macros::inner_access!(RateLimit<S, C>);

impl<S> RateLimit<S> {
    /// Each request costs one unit of `limiter`.
    pub fn new(inner: S, limiter: Limiter) -> Self {
        Self::with_cost(inner, limiter, UnitCost)
    }
}

impl<S, C> RateLimit<S, C> {
    /// Each request costs what `cost` says.
    pub fn with_cost(inner: S, limiter: Limiter, cost: C) -> Self {
        Self {
            inner,
            limiter,
            cost,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

impl<S, C> RateLimit<S, C> {
    /// A shared limiter answers after a round trip: the ready service waits
    /// for it with the request. Out of line, to keep `call`'s local path
    /// small.
    #[inline(never)]
    fn call_remote<Request>(
        &mut self,
        remote: RemoteReservation,
        request: Request,
    ) -> ResponseFuture<S, Request>
    where
        S: Service<Request> + Clone,
    {
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::reserving(remote, ready, request)
    }
}

impl<S, C, Request> Service<Request> for RateLimit<S, C>
where
    S: Service<Request> + Clone,
    S::Error: Into<BoxError>,
    C: Cost<Request>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Request>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let cost = self.cost.cost(&request);
        if let Some(remote) = self.limiter.reserve_remote(cost) {
            return self.call_remote(remote, request);
        }
        let grant = match self.limiter.reserve_raw(cost, None) {
            Ok(grant) => grant,
            Err(error) => return ResponseFuture::failed(error),
        };
        // A slot that has come goes straight out, unless the call before it
        // left late and the band's spacing must hold at the wire.
        if grant.is_due() && self.limiter.release_at(&grant, grant.now()) == Release::Go {
            return ResponseFuture::called(self.inner.call(request));
        }
        // The ready service waits with the request; a fresh clone stays.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let reservation = Reservation::new(self.limiter.clone(), grant);
        tracing::trace!(wait = ?reservation.delay(), "rate limited; waiting for slot");
        ResponseFuture::waiting(reservation, ready, request)
    }
}
