//! Outcome classification: what a response or error means for retrying and
//! pacing.
//!
//! A [`Classify`] implementation maps each `Result` to a [`Classification`]:
//! an [`Outcome`] (`Success`, `RateLimited`, `Transient`, `Permanent`), the
//! response's parsed [`RateLimitInfo`] (so the limiter can be tuned without
//! parsing the headers again) and whether the request provably never left
//! the client (`not_sent`, which makes any method safe to retry).
//!
//! Provided: [`HttpClassifier`] (status codes, `Retry-After`, the IETF and
//! vendor headers, Stripe's `Stripe-Should-Retry`), [`GrpcClassifier`]
//! (`grpc-status` and `grpc-retry-pushback-ms`), [`BoxErrors`] to use either
//! with tower's [`BoxError`], and any closure
//! `Fn(&Result<Res, E>) -> Classification`.
//!
//! Nothing here is async or tied to tower: classifiers are plain values.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower_pacer::classify::{BoxErrors, Classification, Classify, HttpClassifier, Outcome};
//! use tower_pacer::BoxError;
//!
//! // The default HTTP rules, for a stack whose errors are boxed.
//! let classifier = BoxErrors(HttpClassifier::default());
//! let response = http::Response::builder()
//!     .status(403)
//!     .header("x-ratelimit-remaining", "0")
//!     .header("x-ratelimit-reset", "30")
//!     .body(())
//!     .unwrap();
//! let verdict = classifier.classify(&Ok::<_, BoxError>(response));
//! // GitHub answers 403 when the quota is exhausted: wait for the reset.
//! assert_eq!(verdict.outcome, Outcome::RateLimited { retry_after: Some(Duration::from_secs(30)) });
//! assert_eq!(verdict.info.and_then(|i| i.remaining), Some(0));
//!
//! // A refused connection never sent anything: safe to retry, even a POST.
//! let refused: BoxError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
//! let verdict = classifier.classify(&Err::<http::Response<()>, _>(refused));
//! assert!(verdict.is_retryable() && verdict.not_sent);
//!
//! // Your own rules, as a closure.
//! let mine = |result: &Result<u32, String>| match result {
//!     Ok(_) => Classification::new(Outcome::Success),
//!     Err(_) => Classification::new(Outcome::Permanent),
//! };
//! assert_eq!(mine.classify(&Ok(7)).outcome, Outcome::Success);
//! ```

use std::error::Error;

use http::{HeaderMap, Response, StatusCode};

use crate::BoxError;
#[cfg(doc)]
use crate::headers::RateLimitInfo;

mod any_error;
mod error;
mod grpc;
mod http_rules;
mod min_wait;
mod outcome;
mod rules;

pub use any_error::AnyError;
pub use error::{NotSentFn, is_not_sent};
pub use grpc::GrpcClassifier;
pub use http_rules::HttpClassifier;
#[cfg(test)]
pub(crate) use http_rules::RESPONSES_CLASSIFIED;
pub use min_wait::MinWait;
pub use outcome::{Classification, Outcome, StatusRule};

/// Decides what the result of one attempt means.
///
/// Implement it for your own rules, or use a closure
/// `Fn(&Result<Res, E>) -> Classification`.
pub trait Classify<Res, E> {
    /// Classifies one attempt's result.
    fn classify(&self, result: &Result<Res, E>) -> Classification;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Classification,
{
    fn classify(&self, result: &Result<Res, E>) -> Classification {
        self(result)
    }
}

/// A classifier of HTTP exchanges, split into the response and the error
/// half so that one classifier serves every error type: it implements
/// [`Classify`] for `http::Response<B>` with any `E: Error + 'static`, and
/// through [`BoxErrors`] with [`BoxError`] (which does not implement
/// `Error` itself, so no single impl can cover both).
pub trait ClassifyHttp {
    /// Classifies a response from its status and headers.
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Classification;
    /// Classifies a transport error.
    fn classify_error(&self, error: &(dyn Error + 'static)) -> Classification;
}

/// Adapts a [`ClassifyHttp`] classifier to results whose error is tower's
/// [`BoxError`].
#[derive(Debug, Clone, Default)]
pub struct BoxErrors<C>(pub C);

impl<C: ClassifyHttp, B> Classify<Response<B>, BoxError> for BoxErrors<C> {
    fn classify(&self, result: &Result<Response<B>, BoxError>) -> Classification {
        match result {
            Ok(response) => self
                .0
                .classify_response(response.status(), response.headers()),
            Err(error) => self.0.classify_error(&**error),
        }
    }
}

macro_rules! classify_http_results {
    ($($classifier:ty),*) => {$(
        impl<B, E: Error + 'static> Classify<Response<B>, E> for $classifier {
            fn classify(&self, result: &Result<Response<B>, E>) -> Classification {
                match result {
                    Ok(response) => self.classify_response(response.status(), response.headers()),
                    Err(error) => self.classify_error(error),
                }
            }
        }
    )*};
}

classify_http_results!(HttpClassifier, GrpcClassifier);
