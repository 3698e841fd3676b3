//! [`RetryError`]: the cases where the retry layer itself refuses.

use std::time::Duration;

/// An error of the retry layer's own making (boxed into
/// [`BoxError`](crate::BoxError), as tower's middleware errors are;
/// downcast to inspect it).
///
/// Running out of attempts, budget or deadline is *not* an error of its
/// own: the caller gets the last attempt's response or error unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryError {
    /// The server asked to be retried later than `retry.max_retry_after`
    /// allows. The layer fails fast instead of sleeping, so the caller (or
    /// a dead-letter store) can decide, knowing when the server will take
    /// the request again.
    #[error(
        "server asked to retry after {requested:?}, more than the configured maximum of {max:?} (after {attempts} attempt(s))"
    )]
    RetryAfterTooLong {
        /// The delay the server asked for (already capped at
        /// [`headers::MAX_DELAY`](crate::headers::MAX_DELAY) by the parser).
        requested: Duration,
        /// The configured `retry.max_retry_after`.
        max: Duration,
        /// Attempts made, all of which were sent.
        attempts: u32,
    },
}

impl RetryError {
    /// The delay the server asked for, if this error carries one.
    pub fn requested_delay(&self) -> Option<Duration> {
        match self {
            Self::RetryAfterTooLong { requested, .. } => Some(*requested),
        }
    }
}
