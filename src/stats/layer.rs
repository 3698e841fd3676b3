use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::Stats;

/// What a [`Record`] layer counts.
pub trait Level: sealed::Sealed {
    #[doc(hidden)]
    fn started(stats: &Stats);
    #[doc(hidden)]
    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Requests {}
    impl Sealed for super::Attempts {}
}

/// Count requests, once each, and their final outcome (top of a stack).
#[derive(Debug, Clone, Copy, Default)]
pub struct Requests;

/// Count every attempt that reaches the inner service, and 429s, 5xx and
/// transport errors among their answers (bottom of a stack).
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempts;

impl Level for Requests {
    fn started(stats: &Stats) {
        stats.request();
    }

    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>) {
        // A request ended well with a 1xx–3xx response; errors, 4xx and 5xx
        // count as failures.
        let status = response.map(http::Response::status);
        let attempts = response
            .and_then(|r| r.extensions().get::<crate::retry::Attempts>())
            .map(|a| a.0);
        stats.request_ended(
            status.is_some_and(|s| !s.is_client_error() && !s.is_server_error()),
            attempts,
        );
    }
}

impl Level for Attempts {
    fn started(stats: &Stats) {
        stats.attempt();
    }

    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>) {
        stats.answer(response.map(http::Response::status));
    }
}

/// Counts into a [`Stats`]; see [`Record`].
#[derive(Debug, Clone)]
pub struct RecordLayer<L> {
    stats: Stats,
    _level: PhantomData<fn() -> L>,
}

/// Counts requests and their final outcome; place it at the top of a stack.
pub type RecordRequestsLayer = RecordLayer<Requests>;

/// Counts attempts and how the server answered them; place it at the
/// bottom of a stack, below retries and the limiter, so it sees what the
/// server sees.
pub type RecordAttemptsLayer = RecordLayer<Attempts>;

impl<L> RecordLayer<L> {
    /// Count into `stats`.
    pub fn new(stats: Stats) -> Self {
        Self {
            stats,
            _level: PhantomData,
        }
    }
}

impl<S, L> Layer<S> for RecordLayer<L> {
    type Service = Record<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Record {
            inner,
            stats: self.stats.clone(),
            _level: PhantomData,
        }
    }
}

/// Counts the calls through it into a [`Stats`], at the [`Level`] `L`:
/// [`Requests`] or [`Attempts`].
#[derive(Debug, Clone)]
pub struct Record<S, L> {
    inner: S,
    stats: Stats,
    _level: PhantomData<fn() -> L>,
}

crate::macros::inner_access!(Record<S, L>);

/// Counts requests and their final outcome; see [`Requests`].
pub type RecordRequests<S> = Record<S, Requests>;

/// Counts attempts and their answers; see [`Attempts`].
pub type RecordAttempts<S> = Record<S, Attempts>;

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
        ResponseFuture {
            inner: self.inner.call(request),
            stats: self.stats.clone(),
            _level: PhantomData,
        }
    }
}

pin_project! {
    /// The response future of [`Record`].
    #[derive(Debug)]
    pub struct ResponseFuture<F, L> {
        #[pin]
        inner: F,
        stats: Stats,
        _level: PhantomData<fn() -> L>,
    }
}

impl<F, B, E, L: Level> Future for ResponseFuture<F, L>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        L::ended(this.stats, result.as_ref().ok());
        Poll::Ready(result)
    }
}
