//! [`HttpClassifier`]: the default rules for HTTP APIs.

use std::error::Error;

use http::{HeaderMap, StatusCode};

use super::rules::Rules;
use super::{Classification, ClassifyHttp, Outcome, StatusRule};
use crate::headers::RateLimitInfo;

/// Classifies `http::Response` results by status and headers.
///
/// Default rules, first match wins:
///
/// | Result | Outcome | Source |
/// |---|---|---|
/// | user override ([`with_status`](Self::with_status)) | as configured | |
/// | 1xx, 2xx, 3xx | `Success` | |
/// | 429 | `RateLimited` | RFC 6585 §4 |
/// | 403 with `Retry-After` or a quota at 0 (any dialect) | `RateLimited` | GitHub (primary and secondary limits), Salesforce and Mailchimp answer 403 |
/// | 408, 425, 500, 502, 503, 504 | `Transient` | RFC 9110 §15.5.9 (408 "MAY repeat"), RFC 8470 §5.2 (425), §15.6.4 (503); 500/502/504 as urllib3 and reqwest-retry |
/// | 413 with `Retry-After` | `Transient` | RFC 9110 §15.5.14; urllib3 |
/// | 501, 505 | `Permanent` | the server lacks the feature: retrying cannot help (go-retryablehttp also skips 501) |
/// | other 4xx | `Permanent` | RFC 9110 §15.5: the client's fault |
/// | other 5xx | `Transient` | |
/// | anything else | `Permanent` | |
/// | `Stripe-Should-Retry: false` (or a negative gRPC pushback) on a retryable outcome | `Permanent` | Stripe: "the request would have no further effect" |
/// | `Stripe-Should-Retry: true` on a `Permanent` outcome | `Transient` | Stripe: retry, e.g. a 409 lock conflict |
/// | transport error | `Transient`, `not_sent` per [`is_not_sent`](super::is_not_sent) | RFC 9110 §9.2.2 |
/// | the limiter's own `CostTooLarge` / `QuotaExhausted` | `Permanent`, `not_sent` | a retry cannot help; `max_wait` means fail fast |
///
/// Retryable outcomes carry [`RateLimitInfo::wait_hint`]: `Retry-After`,
/// else the window reset when the quota is at 0. Headers are parsed once and
/// returned in [`Classification::info`].
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::classify::{Classify, HttpClassifier, Outcome};
///
/// let classifier = HttpClassifier::default();
/// let response = http::Response::builder()
///     .status(429)
///     .header("retry-after", "2.0")
///     .body(())
///     .unwrap();
/// let verdict = classifier.classify(&Ok::<_, std::io::Error>(response));
/// assert_eq!(verdict.outcome, Outcome::RateLimited { retry_after: Some(Duration::from_secs(2)) });
/// ```
#[derive(Debug, Clone)]
pub struct HttpClassifier {
    rules: Rules<StatusCode>,
    forbidden_rate_limits: bool,
    should_retry_header: bool,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            forbidden_rate_limits: true,
            should_retry_header: true,
        }
    }
}

impl HttpClassifier {
    super::rules::common_builders!();

    /// Overrides the rule for one status code (for an API that, say, answers
    /// 409 to a retryable lock conflict). The later call wins.
    pub fn with_status(mut self, status: StatusCode, rule: StatusRule) -> Self {
        self.rules.set(status, rule);
        self
    }

    /// Whether a 403 carrying rate-limit signals is `RateLimited` (default
    /// true). Turn off for an API whose 403s are never about quotas.
    pub fn with_forbidden_rate_limits(mut self, enabled: bool) -> Self {
        self.forbidden_rate_limits = enabled;
        self
    }

    /// Whether `Stripe-Should-Retry` (and a negative gRPC pushback)
    /// overrides the status (default true).
    pub fn with_should_retry_header(mut self, enabled: bool) -> Self {
        self.should_retry_header = enabled;
        self
    }

    fn default_rule(&self, status: StatusCode, info: &RateLimitInfo) -> StatusRule {
        match status.as_u16() {
            100..=399 => StatusRule::Success,
            429 => StatusRule::RateLimited,
            403 if self.forbidden_rate_limits
                && (info.retry_after.is_some() || info.is_exhausted()) =>
            {
                StatusRule::RateLimited
            }
            408 | 425 | 500 | 502 | 503 | 504 => StatusRule::Transient,
            413 if info.retry_after.is_some() => StatusRule::Transient,
            501 | 505 => StatusRule::Permanent,
            400..=499 => StatusRule::Permanent,
            500..=599 => StatusRule::Transient,
            _ => StatusRule::Permanent,
        }
    }

    fn outcome(&self, status: StatusCode, info: &RateLimitInfo) -> Outcome {
        let rule = self
            .rules
            .get(status)
            .unwrap_or_else(|| self.default_rule(status, info));
        let outcome = rule.outcome(info.wait_hint());
        if !self.should_retry_header {
            return outcome;
        }
        match info.should_retry {
            Some(false) if outcome.is_retryable() => Outcome::Permanent,
            Some(true) if outcome == Outcome::Permanent => Outcome::Transient {
                retry_after: info.wait_hint(),
            },
            _ => outcome,
        }
    }
}

impl ClassifyHttp for HttpClassifier {
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        #[cfg(test)]
        RESPONSES_CLASSIFIED.with(|n| n.set(n.get() + 1));
        let info = self.rules.info(headers);
        Classification::new(self.outcome(status, &info)).with_info(info)
    }

    fn classify_error(&self, error: &(dyn Error + 'static)) -> Classification {
        self.rules.classify_error(error)
    }
}

#[cfg(test)]
thread_local! {
    /// Responses this thread classified: the pacer's tests count header
    /// parses per attempt with it.
    pub(crate) static RESPONSES_CLASSIFIED: std::cell::Cell<usize> =
        const { std::cell::Cell::new(0) };
}
