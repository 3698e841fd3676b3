//! `parse_ratelimit` (IETF -07..-10): never panics; resets within `MAX_DELAY`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, parse_ratelimit};

fuzz_target!(|data: &[u8]| {
    for status in parse_ratelimit(data) {
        assert!(status.reset_after.is_none_or(|d| d <= MAX_DELAY));
    }
});
