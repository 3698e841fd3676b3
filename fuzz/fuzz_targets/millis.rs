//! `parse_millis`: never panics; within `MAX_DELAY`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, parse_millis};

fuzz_target!(|data: &[u8]| {
    assert!(parse_millis(data).is_none_or(|d| d <= MAX_DELAY));
});
