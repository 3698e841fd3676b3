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
    #[error("batch call failed: {0}")]
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
