//! What a classifier decides: [`Outcome`], [`Classification`], [`StatusRule`].

use std::time::Duration;

use crate::headers::RateLimitInfo;

/// What one attempt's result means for retrying and pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// It worked (or failed in a way no retry changes and that is not an
    /// error to this layer, such as a 3xx).
    Success,
    /// The server said "too many requests": pause the destination and retry
    /// after `retry_after`, or after a backoff when the server gave none.
    RateLimited {
        /// How long the server asked the client to wait.
        retry_after: Option<Duration>,
    },
    /// A failure that a later attempt may not see.
    Transient {
        /// How long the server asked the client to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// A failure that retrying cannot fix.
    Permanent,
}

impl Outcome {
    /// True for [`RateLimited`](Self::RateLimited) and
    /// [`Transient`](Self::Transient).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient { .. })
    }

    /// The server-requested delay of a retryable outcome.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Transient { retry_after } => *retry_after,
            Self::Success | Self::Permanent => None,
        }
    }
}

/// A classifier's verdict on one result: the [`Outcome`], the parsed
/// rate-limit headers (so the limiter can be tuned without parsing them
/// again) and whether the request provably never left the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// What the result means.
    pub outcome: Outcome,
    /// The response's rate-limit signals; `None` when it had none (or
    /// there was no response).
    pub info: Option<RateLimitInfo>,
    /// True when the request was provably never sent (e.g. connection
    /// refused), which makes a retry safe for any method, POST included
    /// (RFC 9110 §9.2.2: "the original request was never applied").
    pub not_sent: bool,
}

impl Classification {
    /// A classification with no header info, sent.
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            info: None,
            not_sent: false,
        }
    }

    /// Attaches the response's rate-limit info; an empty one is dropped,
    /// so `info.is_some()` means "the server sent signals".
    pub fn with_info(mut self, info: RateLimitInfo) -> Self {
        self.info = (!info.is_empty()).then_some(info);
        self
    }

    /// Marks whether the request provably never left the client.
    pub fn with_not_sent(mut self, not_sent: bool) -> Self {
        self.not_sent = not_sent;
        self
    }

    /// Shorthand for `self.outcome.is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.outcome.is_retryable()
    }

    /// Shorthand for `self.outcome.retry_after()`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.outcome.retry_after()
    }
}

impl From<Outcome> for Classification {
    fn from(outcome: Outcome) -> Self {
        Self::new(outcome)
    }
}

/// The verdict a classifier gives one status code, before the server's
/// requested delay is attached. Used to override the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusRule {
    /// → [`Outcome::Success`].
    Success,
    /// → [`Outcome::RateLimited`].
    RateLimited,
    /// → [`Outcome::Transient`].
    Transient,
    /// → [`Outcome::Permanent`].
    Permanent,
}

impl StatusRule {
    /// The outcome, carrying `retry_after` when it is retryable.
    pub fn outcome(self, retry_after: Option<Duration>) -> Outcome {
        match self {
            Self::Success => Outcome::Success,
            Self::RateLimited => Outcome::RateLimited { retry_after },
            Self::Transient => Outcome::Transient { retry_after },
            Self::Permanent => Outcome::Permanent,
        }
    }
}
