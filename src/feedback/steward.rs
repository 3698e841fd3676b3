//! [`Steward`]: the one writer of a destination's limiter.

use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;
use crate::classify::{Classification, Outcome};
use crate::rate::{Limiter, Quota};

/// Applies what the stack learns to a destination's [`Limiter`]: the
/// server's delays, the adaptive controller's pauses and rate changes.
/// Every such write goes through here, so that one bound holds for them
/// all and one place decides whose word wins:
///
/// - **The server's word** ([`on_verdict`](Self::on_verdict)): a
///   rate-limited answer with a delay pauses every caller of the
///   destination for the delay plus the safety margin, never longer than
///   `max_pause` plus the margin; the refusal teaches the learned margin
///   (once per episode, see [`Limiter::note_refusal`]), unless it says a
///   daily quota is spent (which says nothing about the short band).
/// - **Pauses** ([`pause_until`](Self::pause_until)), such as the header
///   pacing's "nothing left until the reset": clamped to `max_pause` from
///   now. Pauses only extend — the latest end wins, whoever set it.
/// - **Rates** ([`set_quota`](Self::set_quota)): the adaptive
///   controller's band.
///
/// A clone shares the limiter. The [`Pacer`](crate::Pacer) builds one per
/// destination.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::classify::{Classification, Outcome};
/// use tower_pacer::feedback::Steward;
/// use tower_pacer::rate::{Limiter, Quota};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_pacer::ConfigError> {
/// let limiter = Limiter::new(Quota::per_second(10)?);
/// let steward = Steward::new(limiter.clone(), Duration::from_secs(60), Duration::from_millis(50));
/// // A server asking for ten years is held to the bound.
/// let ten_years = Duration::from_secs(10 * 365 * 86_400);
/// steward.on_verdict(&Classification::new(Outcome::RateLimited { retry_after: Some(ten_years) }));
/// let paused = limiter.paused_until().expect("paused");
/// assert!(paused <= tokio::time::Instant::now() + Duration::from_millis(60_050));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Steward {
    limiter: Limiter,
    max_pause: Duration,
    margin: Duration,
}

impl Steward {
    /// The writer of `limiter`: no pause longer than `max_pause` (plus
    /// `margin` after a server's delay, which lands the next call after the
    /// server's window reopens rather than on its edge).
    pub fn new(limiter: Limiter, max_pause: Duration, margin: Duration) -> Self {
        Self {
            limiter,
            max_pause,
            margin,
        }
    }

    /// The limiter it writes.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// The longest pause it sets (before the margin).
    pub fn max_pause(&self) -> Duration {
        self.max_pause
    }

    /// How long a server's delay of `wait` pauses the destination.
    pub fn pause_length(&self, wait: Duration) -> Duration {
        wait.min(self.max_pause).saturating_add(self.margin)
    }

    /// Applies the server's verdict on one attempt; anything but a
    /// rate-limited answer leaves the limiter alone.
    pub fn on_verdict(&self, verdict: &Classification) {
        let Outcome::RateLimited { retry_after } = verdict.outcome else {
            return;
        };
        if !daily_quota_spent(verdict) {
            // The server's own figures for the band it refused on.
            let named = verdict
                .info
                .as_ref()
                .and_then(|info| Some((info.limit?, info.window?)));
            self.limiter
                .note_refusal(retry_after.map(|wait| self.pause_length(wait)), named);
        }
        if let Some(wait) = retry_after.filter(|wait| !wait.is_zero())
            && let Some(until) = Instant::now().checked_add(self.pause_length(wait))
        {
            tracing::debug!(?wait, "rate limited: pausing the destination");
            self.limiter.pause_until(until);
        }
    }

    /// Pauses every caller of the destination until `until`, at most
    /// `max_pause` from now. An earlier end than a pause already set
    /// changes nothing.
    pub fn pause_until(&self, until: Instant) {
        let now = Instant::now();
        let longest = now.checked_add(self.max_pause).unwrap_or(until);
        self.limiter.pause_until(until.min(longest));
    }

    /// Sets band `band` of the limiter to `quota` (the adaptive rate).
    ///
    /// # Errors
    ///
    /// The limiter's [`ConfigError`] for a band or quota it cannot take.
    pub fn set_quota(&self, band: usize, quota: Quota) -> Result<(), ConfigError> {
        self.limiter.set_quota(band, quota)
    }
}

/// A rate-limited answer whose headers say the daily quota is at zero.
pub(crate) fn daily_quota_spent(verdict: &Classification) -> bool {
    matches!(verdict.outcome, Outcome::RateLimited { .. })
        && verdict
            .info
            .as_ref()
            .is_some_and(|info| info.daily_remaining == Some(0))
}
