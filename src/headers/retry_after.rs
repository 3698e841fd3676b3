//! `Retry-After` (RFC 9110 §10.2.3) and HTTP-dates (§5.6.7).

use std::time::{Duration, SystemTime};

use super::num;

/// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 says a
/// recipient MUST accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). Surrounding whitespace is ignored.
///
/// `None` for anything else, including a weekday that does not match the
/// date (the `httpdate` crate checks it). RFC 850 two-digit years pivot at
/// 1970–2069 (the `httpdate` crate's rule, not the RFC's sliding window).
pub fn parse_http_date(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(num::trim(value)).ok()?;
    httpdate::parse_http_date(text).ok()
}

/// Parses a `Retry-After` value into the delay to wait.
///
/// Accepts delay-seconds (`120`), decimal seconds (`2.0`, as Shopify sends)
/// and all three HTTP-date forms. A date is measured against `date`, the
/// response's own `Date` header, when there is one: both then come from the
/// server's clock, so local clock skew cancels out (the RateLimit draft
/// recommends this). Otherwise it is measured against `now`.
///
/// - a date in the past → `Some(Duration::ZERO)` (retry at once);
/// - a delay beyond [`MAX_DELAY`](super::MAX_DELAY) → clamped to it;
/// - negative, garbage, or too large for a `u64` → `None` (treat as absent
///   and fall back to backoff).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_pacer::headers::{parse_http_date, parse_retry_after};
///
/// let now = SystemTime::now();
/// assert_eq!(parse_retry_after(b" 2.5 ", now, None), Some(Duration::from_millis(2500)));
/// assert_eq!(parse_retry_after(b"-5", now, None), None);
///
/// let date = parse_http_date(b"Sun, 06 Nov 1994 08:49:00 GMT");
/// let wait = parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now, date);
/// assert_eq!(wait, Some(Duration::from_secs(37)));
/// ```
pub fn parse_retry_after(
    value: &[u8],
    now: SystemTime,
    date: Option<SystemTime>,
) -> Option<Duration> {
    let value = num::trim(value);
    // A date always starts with a letter (the weekday); seconds with a digit.
    if value.first().is_some_and(u8::is_ascii_digit) {
        return num::parse_seconds(value);
    }
    let target = parse_http_date(value)?;
    Some(num::until(target, date.unwrap_or(now)))
}
