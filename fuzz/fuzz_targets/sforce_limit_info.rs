//! `parse_sforce_limit_info`: never panics; names are never empty.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::parse_sforce_limit_info;

fuzz_target!(|data: &[u8]| {
    for (name, _) in parse_sforce_limit_info(data) {
        assert!(!name.is_empty());
    }
});
