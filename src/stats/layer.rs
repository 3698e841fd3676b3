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
    impl Sealed for super::GrpcRequests {}
    impl Sealed for super::GrpcAttempts {}
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
        request_ended(stats, response, http::Response::status);
    }
}

/// A request ended: well with a 1xx–3xx status (as `status_of` reads the
/// response), badly with an error, a 4xx or a 5xx; with its attempts.
fn request_ended<B>(
    stats: &Stats,
    response: Option<&http::Response<B>>,
    status_of: fn(&http::Response<B>) -> http::StatusCode,
) {
    let status = response.map(status_of);
    let attempts = response
        .and_then(|r| r.extensions().get::<crate::retry::Attempts>())
        .map(|a| a.0);
    stats.request_ended(
        status.is_some_and(|s| !s.is_client_error() && !s.is_server_error()),
        attempts,
    );
}

impl Level for Attempts {
    fn started(stats: &Stats) {
        stats.attempt();
    }

    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>) {
        stats.answer(response.map(http::Response::status));
    }
}

/// [`Requests`] for gRPC: a call whose `grpc-status` (in the headers of a
/// trailers-only answer) is not `OK` failed, though its HTTP status is 200.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcRequests;

/// [`Attempts`] for gRPC: `RESOURCE_EXHAUSTED` counts as a 429 and
/// `UNAVAILABLE` as a 503, the rest through the usual gRPC-to-HTTP table
/// (see [`grpc_http_status`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcAttempts;

impl Level for GrpcRequests {
    fn started(stats: &Stats) {
        stats.request();
    }

    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>) {
        request_ended(stats, response, grpc_http_status);
    }
}

impl Level for GrpcAttempts {
    fn started(stats: &Stats) {
        stats.attempt();
    }

    fn ended<B>(stats: &Stats, response: Option<&http::Response<B>>) {
        stats.answer(response.map(grpc_http_status));
    }
}

/// The HTTP status a gRPC answer stands for: its `grpc-status` header, if
/// any, mapped as gRPC gateways map it (`RESOURCE_EXHAUSTED` → 429,
/// `UNAVAILABLE` → 503, `NOT_FOUND` → 404…; an unknown code → 500); else
/// the HTTP status itself. A status sent later in the trailers is not seen:
/// the call had already started to answer.
pub fn grpc_http_status<B>(response: &http::Response<B>) -> http::StatusCode {
    use http::StatusCode as S;
    let Some(value) = response.headers().get(&crate::headers::names::GRPC_STATUS) else {
        return response.status();
    };
    match crate::headers::parse_count(value.as_bytes()) {
        Some(0) => response.status(),
        Some(1) => S::from_u16(499).unwrap_or(S::BAD_REQUEST), // CANCELLED
        Some(3 | 9 | 11) => S::BAD_REQUEST, // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
        Some(4) => S::GATEWAY_TIMEOUT,      // DEADLINE_EXCEEDED
        Some(5) => S::NOT_FOUND,
        Some(6 | 10) => S::CONFLICT, // ALREADY_EXISTS, ABORTED
        Some(7) => S::FORBIDDEN,     // PERMISSION_DENIED
        Some(8) => S::TOO_MANY_REQUESTS,
        Some(12) => S::NOT_IMPLEMENTED,
        Some(14) => S::SERVICE_UNAVAILABLE,
        Some(16) => S::UNAUTHORIZED,
        // UNKNOWN, INTERNAL, DATA_LOSS, and anything unreadable.
        _ => S::INTERNAL_SERVER_ERROR,
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
