//! GCRA ("token bucket as one theoretical arrival time") accounting of a
//! rate with burst, as a pure struct driven by explicit instants.

use std::time::Duration;

use tokio::time::Instant;

use super::config::RateQuota;
use super::window::QuotaStatus;

/// GCRA state of one key.
#[derive(Debug, Clone)]
pub struct Gcra {
    quota: RateQuota,
    /// Emission interval T, rounded *up* to the nanosecond so rounding can
    /// only make the server stricter than the configured rate, never laxer.
    interval: Duration,
    /// (burst − 1) × T: how far ahead of `now` the arrival time may run.
    tolerance: Duration,
    /// Theoretical arrival time of the next conforming request.
    tat: Option<Instant>,
}

impl Gcra {
    /// State for `quota` whose real period is `period`.
    pub fn new(quota: RateQuota, period: Duration) -> Self {
        let count = u128::from(quota.count.max(1));
        let nanos = period.as_nanos().div_ceil(count).max(1);
        let interval = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let tolerance = interval
            .saturating_mul(u32::try_from(quota.burst.saturating_sub(1)).unwrap_or(u32::MAX));
        Self {
            quota,
            interval,
            tolerance,
            tat: None,
        }
    }

    /// Emission interval (real).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn ahead(&self, now: Instant) -> Duration {
        self.tat
            .map(|tat| tat.saturating_duration_since(now))
            .unwrap_or_default()
    }

    /// How long from `now` until a request conforms (zero if it does now).
    pub fn wait(&self, now: Instant) -> Duration {
        self.ahead(now).saturating_sub(self.tolerance)
    }

    /// Records a conforming request at `now`.
    pub fn admit(&mut self, now: Instant) {
        let base = match self.tat {
            Some(tat) if tat > now => tat,
            _ => now,
        };
        self.tat = Some(base + self.interval);
    }

    /// The rate's standing at `now`: `limit` is the burst.
    pub fn status(&self, now: Instant) -> QuotaStatus {
        let ahead = self.ahead(now);
        let remaining = match self.tolerance.checked_sub(ahead) {
            Some(slack) => (slack.as_nanos() / self.interval.as_nanos()) as u64 + 1,
            None => 0,
        };
        QuotaStatus {
            rate: true,
            limit: self.quota.burst,
            nominal: self.quota.period,
            window: self
                .interval
                .saturating_mul(u32::try_from(self.quota.burst).unwrap_or(u32::MAX)),
            remaining: remaining.min(self.quota.burst),
            reset: if remaining == 0 {
                self.wait(now)
            } else {
                ahead
            },
        }
    }
}
