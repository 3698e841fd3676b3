//! [`GrpcClassifier`]: `grpc-status` of trailers-only responses.

use std::error::Error;

use http::{HeaderMap, StatusCode};

use super::rules::Rules;
use super::{Classification, ClassifyHttp, StatusRule};
use crate::headers::names::GRPC_STATUS;
use crate::headers::parse_count;

/// `UNKNOWN`, assumed for a `grpc-status` that does not parse.
const UNKNOWN: u64 = 2;

/// Classifies gRPC calls made through a tower `http` service (e.g. a tonic
/// `Channel`) from the `grpc-status` in the response *headers*, where a
/// trailers-only response (the usual form of an immediate error) puts it.
/// A `grpc-status` sent later in the trailers is not visible here: by then
/// the call is committed and gRFC A6 forbids a retry anyway.
///
/// Default rules, following gRFC A6 and `doc/statuscodes.md`:
///
/// | `grpc-status` | Outcome | Why |
/// |---|---|---|
/// | user override ([`with_code`](Self::with_code)) | as configured | |
/// | 0 `OK` | `Success` | |
/// | 8 `RESOURCE_EXHAUSTED` | `RateLimited` | maps to HTTP 429. Also raised for oversized messages, which no retry fixes: override if your calls can hit that |
/// | 14 `UNAVAILABLE` | `Transient` | "most likely a transient condition … corrected by retrying with a backoff" |
/// | 4 `DEADLINE_EXCEEDED` | `Permanent` | the deadline covers the whole call, retries included, and the server may have done the work; opt in with `with_code` for idempotent calls with per-attempt deadlines |
/// | 10 `ABORTED` | `Permanent` | statuscodes.md: retry "at a higher level" (the whole read-modify-write) |
/// | any other code, or unparseable (as `UNKNOWN`) | `Permanent` | A6 retries only the codes a service lists |
/// | no `grpc-status`, HTTP 200 | `Success` | the status comes in the trailers; the call is committed |
/// | no `grpc-status`, HTTP 429 | `RateLimited` | gRPC's HTTP-to-status mapping (→ `UNAVAILABLE`) |
/// | no `grpc-status`, HTTP 502, 503, 504 | `Transient` | same mapping |
/// | no `grpc-status`, other HTTP | `Permanent` | |
/// | negative or unparseable `grpc-retry-pushback-ms` on a retryable outcome | `Permanent` | A6: "don't retry" |
/// | transport error | `Transient`, `not_sent` per [`is_not_sent`](super::is_not_sent) | |
/// | the limiter's own `CostTooLarge` / `QuotaExhausted` | `Permanent`, `not_sent` | a retry cannot help; `max_wait` means fail fast |
///
/// Retryable outcomes carry the pushback (or a `Retry-After`) as
/// `retry_after`.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::classify::{Classify, GrpcClassifier, Outcome};
///
/// let response = http::Response::builder()
///     .header("grpc-status", "8")
///     .header("grpc-retry-pushback-ms", "1500")
///     .body(())
///     .unwrap();
/// let verdict = GrpcClassifier::default().classify(&Ok::<_, std::io::Error>(response));
/// assert_eq!(verdict.outcome, Outcome::RateLimited { retry_after: Some(Duration::from_millis(1500)) });
/// ```
#[derive(Debug, Clone, Default)]
pub struct GrpcClassifier {
    rules: Rules<u64>,
}

impl GrpcClassifier {
    super::rules::common_builders!();

    /// Overrides the rule for one gRPC status code, e.g.
    /// `with_code(4, StatusRule::Transient)` to retry `DEADLINE_EXCEEDED`.
    pub fn with_code(mut self, code: u32, rule: StatusRule) -> Self {
        self.rules.set(u64::from(code), rule);
        self
    }

    fn rule(&self, status: StatusCode, headers: &HeaderMap) -> StatusRule {
        let Some(value) = headers.get(&GRPC_STATUS) else {
            return match status.as_u16() {
                200 => StatusRule::Success,
                429 => StatusRule::RateLimited,
                502..=504 => StatusRule::Transient,
                _ => StatusRule::Permanent,
            };
        };
        let code = parse_count(value.as_bytes()).unwrap_or(UNKNOWN);
        if let Some(rule) = self.rules.get(code) {
            return rule;
        }
        match code {
            0 => StatusRule::Success,
            8 => StatusRule::RateLimited,
            14 => StatusRule::Transient,
            _ => StatusRule::Permanent,
        }
    }
}

impl ClassifyHttp for GrpcClassifier {
    fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Classification {
        let info = self.rules.info(headers);
        let mut outcome = self.rule(status, headers).outcome(info.retry_after);
        if outcome.is_retryable() && info.should_retry == Some(false) {
            outcome = super::Outcome::Permanent;
        }
        Classification::new(outcome).with_info(info)
    }

    fn classify_error(&self, error: &(dyn Error + 'static)) -> Classification {
        self.rules.classify_error(error)
    }
}
