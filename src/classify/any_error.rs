//! An HTTP classifier for results with any error type.

use std::time::Duration;

use http::Response;

use super::{Classification, Classify, ClassifyHttp, Outcome};

/// Classifies responses with an HTTP classifier, and every error, whatever
/// its type, as [`Outcome::Transient`] (sent, no delay).
///
/// For layers that only need to tell success from back-pressure and sit
/// where the error type is the inner client's own (adaptive concurrency,
/// right around the client).
///
/// ```
/// use tower_pacer::classify::{AnyError, Classify, HttpClassifier, Outcome};
///
/// let classify = AnyError(HttpClassifier::default());
/// let failed: Result<http::Response<()>, &str> = Err("connection reset");
/// assert_eq!(classify.classify(&failed).outcome, Outcome::Transient { retry_after: None });
/// ```
#[derive(Debug, Clone, Default)]
pub struct AnyError<C>(pub C);

impl<C: ClassifyHttp, B, E> Classify<Response<B>, E> for AnyError<C> {
    fn classify(&self, result: &Result<Response<B>, E>) -> Classification {
        match result {
            Ok(response) => self
                .0
                .classify_response(response.status(), response.headers()),
            Err(_) => Classification::from(Outcome::Transient {
                retry_after: None::<Duration>,
            }),
        }
    }
}
