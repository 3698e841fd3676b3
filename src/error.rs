//! The crate's flat error types: the configuration error shared by every
//! builder, the parse error, and the limiter's refusal ([`RateError`], kept
//! here so that modules below `rate`, such as `classify`, need not import it).

use std::borrow::Cow;
use std::time::Duration;

use tokio::time::Instant;

/// A configuration value was rejected at construction time.
///
/// Every builder in the crate validates its input up front and returns this
/// error, naming the offending field (`quota.burst`, `retry.max_attempts`…),
/// so that bad configuration never turns into a panic later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    field: Cow<'static, str>,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// A new error for `field`, explaining what is wrong with it.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The configuration field that was rejected, e.g. `quota.burst`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why the value was rejected, e.g. `must be ≥ 1`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error, with a leading `from` in its field replaced by `to`
    /// (`quota.burst` becomes `quotas[1].burst`).
    pub fn renamed(self, from: &str, to: &str) -> Self {
        let field = match self.field.strip_prefix(from) {
            Some(rest) if rest.is_empty() || rest.starts_with('.') => {
                Cow::Owned(format!("{to}{rest}"))
            }
            _ => self.field,
        };
        Self {
            field,
            reason: self.reason,
        }
    }

    /// The same error, with its field placed under `prefix`
    /// (`burst` under `quotas[1]` becomes `quotas[1].burst`).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: Cow::Owned(format!("{prefix}.{}", self.field)),
            reason: self.reason,
        }
    }
}

/// A string (a duration, a quota, a flag value) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {input:?}: {reason}")]
pub struct ParseError {
    input: String,
    reason: String,
}

impl ParseError {
    /// A new error: `input` could not be read, because `reason`.
    pub fn new(input: &str, reason: &str) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The text that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }
}

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
    /// ([`Limiter::reserve`](crate::rate::Limiter::reserve),
    /// [`Limiter::try_acquire`](crate::rate::Limiter::try_acquire)): a shared
    /// limiter reserves asynchronously, through
    /// [`Limiter::acquire`](crate::rate::Limiter::acquire) or the
    /// [`RateLimit`](crate::rate::RateLimit) layer. Nothing was reserved; the
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
