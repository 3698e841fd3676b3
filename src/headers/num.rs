//! Lexical helpers shared by every header parser: trimming, unsigned
//! integers, decimal seconds, milliseconds, and the [`MAX_DELAY`] clamp.
//!
//! Everything here is lenient about surrounding whitespace and strict about
//! the digits: no signs, no exponents, no `inf`/`nan`, so a hostile value can
//! never turn into a negative or unbounded delay.

use std::time::{Duration, SystemTime};

use super::MAX_DELAY;

/// Strips optional whitespace around a field value (RFC 9110 §5.5 says
/// recipients MUST exclude it; some servers send it anyway).
pub(crate) fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

/// Clamps a delay to [`MAX_DELAY`], so a representable but absurd value
/// still reaches the retry layer as "longer than you will wait".
pub(crate) fn clamp(delay: Duration) -> Duration {
    delay.min(MAX_DELAY)
}

/// Parses a run of ASCII digits (at least one) into a `u64`, with checked
/// arithmetic. `None` on an empty run, a non-digit, or overflow.
pub(crate) fn digits_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = char::from(b).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Parses a non-negative decimal number of seconds: `120`, `2.0`, `0.5`,
/// `64.57`. Digits past the ninth fractional place are truncated (below a
/// nanosecond). Returns the *unclamped* value; `None` on a sign, garbage or
/// an integer part that does not fit a `u64`.
pub(crate) fn decimal_seconds_raw(value: &[u8]) -> Option<Duration> {
    let value = trim(value);
    let (int, frac) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (value.get(..dot)?, Some(value.get(dot + 1..)?)),
        None => (value, None),
    };
    let secs = digits_u64(int)?;
    let nanos = match frac {
        None => 0,
        Some(frac) => {
            // "2." and "2.x" are garbage, not "2".
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            // Scale the first nine digits to nanoseconds; the value is then
            // always below 10^9, so `Duration::new` cannot carry or panic.
            let mut nanos = 0u32;
            for i in 0..9 {
                let d = frac.get(i).map_or(0, |&b| u32::from(b - b'0'));
                nanos = nanos * 10 + d;
            }
            nanos
        }
    };
    Some(Duration::new(secs, nanos))
}

/// Parses a delay in non-negative, possibly fractional seconds, as in
/// Discord's `X-RateLimit-Reset-After: 64.57` or the IETF
/// `RateLimit-Reset: 50`. Whitespace is trimmed; the result is clamped to
/// [`MAX_DELAY`]; a sign, garbage or overflow gives `None`.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::headers::parse_seconds;
/// assert_eq!(parse_seconds(b"64.57"), Some(Duration::from_millis(64_570)));
/// assert_eq!(parse_seconds(b"-1"), None);
/// ```
pub fn parse_seconds(value: &[u8]) -> Option<Duration> {
    decimal_seconds_raw(value).map(clamp)
}

/// Parses a count such as a limit or a remaining quota
/// (`X-RateLimit-Remaining: 0`). Only the first member of a list is read, so
/// the draft-01..03 form `RateLimit-Limit: 10, 10;w=1, 50;w=60` yields 10.
/// A sign, garbage or overflow gives `None`.
///
/// ```
/// use tower_pacer::headers::parse_count;
/// assert_eq!(parse_count(b" 4999 "), Some(4999));
/// assert_eq!(parse_count(b"10, 10;w=1"), Some(10));
/// assert_eq!(parse_count(b"-1"), None);
/// ```
pub fn parse_count(value: &[u8]) -> Option<u64> {
    let end = value
        .iter()
        .position(|&b| b == b',' || b == b';')
        .unwrap_or(value.len());
    digits_u64(trim(value.get(..end)?))
}

/// Parses a non-negative integer number of milliseconds, as in HubSpot's
/// `X-HubSpot-RateLimit-Interval-Milliseconds: 10000`; clamped to
/// [`MAX_DELAY`].
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::headers::parse_millis;
/// assert_eq!(parse_millis(b"10000"), Some(Duration::from_secs(10)));
/// ```
pub fn parse_millis(value: &[u8]) -> Option<Duration> {
    digits_u64(trim(value)).map(|ms| clamp(Duration::from_millis(ms)))
}

/// The time from `reference` until `target`: zero when `target` is already
/// past (the server said "now"), clamped to [`MAX_DELAY`].
pub(crate) fn until(target: SystemTime, reference: SystemTime) -> Duration {
    clamp(target.duration_since(reference).unwrap_or(Duration::ZERO))
}
