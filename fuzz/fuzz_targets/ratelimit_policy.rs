//! `parse_ratelimit_policy`: never panics; windows within `MAX_DELAY`, never zero.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, parse_ratelimit_policy};

fuzz_target!(|data: &[u8]| {
    for policy in parse_ratelimit_policy(data) {
        assert!(policy.window.is_none_or(|w| !w.is_zero() && w <= MAX_DELAY));
    }
});
