//! Vendor header values that need more than a number: the ambiguous
//! `X-RateLimit-Reset`, used/limit pairs (Shopify, Salesforce) and Stripe's
//! `Stripe-Should-Retry`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{EPOCH_THRESHOLD, num};

/// Parses a vendor `X-RateLimit-Reset` / `X-Rate-Limit-Reset` value into the
/// time until the quota resets.
///
/// The value is read as (possibly fractional, as Discord sends) seconds. A
/// value of at least [`EPOCH_THRESHOLD`] is a Unix timestamp (GitHub, X,
/// Discord) and is measured against `date` (the response's `Date` header,
/// the server's clock) or else `now`; a past instant gives zero. A smaller
/// value is a delta in seconds. The result is clamped to
/// [`MAX_DELAY`](super::MAX_DELAY); garbage, a sign or overflow gives `None`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use tower_pacer::headers::parse_reset;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_705_420_000);
/// // X sends an epoch...
/// assert_eq!(parse_reset(b"1705420800", now, None), Some(Duration::from_secs(800)));
/// // ...others a delta.
/// assert_eq!(parse_reset(b"60", now, None), Some(Duration::from_secs(60)));
/// ```
pub fn parse_reset(value: &[u8], now: SystemTime, date: Option<SystemTime>) -> Option<Duration> {
    let raw = num::decimal_seconds_raw(value)?;
    if raw.as_secs() >= EPOCH_THRESHOLD {
        let target = UNIX_EPOCH.checked_add(raw)?;
        Some(num::until(target, date.unwrap_or(now)))
    } else {
        Some(num::clamp(raw))
    }
}

/// A quota reported as "used of limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// Units already consumed in the current window.
    pub used: u64,
    /// Size of the window's quota.
    pub limit: u64,
}

impl Usage {
    /// `used` of `limit`.
    pub const fn new(used: u64, limit: u64) -> Self {
        Self { used, limit }
    }

    /// Units left; zero when the server reports more used than allowed.
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// Parses a `used/limit` pair such as Shopify's
/// `X-Shopify-Shop-Api-Call-Limit: 32/40`.
///
/// ```
/// use tower_pacer::headers::{parse_usage, Usage};
/// assert_eq!(parse_usage(b"32/40"), Some(Usage::new(32, 40)));
/// assert_eq!(parse_usage(b"32/40").map(|u| u.remaining()), Some(8));
/// ```
pub fn parse_usage(value: &[u8]) -> Option<Usage> {
    let value = num::trim(value);
    let slash = value.iter().position(|&b| b == b'/')?;
    let used = num::digits_u64(num::trim(value.get(..slash)?))?;
    let limit = num::digits_u64(num::trim(value.get(slash + 1..)?))?;
    Some(Usage { used, limit })
}

/// Parses Salesforce's `Sforce-Limit-Info`, e.g.
/// `api-usage=10018/100000, api-bursts=1/750` or
/// `per-app-api-usage=17/250(appName=sample-app)`, into `(name, usage)`
/// pairs in header order. Members that do not parse are skipped; a trailing
/// parenthesised annotation is ignored.
///
/// ```
/// use tower_pacer::headers::{parse_sforce_limit_info, Usage};
/// let limits = parse_sforce_limit_info(b"api-usage=10018/100000");
/// assert_eq!(limits, vec![("api-usage".to_owned(), Usage::new(10018, 100000))]);
/// ```
pub fn parse_sforce_limit_info(value: &[u8]) -> Vec<(String, Usage)> {
    value
        .split(|&b| b == b',')
        .filter_map(|member| {
            let eq = member.iter().position(|&b| b == b'=')?;
            let name = std::str::from_utf8(num::trim(member.get(..eq)?)).ok()?;
            let rest = member.get(eq + 1..)?;
            let end = rest.iter().position(|&b| b == b'(').unwrap_or(rest.len());
            let usage = parse_usage(rest.get(..end)?)?;
            (!name.is_empty()).then(|| (name.to_owned(), usage))
        })
        .collect()
}

/// Parses a boolean header such as Stripe's `Stripe-Should-Retry` or
/// Discord's `X-RateLimit-Global`: `true` / `false`, any case, trimmed.
/// Anything else is `None` ("the API can't tell").
pub fn parse_bool(value: &[u8]) -> Option<bool> {
    let value = num::trim(value);
    if value.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}
