//! Keys are credentials: the mock never shows one. Statistics and response
//! bodies name a key by a short stable fingerprint instead.

use crate::handler::ANONYMOUS_KEY;

/// Tenant of the keys beyond the key table's size (see `state`).
pub(crate) const OVERFLOW_KEY: &str = "~overflow~";

/// How the mock names `key` in `GET /__stats`, [`MockStats::keys`](crate::MockStats::keys)
/// and response bodies: `k-` and 12 hex digits of a hash of the key
/// (`anonymous` and `~overflow~` stay as they are).
///
/// It identifies, it does not protect: 48 bits of a non-cryptographic hash
/// cannot give back a real token, but a guessable key ("demo") can be
/// guessed and checked. Tests find their key's figures with it:
///
/// ```
/// use pacer_mock::key_fingerprint;
/// assert_eq!(key_fingerprint("anonymous"), "anonymous");
/// assert_eq!(key_fingerprint("s3cr3t-token").len(), 14);
/// assert!(!key_fingerprint("s3cr3t-token").contains("s3cr3t"));
/// ```
pub fn key_fingerprint(key: &str) -> String {
    if key == ANONYMOUS_KEY || key == OVERFLOW_KEY {
        return key.to_owned();
    }
    // FNV-1a, 64 bits: stable across builds and platforms.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("k-{:012x}", hash >> 16)
}
