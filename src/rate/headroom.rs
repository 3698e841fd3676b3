//! [`Headroom`]: how far under its quotas a limiter runs.

use std::time::Duration;

use super::MAX_PERIOD;
use super::clock::nanos;
use super::gcra::GcraParams;
use super::quota::Quota;
use crate::ConfigError;

/// A safety margin between the quota and what the limiter grants.
///
/// The server counts arrival times, not send times: network jitter can push
/// two calls sent a window apart into one window. Running slightly under the
/// quota absorbs that.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Headroom {
    /// The share of each quota the limiter grants, in `(0, 1]` (0.98 = run
    /// at 98 %). A rate's interval is divided by it, a window's limit is
    /// multiplied by it (rounded down, at least 1).
    pub fraction: f64,
    /// Added to every window and every rate's period; at most
    /// [`MAX_PERIOD`](super::MAX_PERIOD).
    pub margin: Duration,
}

impl Headroom {
    /// Grant `fraction` of each quota, with `margin` added to every window
    /// and period (checked when the limiter is built).
    pub const fn new(fraction: f64, margin: Duration) -> Self {
        Self { fraction, margin }
    }

    /// Checks that `quota`, band `band`, stays within the limiter's range
    /// once narrowed: a rate's full burst, slowed by the headroom, must
    /// span at most [`MAX_PERIOD`](super::MAX_PERIOD), as
    /// [`Quota::with_burst`] requires of the quota itself. Beyond that the
    /// band's figures no longer fit in 64-bit nanoseconds, and saturating
    /// them would admit every call.
    pub(crate) fn check_band(&self, band: usize, quota: &Quota) -> Result<(), ConfigError> {
        let Some(params) = GcraParams::new(quota, self) else {
            return Ok(());
        };
        match params.interval.checked_mul(params.burst) {
            Some(span) if span <= nanos(MAX_PERIOD) => Ok(()),
            _ => Err(ConfigError::new(
                format!("quotas[{band}]"),
                "slowed by the headroom, a full burst would span more than a year of the rate",
            )),
        }
    }
}

impl Default for Headroom {
    fn default() -> Self {
        Self {
            fraction: 1.0,
            margin: Duration::ZERO,
        }
    }
}
