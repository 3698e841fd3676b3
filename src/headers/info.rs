//! [`RateLimitInfo`]: every rate-limit signal of one response, in one type.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::HeaderName;

use super::names::*;
use super::{
    GrpcPushback, QuotaPolicy, QuotaStatus, Usage, parse_bool, parse_count, parse_grpc_pushback,
    parse_http_date, parse_millis, parse_ratelimit, parse_ratelimit_policy, parse_reset,
    parse_retry_after, parse_seconds, parse_sforce_limit_info, parse_usage,
};

/// The rate-limit signals of one response, whatever dialect the server
/// speaks. Every field is optional: servers send some, most or none.
///
/// Durations are relative to the moment the response was parsed and never
/// exceed [`MAX_DELAY`](super::MAX_DELAY).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitInfo {
    /// Requests (quota units) left in the current window.
    pub remaining: Option<u64>,
    /// Size of the current window's quota.
    pub limit: Option<u64>,
    /// Time until the current window's quota is restored.
    pub reset_after: Option<Duration>,
    /// Length of the window `limit` applies to.
    pub window: Option<Duration>,
    /// `Retry-After` (or a gRPC pushback): how long the server asked the
    /// client to wait. Takes precedence over `reset_after`.
    pub retry_after: Option<Duration>,
    /// Daily quota left (HubSpot `-Daily-Remaining`, Salesforce
    /// `api-usage`).
    pub daily_remaining: Option<u64>,
    /// Daily quota size (HubSpot `-Daily`, Salesforce `api-usage`).
    pub daily_limit: Option<u64>,
    /// Name of the quota that `remaining` describes: the IETF policy name,
    /// GitHub's `x-ratelimit-resource` or Discord's `x-ratelimit-bucket`.
    pub policy: Option<String>,
    /// The server's explicit retry verdict: Stripe's `Stripe-Should-Retry`,
    /// or `Some(false)` for a negative or unparseable gRPC pushback.
    pub should_retry: Option<bool>,
    /// Every quota the server advertised in `RateLimit-Policy`, so an
    /// adaptive limiter can mirror all of them.
    pub policies: Vec<QuotaPolicy>,
}

