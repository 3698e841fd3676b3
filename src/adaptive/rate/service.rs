//! [`AdaptiveRate`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tower_service::Service;

use super::RateController;
use super::future::ResponseFuture;
use super::gate::GateSlot;
use crate::classify::Classify;

/// Stamps each call, classifies its result and reports both to a
/// [`RateController`], which retunes its limiter. Built by
/// [`AdaptiveRateLayer`](super::AdaptiveRateLayer).
///
/// # Where the wait happens
///
/// In `poll_ready`, callers are admitted at the controller's current rate
/// (one at a time, first come first served; a clone that is ready holds
/// its admission) before they go on to reserve a slot on the limiter.
/// The limiter's slots are fixed once reserved, so without this a caller
/// arriving while the rate is low would reserve a slot far ahead and keep
/// it after the rate rises; admitted callers find the limiter's queue
/// short, and a new rate takes effect at once. The limiter remains the
/// authority (other bands, pauses, other services sharing it).
///
/// Results pass through unchanged; the layer adds no error of its own.
/// A call whose response future is dropped before it completes is not
/// reported.
pub struct AdaptiveRate<S, C> {
    inner: S,
    controller: RateController,
    classifier: Arc<C>,
    gate: GateSlot,
}

impl<S, C> AdaptiveRate<S, C> {
    pub(crate) fn new(inner: S, controller: RateController, classifier: Arc<C>) -> Self {
        Self {
            inner,
            controller,
            classifier,
            gate: GateSlot::new(),
        }
    }

    /// The shared controller.
    pub fn controller(&self) -> &RateController {
        &self.controller
    }
}

crate::macros::inner_access!(AdaptiveRate<S, C>);

impl<S: Clone, C> Clone for AdaptiveRate<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            controller: self.controller.clone(),
            classifier: Arc::clone(&self.classifier),
            gate: GateSlot::new(),
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for AdaptiveRate<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveRate")
            .field("inner", &self.inner)
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl<S, C, Request> Service<Request> for AdaptiveRate<S, C>
where
    S: Service<Request>,
    C: Classify<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let controller = &self.controller;
        if !self.gate.is_passed() && controller.try_admit() {
            self.gate.set_passed();
        }
        ready!(self.gate.poll_pass(cx, || controller.admit()));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.gate.take();
        let stamp = self.controller.on_sent();
        ResponseFuture::new(
            self.inner.call(request),
            stamp,
            self.controller.clone(),
            self.classifier.clone(),
        )
    }
}
