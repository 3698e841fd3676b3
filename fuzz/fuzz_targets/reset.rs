//! `parse_reset` (epoch or delta): never panics; within `MAX_DELAY`.
#![no_main]
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{MAX_DELAY, parse_reset};

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for date in [None, Some(UNIX_EPOCH)] {
        if let Some(delay) = parse_reset(data, now, date) {
            assert!(delay <= MAX_DELAY);
        }
    }
});
