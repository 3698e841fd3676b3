//! `parse_bool` (`Stripe-Should-Retry`): never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tower_pacer::headers::parse_bool(data);
});
