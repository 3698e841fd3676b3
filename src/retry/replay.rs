//! [`Replay`]: what the retry layer needs to know about a request (can it
//! be sent again, is it idempotent) and how it marks the final response.

use http::{Request, Response};

use super::body::ReplayBody;

/// The request side of retrying: copying a request for another attempt,
/// telling whether it is idempotent, and recording the number of attempts
/// on the final response.
///
/// Provided: [`HttpReplay`] for `http::Request<B>` with a [`ReplayBody`],
/// and [`Cloned`] for any `Clone` request (plain values, test requests).
pub trait Replay<Req, Res> {
    /// A copy of `request` for a later attempt, or `None` when it cannot
    /// be replayed (a streaming body): the request then goes out once,
    /// with no retry.
    fn replay(&self, request: &Req) -> Option<Req>;

    /// Whether `request` may be retried after it may have reached the
    /// server. A request that provably never left the client
    /// ([`Classification::not_sent`](crate::classify::Classification::not_sent))
    /// is retried either way.
    fn is_idempotent(&self, request: &Req) -> bool;

    /// Marks the final response with the number of attempts it took.
    /// Does nothing by default.
    fn record_attempts(&self, response: &mut Res, attempts: u32) {
        let _ = (response, attempts);
    }
}

/// Re-exported here, where it is made: the type lives with the other
/// things a response carries back up ([`feedback`](crate::feedback)).
pub use crate::feedback::Attempts;

/// [`Replay`] for HTTP: copies method, URI, version, headers, extensions
/// and a [`ReplayBody`]; follows RFC 9110 §9.2.2 on idempotency.
///
/// GET, HEAD, PUT, DELETE, OPTIONS and TRACE are idempotent. POST, PATCH
/// and other methods are retried only when the request carries an
/// `Idempotency-Key` header (Stripe's and the IETF draft's way of making a
/// POST safe to repeat) or after
/// [`retry_unsafe_methods(true)`](Self::retry_unsafe_methods). A request
/// refused before it was sent is retried whatever its method.
///
/// The final response gets an [`Attempts`] extension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpReplay {
    unsafe_methods: bool,
}

pub use crate::headers::names::IDEMPOTENCY_KEY;

impl HttpReplay {
    /// The RFC 9110 rules (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also retry POST, PATCH and other non-idempotent methods without an
    /// `Idempotency-Key`: only for an API whose writes you know to be
    /// idempotent (an upsert by external id, say).
    pub fn retry_unsafe_methods(mut self, enabled: bool) -> Self {
        self.unsafe_methods = enabled;
        self
    }
}

impl<B: ReplayBody, ResBody> Replay<Request<B>, Response<ResBody>> for HttpReplay {
    fn replay(&self, request: &Request<B>) -> Option<Request<B>> {
        let mut copy = Request::new(request.body().replay_body()?);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }

    fn is_idempotent(&self, request: &Request<B>) -> bool {
        self.unsafe_methods
            || request.method().is_idempotent()
            || request.headers().contains_key(IDEMPOTENCY_KEY)
    }

    fn record_attempts(&self, response: &mut Response<ResBody>, attempts: u32) {
        response.extensions_mut().insert(Attempts(attempts));
    }
}

/// [`Replay`] for any `Clone` request: every request is replayable.
///
/// Whether requests count as idempotent is set once for all of them
/// ([`idempotent`](Self::idempotent) or
/// [`not_idempotent`](Self::not_idempotent)); non-HTTP requests carry no
/// method to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloned {
    idempotent: bool,
}

impl Cloned {
    /// Requests are idempotent: every retryable outcome is retried.
    pub fn idempotent() -> Self {
        Self { idempotent: true }
    }

    /// Requests are not idempotent: retried only when they were never sent.
    pub fn not_idempotent() -> Self {
        Self { idempotent: false }
    }
}

impl<Req: Clone, Res> Replay<Req, Res> for Cloned {
    fn replay(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }

    fn is_idempotent(&self, _: &Req) -> bool {
        self.idempotent
    }
}
