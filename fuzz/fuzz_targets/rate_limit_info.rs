//! `RateLimitInfo::from_headers` over whole header maps: never panics; every
//! duration within `MAX_DELAY`. Input: lines, the first byte of each picks
//! the header name, the rest is its value.
#![no_main]
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, RateLimitInfo, names::*};

fuzz_target!(|data: &[u8]| {
    let names = [
        RETRY_AFTER,
        DATE,
        RATELIMIT,
        RATELIMIT_POLICY,
        RATELIMIT_LIMIT,
        RATELIMIT_REMAINING,
        RATELIMIT_RESET,
        X_RATELIMIT_LIMIT,
        X_RATELIMIT_REMAINING,
        X_RATELIMIT_RESET,
        X_RATELIMIT_RESET_AFTER,
        X_RATELIMIT_RESOURCE,
        X_RATE_LIMIT_RESET,
        X_HUBSPOT_RATELIMIT_INTERVAL_MILLISECONDS,
        X_HUBSPOT_RATELIMIT_DAILY_REMAINING,
        X_SHOPIFY_SHOP_API_CALL_LIMIT,
        SFORCE_LIMIT_INFO,
        STRIPE_SHOULD_RETRY,
        GRPC_RETRY_PUSHBACK_MS,
    ];
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&pick, value)) = line.split_first() else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(names[usize::from(pick) % names.len()].clone(), value);
        }
    }
    let info = RateLimitInfo::from_headers(&headers, SystemTime::now());
    let capped = |d: Option<std::time::Duration>| d.is_none_or(|d| d <= MAX_DELAY);
    assert!(capped(info.retry_after) && capped(info.reset_after) && capped(info.window));
});
