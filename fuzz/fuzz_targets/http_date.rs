//! `parse_http_date`: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tower_pacer::headers::parse_http_date(data);
});
