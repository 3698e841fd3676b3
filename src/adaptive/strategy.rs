//! The [`AdaptiveStrategy`] trait and the [`Rate`] a strategy asks for.

use std::fmt;

use tokio::time::Instant;

/// The send rate a strategy wants the limiter to enforce.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Rate {
    /// No limit from the strategy (yet): CUBIC before its first throttle.
    Unlimited,
    /// At most this many calls per second (finite, > 0).
    PerSecond(f64),
}

impl Rate {
    /// The rate in calls per second; `f64::INFINITY` when unlimited.
    pub fn per_second(self) -> f64 {
        match self {
            Rate::Unlimited => f64::INFINITY,
            Rate::PerSecond(rate) => rate,
        }
    }

    /// The lower of two rates.
    pub fn min(self, other: Rate) -> Rate {
        match (self, other) {
            (Rate::Unlimited, other) => other,
            (this, Rate::Unlimited) => this,
            (Rate::PerSecond(a), Rate::PerSecond(b)) => Rate::PerSecond(a.min(b)),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Unlimited => f.write_str("unlimited"),
            Rate::PerSecond(rate) => write!(f, "{rate:.2}/s"),
        }
    }
}

/// A rule that turns the server's feedback into a send rate.
///
/// A [`RateController`](super::RateController) calls it with every
/// attempt it sees: [`on_sent`](Self::on_sent) when the attempt enters the
/// limiter, then [`on_success`](Self::on_success) or
/// [`on_throttle`](Self::on_throttle) when its result is classified
/// (other outcomes, such as a 500 or a transport error, are not reported:
/// they say nothing about the rate). Each call returns the rate the
/// strategy wants from then on.
///
/// `sent` is when the attempt entered the limiter; a strategy compares it
/// with the time of its last decrease to tell an old 429 (from a request
/// already queued before the decrease) from a new one.
///
/// Implementations: [`Aimd`](super::Aimd), [`Cubic`](super::Cubic).
pub trait AdaptiveStrategy: fmt::Debug + Send + 'static {
    /// An attempt entered the limiter at `at`.
    fn on_sent(&mut self, at: Instant);

    /// The attempt sent at `sent` succeeded; the response came at `now`.
    fn on_success(&mut self, sent: Instant, now: Instant) -> Rate;

    /// The attempt sent at `sent` was throttled (a 429, or a 403 with an
    /// exhausted quota); the response came at `now`.
    fn on_throttle(&mut self, sent: Instant, now: Instant) -> Rate;

    /// The rate the strategy wants now.
    fn rate(&self) -> Rate;
}
