//! `parse_seconds`: never panics; within `MAX_DELAY`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, parse_seconds};

fuzz_target!(|data: &[u8]| {
    assert!(parse_seconds(data).is_none_or(|d| d <= MAX_DELAY));
});
