//! gRPC `grpc-retry-pushback-ms` (gRFC A6, client retries).

use std::time::Duration;

use super::num;

/// What a server's `grpc-retry-pushback-ms` asks of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrpcPushback {
    /// Retry after exactly this delay (clamped to
    /// [`MAX_DELAY`](super::MAX_DELAY)), then restart the backoff.
    RetryAfter(Duration),
    /// Do not retry this call.
    DoNotRetry,
}

/// Parses a `grpc-retry-pushback-ms` value.
///
/// gRFC A6 defines it as an "ASCII encoded signed 32-bit integer with no
/// unnecessary leading zeros" and says that a negative **or unparseable**
/// value means the client must not retry; so, unlike every other parser in
/// this module, garbage does not mean "absent" here but
/// [`GrpcPushback::DoNotRetry`]. Leading zeros are tolerated.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::headers::{parse_grpc_pushback, GrpcPushback};
///
/// assert_eq!(parse_grpc_pushback(b"250"), GrpcPushback::RetryAfter(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_pushback(b"-1"), GrpcPushback::DoNotRetry);
/// assert_eq!(parse_grpc_pushback(b"soon"), GrpcPushback::DoNotRetry);
/// ```
pub fn parse_grpc_pushback(value: &[u8]) -> GrpcPushback {
    let value = num::trim(value);
    match num::digits_u64(value) {
        // Only a non-negative i32 is a valid pushback.
        Some(ms) if ms <= i32::MAX as u64 => {
            GrpcPushback::RetryAfter(num::clamp(Duration::from_millis(ms)))
        }
        _ => GrpcPushback::DoNotRetry,
    }
}
