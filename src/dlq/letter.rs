//! A dead letter: a request that failed for good, with why.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// Why a request ended up a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The attempts (or the retry budget, or the deadline) ran out on a
    /// retryable failure: a 429, a 503, a timeout.
    RetriesExhausted,
    /// The server asked to be retried later than the policy allows
    /// (`RetryError::RetryAfterTooLong`).
    RetryAfterTooLong,
    /// The server refused the request in a way no retry changes (a 4xx).
    Permanent,
    /// The quota had no room within `max_wait` (`RateError::QuotaExhausted`).
    QuotaExhausted,
    /// The request failed without a response.
    Transport,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The kind's stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::RetriesExhausted => "retries_exhausted",
            FailureKind::RetryAfterTooLong => "retry_after_too_long",
            FailureKind::Permanent => "permanent",
            FailureKind::QuotaExhausted => "quota_exhausted",
            FailureKind::Transport => "transport",
            FailureKind::Other => "other",
        }
    }

    /// The kind named `name` ([`Other`](Self::Other) if unknown).
    pub fn parse(name: &str) -> Self {
        match name {
            "retries_exhausted" => FailureKind::RetriesExhausted,
            "retry_after_too_long" => FailureKind::RetryAfterTooLong,
            "permanent" => FailureKind::Permanent,
            "quota_exhausted" => FailureKind::QuotaExhausted,
            "transport" => FailureKind::Transport,
            _ => FailureKind::Other,
        }
    }
}

/// The header (value `true`) on a [`DeadLetter`] whose request body was not
/// captured — a stream, or a body not readable at once: its
/// [`body`](DeadLetter::body) is empty, and the
/// [`Replayer`](super::Replayer) skips it, since a replay would send an
/// empty body and, if that succeeded, delete the only record of the real
/// one. Such a letter stays in the store for a person to handle.
pub const BODY_NOT_CAPTURED: &str = "x-pacer-body-not-captured";

/// A request that failed for good, kept with its payload so it can be
/// replayed later. Credentials are redacted before it is built (see
/// [`Redaction`](super::Redaction)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The store's id (empty until stored).
    pub id: String,
    /// The destination (the pacer's name, or the host).
    pub destination: String,
    /// The HTTP method.
    pub method: String,
    /// The full URI, credentials redacted (userinfo and key-bearing query
    /// parameters; see [`Redaction::uri`](super::Redaction::uri)).
    pub uri: String,
    /// The request headers, credentials redacted, plus
    /// [`BODY_NOT_CAPTURED`] if the body was not kept.
    pub headers: Vec<(String, Bytes)>,
    /// The request body (empty if it was not captured: see
    /// [`BODY_NOT_CAPTURED`]).
    pub body: Bytes,
    /// Why it failed.
    pub kind: FailureKind,
    /// The error or final status, in words.
    pub message: String,
    /// Attempts made so far (replays included).
    pub attempts: u32,
    /// When it was first attempted.
    pub first_attempt: SystemTime,
    /// When it was last attempted.
    pub last_attempt: SystemTime,
}

impl DeadLetter {
    /// A letter for a request that failed now.
    pub fn new(
        destination: impl Into<String>,
        method: impl Into<String>,
        uri: impl Into<String>,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            id: String::new(),
            destination: destination.into(),
            method: method.into(),
            uri: uri.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            kind: FailureKind::Other,
            message: String::new(),
            attempts: 1,
            first_attempt: now,
            last_attempt: now,
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// The instant `millis` after the Unix epoch (the epoch if negative).
pub(crate) fn from_unix_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// A new store id: time-ordered, and unique across the processes sharing
/// a store (the process id) and within one (a counter).
pub(crate) fn new_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{nanos:032x}-{:08x}-{n:08x}", std::process::id())
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// Byte strings as one blob: for each, its length (u32, big-endian) and
/// its bytes.
pub(crate) fn encode_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// The parts of [`encode_parts`]; a damaged blob yields what could be read.
pub(crate) fn decode_parts(mut blob: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    while let Some((len, rest)) = blob.split_first_chunk::<4>() {
        let Some(part) = usize::try_from(u32::from_be_bytes(*len))
            .ok()
            .and_then(|len| Some((rest.get(..len)?, rest.get(len..)?)))
        else {
            break;
        };
        parts.push(part.0.to_vec());
        blob = part.1;
    }
    parts
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// Headers as one blob: each name, then its value (see [`encode_parts`]).
pub(crate) fn encode_headers(headers: &[(String, Bytes)]) -> Vec<u8> {
    encode_parts(
        headers
            .iter()
            .flat_map(|(name, value)| [name.as_bytes(), value.as_ref()]),
    )
}

#[cfg(any(feature = "sqlite", feature = "redis"))]
/// The headers of [`encode_headers`]; a damaged blob yields what could be read.
pub(crate) fn decode_headers(blob: &[u8]) -> Vec<(String, Bytes)> {
    let mut parts = decode_parts(blob).into_iter();
    let mut headers = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        headers.push((
            String::from_utf8_lossy(&name).into_owned(),
            Bytes::from(value),
        ));
    }
    headers
}
