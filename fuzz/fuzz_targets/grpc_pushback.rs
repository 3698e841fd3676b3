//! `parse_grpc_pushback`: never panics; any delay within `MAX_DELAY`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tower_pacer::headers::{GrpcPushback, MAX_DELAY, parse_grpc_pushback};

fuzz_target!(|data: &[u8]| {
    if let GrpcPushback::RetryAfter(delay) = parse_grpc_pushback(data) {
        assert!(delay <= MAX_DELAY);
    }
});
