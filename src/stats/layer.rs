use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;
use tracing::field::Empty;

use super::Stats;

/// What a [`Record`] layer counts, and the tracing span it opens.
pub trait Level: sealed::Sealed {
    #[doc(hidden)]
    fn started(stats: &Stats);
    #[doc(hidden)]
    fn span(stats: &Stats) -> Span;
    #[doc(hidden)]
    fn ended<B>(stats: &Stats, span: &Span, response: Option<&http::Response<B>>);
    #[doc(hidden)]
    fn cancelled(stats: &Stats);
}

/// The span of a request: `pacer_request{destination, status, attempts}`
/// at DEBUG; every event of the layers below (waits, retries, pauses,
/// dead letters) happens inside it.
fn request_span(stats: &Stats) -> Span {
    tracing::debug_span!(
        "pacer_request",
        destination = stats.name().unwrap_or_default(),
        status = Empty,
        attempts = Empty,
        error = Empty,
    )
}

/// The span of one attempt, `pacer_attempt{status}` at DEBUG, a child of
/// its request's span.
fn attempt_span() -> Span {
    tracing::debug_span!("pacer_attempt", status = Empty, error = Empty)
}

/// Record the answer's status (or that there was none) in `span`.
fn record_status(span: &Span, status: Option<http::StatusCode>) {
    match status {
        Some(status) => span.record("status", status.as_u16()),
        None => span.record("error", true),
    };
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::EachRequest {}
    impl Sealed for super::EachAttempt {}
    impl Sealed for super::EachGrpcRequest {}
    impl Sealed for super::EachGrpcAttempt {}
}

/// Count requests, once each, and their final outcome (top of a stack).
#[derive(Debug, Clone, Copy, Default)]
pub struct EachRequest;

/// Count every attempt that reaches the inner service, and 429s, 5xx and
/// transport errors among their answers (bottom of a stack).
#[derive(Debug, Clone, Copy, Default)]
pub struct EachAttempt;

impl Level for EachRequest {
    fn started(stats: &Stats) {
        stats.request();
    }

    fn span(stats: &Stats) -> Span {
        request_span(stats)
    }

    fn ended<B>(stats: &Stats, span: &Span, response: Option<&http::Response<B>>) {
        request_ended(stats, span, response, http::Response::status);
    }

    fn cancelled(_: &Stats) {}
}

/// A request ended: well with a 1xx–3xx status (as `status_of` reads the
/// response), badly with an error, a 4xx or a 5xx; with its attempts.
fn request_ended<B>(
    stats: &Stats,
    span: &Span,
    response: Option<&http::Response<B>>,
    status_of: fn(&http::Response<B>) -> http::StatusCode,
) {
    let status = response.map(status_of);
    let attempts = response
        .and_then(|r| r.extensions().get::<crate::retry::Attempts>())
        .map(|a| a.0);
    record_status(span, status);
    if let Some(attempts) = attempts {
        span.record("attempts", attempts);
    }
    stats.request_ended(
        status.is_some_and(|s| !s.is_client_error() && !s.is_server_error()),
        attempts,
    );
}

impl Level for EachAttempt {
    fn started(stats: &Stats) {
        stats.attempt();
    }

    fn span(_: &Stats) -> Span {
        attempt_span()
    }

    fn ended<B>(stats: &Stats, span: &Span, response: Option<&http::Response<B>>) {
        let status = response.map(http::Response::status);
        record_status(span, status);
        stats.answer(status);
    }

    fn cancelled(stats: &Stats) {
        stats.attempt_cancelled();
    }
}

/// [`EachRequest`] for gRPC: a call whose `grpc-status` (in the headers of a
/// trailers-only answer) is not `OK` failed, though its HTTP status is 200.
#[derive(Debug, Clone, Copy, Default)]
pub struct EachGrpcRequest;

/// [`EachAttempt`] for gRPC: `RESOURCE_EXHAUSTED` counts as a 429 and
/// `UNAVAILABLE` as a 503, the rest through the usual gRPC-to-HTTP table
/// (see [`grpc_http_status`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct EachGrpcAttempt;

impl Level for EachGrpcRequest {
    fn started(stats: &Stats) {
        stats.request();
    }

    fn span(stats: &Stats) -> Span {
        request_span(stats)
    }

    fn ended<B>(stats: &Stats, span: &Span, response: Option<&http::Response<B>>) {
        request_ended(stats, span, response, grpc_http_status);
    }

    fn cancelled(_: &Stats) {}
}

impl Level for EachGrpcAttempt {
    fn started(stats: &Stats) {
        stats.attempt();
    }

    fn span(_: &Stats) -> Span {
        attempt_span()
    }

    fn ended<B>(stats: &Stats, span: &Span, response: Option<&http::Response<B>>) {
        let status = response.map(grpc_http_status);
        record_status(span, status);
        stats.answer(status);
    }

    fn cancelled(stats: &Stats) {
        stats.attempt_cancelled();
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
pub type RecordRequestsLayer = RecordLayer<EachRequest>;

/// Counts attempts and how the server answered them; place it at the
/// bottom of a stack, below retries and the limiter, so it sees what the
/// server sees.
pub type RecordAttemptsLayer = RecordLayer<EachAttempt>;

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
        ResponseFuture {
            inner,
            stats: self.stats.clone(),
            span,
            cancelled: Some(L::cancelled),
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
        span: Span,
        // What to count if dropped before the answer; `None` once answered.
        cancelled: Option<fn(&Stats)>,
        _level: PhantomData<fn() -> L>,
    }

    impl<F, L> PinnedDrop for ResponseFuture<F, L> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(cancelled) = this.cancelled.take() {
                cancelled(this.stats);
            }
        }
    }
}

impl<F, B, E, L: Level> Future for ResponseFuture<F, L>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        *this.cancelled = None;
        L::ended(this.stats, this.span, result.as_ref().ok());
        Poll::Ready(result)
    }
}
