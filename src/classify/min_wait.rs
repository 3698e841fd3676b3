//! A floor under the wait of rate-limited answers that name none.

use std::error::Error;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::{Classification, ClassifyHttp, Outcome};

/// Wraps an HTTP classifier: a rate-limited answer that carries no delay
/// at all waits at least `min_wait`.
///
/// GitHub's secondary rate limits answer 403 or 429 with neither
/// `Retry-After` nor an exhausted quota; its docs say to wait at least a
/// minute then. A backoff of a few hundred milliseconds would only earn
/// more refusals.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, StatusCode};
/// use tower_pacer::classify::{ClassifyHttp, HttpClassifier, MinWait, Outcome};
///
/// let github = MinWait::new(HttpClassifier::default(), Duration::from_secs(60));
/// let c = github.classify_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new());
/// assert_eq!(c.outcome, Outcome::RateLimited { retry_after: Some(Duration::from_secs(60)) });
/// ```
#[derive(Debug, Clone)]
pub struct MinWait<C> {
    inner: C,
    min_wait: Option<Duration>,
}

impl<C> MinWait<C> {
    /// `inner`, with rate-limited answers waiting at least `min_wait`.
    pub fn new(inner: C, min_wait: Duration) -> Self {
        Self {
            inner,
            min_wait: Some(min_wait),
        }
    }

    /// `inner` unchanged (no floor).
    pub fn none(inner: C) -> Self {
        Self {
            inner,
            min_wait: None,
        }
    }

    /// The wrapped classifier.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    fn floor(&self, mut classification: Classification) -> Classification {
        if let (Outcome::RateLimited { retry_after: None }, Some(min_wait)) =
            (&classification.outcome, self.min_wait)
        {
            classification.outcome = Outcome::RateLimited {
                retry_after: Some(min_wait),
            };
        }
        classification
    }
}

impl<C: ClassifyHttp> ClassifyHttp for MinWait<C> {
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        self.floor(self.inner.classify_response(status, headers))
    }

    fn classify_error(&self, error: &(dyn Error + 'static)) -> Classification {
        self.floor(self.inner.classify_error(error))
    }
}
