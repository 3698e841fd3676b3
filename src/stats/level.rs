//! What a [`Record`](super::Record) layer counts at each level, and the
//! tracing span it opens: [`EachRequest`], [`EachAttempt`] and their gRPC
//! forms.

use tracing::Span;
use tracing::field::Empty;

use super::Stats;

/// What a [`Record`](super::Record) layer counts, and the tracing span it opens.
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
        .and_then(|r| r.extensions().get::<crate::feedback::Attempts>())
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
