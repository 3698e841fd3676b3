//! [`Record`]: counts the calls through it, each in a tracing span.

use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::{EachAttempt, EachRequest, Level, Stats};

/// Counts the calls through it into a [`Stats`], at the [`Level`] `L`:
/// [`EachRequest`] or [`EachAttempt`]; and runs each call in a tracing span
/// (DEBUG): `pacer_request{destination, status, attempts, error}` at the
/// request level, `pacer_attempt{status, error}` (its child) at the
/// attempt level. With no subscriber interested, a span costs a relaxed
/// load.
///
/// An attempt dropped before its answer (a timeout above, a caller that
/// went away) leaves the in-flight gauge; it counts as neither success
/// nor failure.
#[derive(Debug, Clone)]
pub struct Record<S, L> {
    inner: S,
    stats: Stats,
    _level: PhantomData<fn() -> L>,
}

impl<S, L> Record<S, L> {
    pub(crate) fn new(inner: S, stats: Stats) -> Self {
        Self {
            inner,
            stats,
            _level: PhantomData,
        }
    }
}

crate::macros::inner_access!(Record<S, L>);

/// Counts requests and their final outcome; see [`EachRequest`].
pub type RecordRequests<S> = Record<S, EachRequest>;

/// Counts attempts and their answers; see [`EachAttempt`].
pub type RecordAttempts<S> = Record<S, EachAttempt>;

impl<S, L, Request, B> Service<Request> for Record<S, L>
where
    S: Service<Request, Response = http::Response<B>>,
    L: Level,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, L>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        L::started(&self.stats);
        let span = L::span(&self.stats);
        // Entered for the call too: layers below may start work in `call`.
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(inner, self.stats.clone(), span, L::cancelled)
    }
}
