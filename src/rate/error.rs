//! Error types of the limiter.

use std::time::Duration;

use tokio::time::Instant;

/// A call the limiter cannot grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// Room for the call is further away than the limiter's `max_wait`.
    ///
    /// Nothing was reserved: the caller (or a dead-letter store) decides
    /// whether to come back at `available_at`.
    #[error("quota exhausted: room in {wait:?}, beyond max_wait {max_wait:?}")]
    QuotaExhausted {
        /// When room for the call will be available (as things stand now).
        available_at: Instant,
        /// How long from now that is.
        wait: Duration,
        /// The longest wait that was allowed.
        max_wait: Duration,
    },
    /// The call costs more than one band of the limit can ever hold, so it
    /// could never be granted.
    #[error("cost {cost} exceeds the capacity {capacity} of quota band {band}")]
    CostTooLarge {
        /// The call's cost.
        cost: u64,
        /// The largest cost the band grants (its burst or window limit).
        capacity: u64,
        /// The index of the band, in the order quotas were added.
        band: usize,
    },
    /// The limiter could not decide, and refuses rather than risk the quota.
    ///
    /// A limiter shared through Redis (feature `redis`) returns it when
    /// Redis does not answer in time and its fallback is to fail closed,
    /// and from the synchronous methods it cannot serve
    /// ([`Limiter::reserve`](super::Limiter::reserve),
    /// [`Limiter::try_acquire`](super::Limiter::try_acquire)): a shared
    /// limiter reserves asynchronously, through
    /// [`Limiter::acquire`](super::Limiter::acquire) or the
    /// [`RateLimit`](super::RateLimit) layer. Nothing was reserved; the
    /// call did not go out.
    #[error("rate limiter unavailable: {reason}")]
    Unavailable {
        /// What went wrong, in words.
        reason: String,
    },
}

impl RateError {
    /// When room will be available, for [`RateError::QuotaExhausted`].
    pub fn available_at(&self) -> Option<Instant> {
        match self {
            RateError::QuotaExhausted { available_at, .. } => Some(*available_at),
            RateError::CostTooLarge { .. } | RateError::Unavailable { .. } => None,
        }
    }
}
