//! Rate-limit headers in the configured dialect, on every response.
//!
//! All figures are real (scaled) time: a client pacing itself from these
//! headers must see the windows the server actually enforces.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::style::HeaderDialect;
use super::window::QuotaStatus;
use crate::units::format_duration;

const DAY: Duration = Duration::from_secs(86_400);

/// Whole seconds, rounded up (the IETF fields take integers only).
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Unix time in whole seconds, rounded up, of `now + d`.
pub(crate) fn epoch_after(d: Duration) -> u64 {
    let at = SystemTime::now()
        .checked_add(d)
        .unwrap_or(SystemTime::now());
    at.duration_since(UNIX_EPOCH).map(ceil_secs).unwrap_or(0)
}

fn put(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    // Every value below is digits, commas, quotes and ASCII names, so it is
    // always a valid header value; skip silently rather than panic if not.
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn policy_name(s: &QuotaStatus) -> String {
    if s.rate {
        "rate".to_owned()
    } else {
        format!("{}-per-{}", s.limit, format_duration(s.nominal))
    }
}

/// The quota a single-quota dialect reports: the one with the least room
/// left (the first on a tie, i.e. the shortest configured window).
fn binding(statuses: &[QuotaStatus]) -> Option<&QuotaStatus> {
    statuses.iter().min_by_key(|s| s.remaining)
}

/// Adds the rate-limit headers of `dialect` describing `statuses`.
pub(crate) fn add_headers(
    headers: &mut HeaderMap,
    dialect: HeaderDialect,
    statuses: &[QuotaStatus],
) {
    if statuses.is_empty() {
        return;
    }
    match dialect {
        HeaderDialect::None => {}
        HeaderDialect::Ietf => {
            // draft-ietf-httpapi-ratelimit-headers-10: two SF Lists.
            let policy: Vec<String> = statuses
                .iter()
                .map(|s| {
                    format!(
                        "\"{}\";q={};w={}",
                        policy_name(s),
                        s.limit,
                        ceil_secs(s.window).max(1)
                    )
                })
                .collect();
            let current: Vec<String> = statuses
                .iter()
                .map(|s| {
                    format!(
                        "\"{}\";r={};t={}",
                        policy_name(s),
                        s.remaining,
                        ceil_secs(s.reset)
                    )
                })
                .collect();
            put(headers, "ratelimit-policy", policy.join(", "));
            put(headers, "ratelimit", current.join(", "));
        }
        HeaderDialect::XRateLimit => {
            if let Some(s) = binding(statuses) {
                put(headers, "x-ratelimit-limit", s.limit);
                put(headers, "x-ratelimit-remaining", s.remaining);
                put(headers, "x-ratelimit-used", s.limit - s.remaining);
                put(headers, "x-ratelimit-reset", epoch_after(s.reset));
                put(headers, "x-ratelimit-resource", "core");
            }
        }
        HeaderDialect::Hubspot => {
            let interval = statuses
                .iter()
                .find(|s| s.nominal < DAY)
                .or(statuses.first());
            if let Some(s) = interval {
                put(headers, "x-hubspot-ratelimit-max", s.limit);
                put(headers, "x-hubspot-ratelimit-remaining", s.remaining);
                put(
                    headers,
                    "x-hubspot-ratelimit-interval-milliseconds",
                    s.window.as_millis(),
                );
            }
            // HubSpot sends the daily pair only when a daily quota applies.
            if let Some(d) = statuses.iter().find(|s| !s.rate && s.nominal >= DAY) {
                put(headers, "x-hubspot-ratelimit-daily", d.limit);
                put(headers, "x-hubspot-ratelimit-daily-remaining", d.remaining);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(limit: u64, nominal_s: u64, remaining: u64, reset_ms: u64) -> QuotaStatus {
        QuotaStatus {
            rate: false,
            limit,
            nominal: Duration::from_secs(nominal_s),
            window: Duration::from_secs(nominal_s),
            remaining,
            reset: Duration::from_millis(reset_ms),
        }
    }

    fn render(dialect: HeaderDialect, s: &[QuotaStatus]) -> HeaderMap {
        let mut h = HeaderMap::new();
        add_headers(&mut h, dialect, s);
        h
    }

    #[test]
    fn ietf_lists_every_quota() {
        let h = render(
            HeaderDialect::Ietf,
            &[status(100, 10, 40, 2_500), status(250_000, 86_400, 9, 0)],
        );
        assert_eq!(
            h["ratelimit-policy"],
            "\"100-per-10s\";q=100;w=10, \"250000-per-1d\";q=250000;w=86400"
        );
        assert_eq!(
            h["ratelimit"],
            "\"100-per-10s\";r=40;t=3, \"250000-per-1d\";r=9;t=0"
        );
        // The emitted fields parse as RFC 9651 lists.
        for name in ["ratelimit-policy", "ratelimit"] {
            let text = h[name].to_str().unwrap();
            assert!(
                sfv::Parser::new(text).parse_list::<sfv::List>().is_ok(),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn x_ratelimit_reports_the_binding_quota() {
        let h = render(
            HeaderDialect::XRateLimit,
            &[status(100, 10, 40, 2_500), status(1_000, 3_600, 0, 60_000)],
        );
        assert_eq!(h["x-ratelimit-limit"], "1000");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-used"], "1000");
        let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 60..=now + 61).contains(&reset), "{reset} vs {now}");
    }

    #[test]
    fn hubspot_interval_and_daily() {
        let h = render(
            HeaderDialect::Hubspot,
            &[status(100, 10, 40, 0), status(250_000, 86_400, 9, 0)],
        );
        assert_eq!(h["x-hubspot-ratelimit-max"], "100");
        assert_eq!(h["x-hubspot-ratelimit-remaining"], "40");
        assert_eq!(h["x-hubspot-ratelimit-interval-milliseconds"], "10000");
        assert_eq!(h["x-hubspot-ratelimit-daily"], "250000");
        assert_eq!(h["x-hubspot-ratelimit-daily-remaining"], "9");
        assert!(render(HeaderDialect::None, &[status(1, 1, 1, 0)]).is_empty());
    }
}
