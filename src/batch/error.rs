//! Error types.

use std::sync::Arc;

use crate::BoxError;

/// Why one item of a batch did not get a result.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The batch call went through, but the API refused this item.
    #[error("item refused: {0}")]
    Item(String),
    /// The whole batch call failed; every item of the batch gets this
    /// (shared) error.
    /// (Its message hides what [`Redaction`](crate::redact::Redaction)
    /// hides: transport errors repeat URLs.)
    #[error("batch call failed: {}", crate::redact::default_rules().text(&.0.to_string()))]
    Batch(Arc<BoxError>),
    /// The batch response did not mention this item.
    #[error("the batch response has no result for this item")]
    Missing,
    /// The batch worker is gone (its runtime shut down).
    #[error("the batch worker has stopped")]
    Closed,
    /// `call` came without a ready `poll_ready` while the queue was full:
    /// the item was not queued (the worker is fine). Wait for room with
    /// `poll_ready` (`ServiceExt::ready`, `oneshot`) before `call`.
    #[error("the batch queue is full (call without poll_ready)")]
    QueueFull,
}

impl BatchError {
    pub(crate) fn batch(error: impl Into<BoxError>) -> Self {
        BatchError::Batch(Arc::new(error.into()))
    }
}

/// A batch call answered with a failure status: every item of the batch
/// gets it (inside [`BatchError::Batch`]), with the attempts the stack
/// below the batch layer made (its [`Retry`](crate::retry::Retry) layer's
/// count; 1 without one), so a dead letter says how hard it was tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("batch call answered HTTP {status} after {attempts} attempt(s)")]
#[non_exhaustive]
pub struct BatchStatusError {
    /// The batch call's final status.
    pub status: http::StatusCode,
    /// Attempts made for the batch call, the first included.
    pub attempts: u32,
}

impl BatchStatusError {
    /// The status error of a batch call made in `attempts` attempts.
    pub fn new(status: http::StatusCode, attempts: u32) -> Self {
        Self { status, attempts }
    }
}

impl BatchError {
    /// The attempts made for the batch call this error comes from, when
    /// the call answered with a failure status ([`BatchStatusError`]).
    pub fn attempts(&self) -> Option<u32> {
        match self {
            BatchError::Batch(error) => error
                .downcast_ref::<BatchStatusError>()
                .map(|status| status.attempts),
            _ => None,
        }
    }
}
