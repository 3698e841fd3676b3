//! Building responses: JSON bodies, `Retry-After` in every form, rejections.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::body::MockBody;
use super::config::MockConfig;
use super::dialect::{add_headers, ceil_secs};
use super::limits::{Refusal, RejectReason};
use super::style::{ErrorBody, RetryAfterForm};
use super::window::QuotaStatus;

/// The `Retry-After` value for a wait of `wait`, rounded *up* in every form
/// so a client that waits exactly what it is told finds room.
pub fn retry_after_value(form: RetryAfterForm, wait: Duration) -> Option<String> {
    match form {
        RetryAfterForm::None => None,
        RetryAfterForm::Seconds => Some(ceil_secs(wait).to_string()),
        RetryAfterForm::Decimal => {
            let ms = wait.as_nanos().div_ceil(1_000_000);
            Some(format!("{}.{:03}", ms / 1_000, ms % 1_000))
        }
        RetryAfterForm::HttpDate => {
            // IMF-fixdate has whole seconds and formatting truncates, so
            // round the target instant up to the next whole second.
            let target = SystemTime::now().checked_add(wait)?;
            let since = target.duration_since(SystemTime::UNIX_EPOCH).ok()?;
            let rounded =
                SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(ceil_secs(since)))?;
            Some(httpdate::fmt_http_date(rounded))
        }
        RetryAfterForm::Garbage => Some("soon-ish, maybe".to_owned()),
    }
}

/// A JSON response with the rate-limit headers of `config`.
pub(crate) fn json(
    config: &MockConfig,
    status: StatusCode,
    body: &impl Serialize,
    quotas: &[QuotaStatus],
) -> Response<MockBody> {
    // Straight to bytes: a `Value` first would build the whole tree again
    // (for `/__stats`, one map per key).
    let bytes = serde_json::to_vec(body).map_or(Bytes::from_static(b"null"), Bytes::from);
    let mut res = Response::new(MockBody::full(bytes));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    add_headers(headers, config.headers, quotas);
    res
}

/// A 400 with a JSON error.
pub(crate) fn bad_request(
    config: &MockConfig,
    message: &str,
    quotas: &[QuotaStatus],
) -> Response<MockBody> {
    json(
        config,
        StatusCode::BAD_REQUEST,
        &json!({"error": "bad_request", "message": message}),
        quotas,
    )
}

/// The rejection of a request refused by a quota or the concurrency cap.
pub(crate) fn rejection(
    config: &MockConfig,
    refusal: &Refusal,
    id: u64,
    quotas: &[QuotaStatus],
) -> Response<MockBody> {
    // Validated to be 400..=599; fall back to 429 rather than panic.
    let status =
        StatusCode::from_u16(config.reject_status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let reason = refusal.reason.name();
    let wait_ms = u64::try_from(refusal.wait.as_millis()).unwrap_or(u64::MAX);
    let body = match config.error_body {
        ErrorBody::Generic => {
            json!({"error": "rate_limited", "reason": reason, "retry_after_ms": wait_ms})
        }
        ErrorBody::Hubspot => {
            let policy = match refusal.reason {
                RejectReason::Daily => "DAILY",
                RejectReason::Concurrency => "CONCURRENT",
                _ => "TEN_SECONDLY_ROLLING",
            };
            json!({
                "status": "error",
                "message": format!("You have reached your {} limit.", policy.to_ascii_lowercase()),
                "errorType": "RATE_LIMIT",
                "correlationId": format!("mock-{id}"),
                "policyName": policy,
            })
        }
        ErrorBody::Salesforce => {
            let message = match refusal.reason {
                RejectReason::Concurrency => {
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
                }
                _ => "TotalRequests Limit exceeded.",
            };
            json!([{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
        }
        ErrorBody::Google => json!({"error": {
            "code": status.as_u16(),
            "message": format!("Quota exceeded ({reason})."),
            "status": "RESOURCE_EXHAUSTED",
        }}),
        ErrorBody::Github => json!({"message": format!("API rate limit exceeded ({reason}).")}),
    };
    let mut res = json(config, status, &body, quotas);
    if let Some(value) = retry_after_value(config.retry_after, refusal.wait)
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        res.headers_mut().insert(RETRY_AFTER, v);
    }
    res
}

/// An injected 503 or 500.
pub(crate) fn fault_status(
    config: &MockConfig,
    status: StatusCode,
    quotas: &[QuotaStatus],
) -> Response<MockBody> {
    json(
        config,
        status,
        &json!({"error": "fault", "status": status.as_u16()}),
        quotas,
    )
}

/// An injected reset: announces a 200 with a body longer than what is
/// sent, writes half of it, then aborts the connection.
pub(crate) fn fault_reset(config: &MockConfig, quotas: &[QuotaStatus]) -> Response<MockBody> {
    let full = Bytes::from_static(
        br#"{"status":"ok","note":"this body is cut off by an injected connection reset"}"#,
    );
    let mut res = json(config, StatusCode::OK, &Value::Null, quotas);
    *res.body_mut() = MockBody::Reset(Some(full.slice(..full.len() / 2)), None);
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(full.len()));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        let ra = |form, ms| retry_after_value(form, Duration::from_millis(ms));
        assert_eq!(ra(RetryAfterForm::Seconds, 0).as_deref(), Some("0"));
        assert_eq!(ra(RetryAfterForm::Seconds, 1).as_deref(), Some("1"));
        assert_eq!(ra(RetryAfterForm::Seconds, 1_000).as_deref(), Some("1"));
        assert_eq!(ra(RetryAfterForm::Seconds, 1_001).as_deref(), Some("2"));
        assert_eq!(ra(RetryAfterForm::Decimal, 1_500).as_deref(), Some("1.500"));
        assert_eq!(ra(RetryAfterForm::Decimal, 42).as_deref(), Some("0.042"));
        assert_eq!(
            retry_after_value(RetryAfterForm::Decimal, Duration::from_micros(1)).as_deref(),
            Some("0.001")
        );
        assert_eq!(ra(RetryAfterForm::None, 5), None);
        let garbage = ra(RetryAfterForm::Garbage, 5).unwrap();
        assert!(garbage.parse::<f64>().is_err() && httpdate::parse_http_date(&garbage).is_err());
    }

    #[test]
    fn retry_after_date_is_never_early() {
        let wait = Duration::from_millis(2_300);
        let before = SystemTime::now();
        let value = retry_after_value(RetryAfterForm::HttpDate, wait).unwrap();
        let date = httpdate::parse_http_date(&value).unwrap();
        assert!(date >= before + wait, "{value}");
        assert!(
            date <= SystemTime::now() + wait + Duration::from_secs(1),
            "{value}"
        );
    }
}
