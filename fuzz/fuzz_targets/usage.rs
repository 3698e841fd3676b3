//! `parse_usage` (Shopify `used/limit`): never panics; remaining <= limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::parse_usage;

fuzz_target!(|data: &[u8]| {
    if let Some(usage) = parse_usage(data) {
        assert!(usage.remaining() <= usage.limit);
    }
});