impl RateLimitInfo {
    /// Reads every known dialect from `headers`, measuring dates against
    /// the response's `Date` header when present, else against `now`.
    ///
    /// When several dialects carry the same field, the first wins, in this
    /// order: IETF `RateLimit` (-07..-10), the IETF triplet, Discord's
    /// `-Reset-After` (a delta, immune to clock skew), `X-RateLimit-*`,
    /// X's `X-Rate-Limit-*`, HubSpot, Shopify, Salesforce. Of several IETF
    /// quotas, the one with the fewest units left (then the longest reset)
    /// is reported, since it is the one that will bite first.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use http::HeaderMap;
    /// use tower_pacer::headers::RateLimitInfo;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
    /// headers.insert("retry-after", "30".parse().unwrap());
    /// let info = RateLimitInfo::from_headers(&headers, SystemTime::now());
    /// assert!(info.is_exhausted());
    /// assert_eq!(info.wait_hint(), Some(Duration::from_secs(30)));
    /// ```
    pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Self {
        let one = |name: &HeaderName| headers.get(name).map(|v| v.as_bytes());
        let date = one(&DATE).and_then(parse_http_date);
        let mut info = Self {
            retry_after: one(&RETRY_AFTER).and_then(|v| parse_retry_after(v, now, date)),
            policies: joined(headers, &RATELIMIT_POLICY)
                .map(|v| parse_ratelimit_policy(&v))
                .unwrap_or_default(),
            ..Self::default()
        };
        if let Some(status) = joined(headers, &RATELIMIT)
            .map(|v| parse_ratelimit(&v))
            .and_then(|s| most_restrictive(&s).cloned())
        {
            info.apply_ietf(status);
        } else if let [policy] = info.policies.as_slice() {
            info.limit = Some(policy.quota);
            info.window = policy.window;
        }

        let count = |name: &HeaderName| one(name).and_then(parse_count);
        let reset = |name: &HeaderName| one(name).and_then(|v| parse_reset(v, now, date));
        let shopify = one(&X_SHOPIFY_SHOP_API_CALL_LIMIT).and_then(parse_usage);
        let salesforce = one(&SFORCE_LIMIT_INFO)
            .map(parse_sforce_limit_info)
            .and_then(|l| l.into_iter().find(|(name, _)| name == "api-usage"))
            .map(|(_, usage)| usage);

        fill(&mut info.remaining, || {
            count(&RATELIMIT_REMAINING)
                .or_else(|| count(&X_RATELIMIT_REMAINING))
                .or_else(|| count(&X_RATE_LIMIT_REMAINING))
                .or_else(|| count(&X_HUBSPOT_RATELIMIT_REMAINING))
                .or_else(|| shopify.as_ref().map(Usage::remaining))
        });
        fill(&mut info.limit, || {
            count(&RATELIMIT_LIMIT)
                .or_else(|| count(&X_RATELIMIT_LIMIT))
                .or_else(|| count(&X_RATE_LIMIT_LIMIT))
                .or_else(|| count(&X_HUBSPOT_RATELIMIT_MAX))
                .or_else(|| shopify.map(|u| u.limit))
        });
        fill(&mut info.reset_after, || {
            // The IETF triplet's reset is always a delta (every draft says so).
            one(&RATELIMIT_RESET)
                .and_then(parse_seconds)
                .or_else(|| one(&X_RATELIMIT_RESET_AFTER).and_then(parse_seconds))
                .or_else(|| reset(&X_RATELIMIT_RESET))
                .or_else(|| reset(&X_RATE_LIMIT_RESET))
        });
        fill(&mut info.window, || {
            one(&X_HUBSPOT_RATELIMIT_INTERVAL_MILLISECONDS).and_then(parse_millis)
        });
        fill(&mut info.daily_remaining, || {
            count(&X_HUBSPOT_RATELIMIT_DAILY_REMAINING)
                .or_else(|| salesforce.as_ref().map(Usage::remaining))
        });
        fill(&mut info.daily_limit, || {
            count(&X_HUBSPOT_RATELIMIT_DAILY).or_else(|| salesforce.map(|u| u.limit))
        });
        fill(&mut info.policy, || {
            [&X_RATELIMIT_RESOURCE, &X_RATELIMIT_BUCKET]
                .into_iter()
                .find_map(|name| one(name).and_then(text))
        });

        let pushback = one(&GRPC_RETRY_PUSHBACK_MS).map(parse_grpc_pushback);
        fill(&mut info.should_retry, || {
            one(&STRIPE_SHOULD_RETRY)
                .and_then(parse_bool)
                .or((pushback == Some(GrpcPushback::DoNotRetry)).then_some(false))
        });
        fill(&mut info.retry_after, || match pushback {
            Some(GrpcPushback::RetryAfter(delay)) => Some(delay),
            _ => None,
        });
        info
    }

    /// [`from_headers`](Self::from_headers) against the local clock.
    pub fn from_headers_now(headers: &HeaderMap) -> Self {
        Self::from_headers(headers, SystemTime::now())
    }

    /// True when the response carried no rate-limit signal at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// True when a quota is used up: `remaining` or `daily_remaining` is 0.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0) || self.daily_remaining == Some(0)
    }

    /// How long to wait before the next request, per the server: its
    /// `Retry-After` (which the IETF draft says takes precedence), else the
    /// window reset when the quota is exhausted (GitHub's documented rule),
    /// else `None`.
    pub fn wait_hint(&self) -> Option<Duration> {
        self.retry_after
            .or_else(|| self.reset_after.filter(|_| self.remaining == Some(0)))
    }

    fn apply_ietf(&mut self, status: QuotaStatus) {
        let policy = match &status.policy {
            Some(name) => self
                .policies
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str())),
            None => None,
        }
        .or(match self.policies.as_slice() {
            [only] => Some(only),
            _ => None,
        });
        self.limit = status.limit.or(policy.map(|p| p.quota));
        self.window = policy.and_then(|p| p.window);
        self.remaining = Some(status.remaining);
        self.reset_after = status.reset_after;
        self.policy = status.policy;
    }
}

/// The quota that will run out first.
fn most_restrictive(statuses: &[QuotaStatus]) -> Option<&QuotaStatus> {
    statuses
        .iter()
        .min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset_after)))
}

/// All lines of a list-valued field, joined as RFC 9651 §4.2 prescribes.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<u8>> {
    let mut values = headers.get_all(name).iter();
    let mut out = values.next()?.as_bytes().to_vec();
    for v in values {
        out.extend_from_slice(b", ");
        out.extend_from_slice(v.as_bytes());
    }
    Some(out)
}

fn text(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn fill<T>(slot: &mut Option<T>, value: impl FnOnce() -> Option<T>) {
    if slot.is_none() {
        *slot = value();
    }
}
