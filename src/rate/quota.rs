//! Quotas: what a destination allows, in the two ways real APIs count.

use std::time::Duration;

use crate::ConfigError;

/// One band of a rate limit.
///
/// Real APIs count in two ways, and the difference matters:
///
/// - a **rate with burst** ([`Quota::rate`]): `count` calls per `period` on
///   average, with up to `burst` calls at once after a quiet spell. This is
///   the generic cell rate algorithm (GCRA), equivalent to a token bucket;
///   nginx `limit_req`, leaky buckets and Shopify count this way.
/// - a **window** ([`Quota::window`]): at most `limit` calls in *any*
///   interval of length `window` (an exact sliding window). "100 requests
///   per 10 seconds" at HubSpot means this. A rate of 10/s with burst 100
///   would let about 200 calls through in one 10 s interval; a window quota
///   never does.
///
/// A [`Limiter`](super::Limiter) can hold several bands at once (for example
/// `100 / 10 s` and `250 000 / day`); a call then needs room in all of them.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::rate::Quota;
///
/// # fn main() -> Result<(), tower_pacer::ConfigError> {
/// // 10 per second, evenly spaced (burst 1).
/// let smooth = Quota::per_second(10)?;
/// // 40 per 2 s with bursts of up to 40 (Shopify's leaky bucket).
/// let shopify = Quota::rate(2, Duration::from_secs(1))?.with_burst(40)?;
/// // At most 100 calls in any 10 s.
/// let hubspot = Quota::window(100, Duration::from_secs(10))?;
/// # let _ = (smooth, shopify, hubspot);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    kind: QuotaKind,
}

/// What a band of a [`Limiter`](super::Limiter) is for; see
/// [`LimiterBuilder::band`](super::LimiterBuilder::band) and
/// [`Limiter::band`](super::Limiter::band).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BandRole {
    /// A limit the server sets (the default): what
    /// [`LimiterBuilder::quota`](super::LimiterBuilder::quota) adds.
    #[default]
    Quota,
    /// A band an adaptive rate controller steers: a pace the client chose,
    /// not a server's limit.
    Adaptive,
}

/// The two kinds of [`Quota`], for inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuotaKind {
    /// `count` calls per `period`, bursts of up to `burst` (GCRA).
    Rate {
        /// Calls per period.
        count: u64,
        /// The period.
        period: Duration,
        /// The largest number of calls allowed at one instant.
        burst: u64,
    },
    /// At most `limit` calls in any interval of length `window`.
    Window {
        /// Calls allowed per window.
        limit: u64,
        /// The window's length.
        window: Duration,
    },
}

/// The longest period or window accepted: a year, far beyond any real quota,
/// and small enough that every derived figure fits in 64-bit nanoseconds.
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);

impl Quota {
    /// `count` calls per `period`, evenly spaced (burst 1); see
    /// [`with_burst`](Self::with_burst) to allow bursts.
    ///
    /// Errors name the field: `quota.count` must be ≥ 1 and at most one
    /// call per nanosecond of the period (`u64::MAX` per second is refused,
    /// not taken as "unlimited"), `quota.period` must be non-zero and at
    /// most [`MAX_PERIOD`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_pacer::rate::Quota;
    ///
    /// assert!(Quota::rate(100, Duration::from_secs(10)).is_ok());
    /// let error = Quota::per_second(u64::MAX).unwrap_err();
    /// assert!(error.to_string().contains("quota.count"));
    /// ```
    pub fn rate(count: u64, period: Duration) -> Result<Self, ConfigError> {
        check_period("quota.period", period)?;
        check_count("quota.count", count, period)?;
        Ok(Self {
            kind: QuotaKind::Rate {
                count,
                period,
                burst: 1,
            },
        })
    }

    /// `count` calls per second, evenly spaced.
    pub fn per_second(count: u64) -> Result<Self, ConfigError> {
        Self::rate(count, Duration::from_secs(1))
    }

    /// `count` calls per minute, evenly spaced.
    pub fn per_minute(count: u64) -> Result<Self, ConfigError> {
        Self::rate(count, Duration::from_secs(60))
    }

    /// `count` calls per hour, evenly spaced.
    pub fn per_hour(count: u64) -> Result<Self, ConfigError> {
        Self::rate(count, Duration::from_secs(3600))
    }

    /// A rate given as calls per second, possibly fractional (`0.5` = one
    /// call every two seconds). Adaptive controllers work in this unit.
    ///
    /// `quota.rate` must be finite, positive and at most one call per
    /// nanosecond.
    pub fn per_second_f64(rate: f64) -> Result<Self, ConfigError> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(ConfigError::new(
                "quota.rate",
                "must be a finite number of calls per second > 0",
            ));
        }
        // One call every 1/rate seconds, expressed as 1 call per period.
        let nanos = (1e9 / rate).ceil();
        if !(1.0..=MAX_PERIOD.as_nanos() as f64).contains(&nanos) {
            return Err(ConfigError::new(
                "quota.rate",
                "must lie between one call a year and one call a nanosecond",
            ));
        }
        Self::rate(1, Duration::from_nanos(nanos as u64))
    }

    /// At most `limit` calls in any interval of length `window`.
    ///
    /// `quota.limit` must be ≥ 1 and at most one call per nanosecond of the
    /// window; `quota.window` non-zero and at most [`MAX_PERIOD`].
    pub fn window(limit: u64, window: Duration) -> Result<Self, ConfigError> {
        check_period("quota.window", window)?;
        check_count("quota.limit", limit, window)?;
        Ok(Self {
            kind: QuotaKind::Window { limit, window },
        })
    }

    /// The same rate, with bursts of up to `burst` calls.
    ///
    /// `quota.burst` must be ≥ 1 and small enough that a full burst spans
    /// at most [`MAX_PERIOD`] of the rate; on a window quota it is an error
    /// (a window's burst is its limit).
    pub fn with_burst(self, burst: u64) -> Result<Self, ConfigError> {
        match self.kind {
            QuotaKind::Rate { count, period, .. } => {
                if burst == 0 {
                    return Err(ConfigError::new("quota.burst", "must be ≥ 1"));
                }
                let quota = Self {
                    kind: QuotaKind::Rate {
                        count,
                        period,
                        burst,
                    },
                };
                let interval = quota.emission_interval_nanos();
                match interval.checked_mul(burst) {
                    Some(span) if span <= MAX_PERIOD.as_nanos() as u64 => Ok(quota),
                    _ => Err(ConfigError::new(
                        "quota.burst",
                        "too large: a full burst would span more than a year of the rate",
                    )),
                }
            }
            QuotaKind::Window { .. } => Err(ConfigError::new(
                "quota.burst",
                "a window quota has no separate burst (its limit is the burst)",
            )),
        }
    }

    /// What kind of quota this is, with its figures.
    pub fn kind(&self) -> QuotaKind {
        self.kind
    }

    /// The most a single call may cost under this quota: the burst of a
    /// rate, the limit of a window.
    pub fn capacity(&self) -> u64 {
        match self.kind {
            QuotaKind::Rate { burst, .. } => burst,
            QuotaKind::Window { limit, .. } => limit,
        }
    }

    /// The sustained spacing between calls, in nanoseconds (rounded up, so
    /// the limiter never runs faster than the quota).
    pub(crate) fn emission_interval_nanos(&self) -> u64 {
        let (count, period) = match self.kind {
            QuotaKind::Rate { count, period, .. } => (count, period),
            QuotaKind::Window { limit, window } => (limit, window),
        };
        // period ≤ MAX_PERIOD, so the nanos fit in u64; count ≥ 1.
        let nanos = period.as_nanos() as u64;
        nanos.div_ceil(count).max(1)
    }

    /// How long a band that was just spent takes to look untouched again:
    /// the window, or the time a rate takes to refill its whole burst.
    /// After that long without calls, forgetting the band's state loses
    /// nothing.
    pub fn refill_time(&self) -> Duration {
        match self.kind {
            QuotaKind::Window { window, .. } => window,
            QuotaKind::Rate { burst, .. } => {
                Duration::from_nanos(self.emission_interval_nanos().saturating_mul(burst))
            }
        }
    }

    /// The sustained rate in calls per second.
    pub fn per_second_rate(&self) -> f64 {
        1e9 / self.emission_interval_nanos() as f64
    }
}

/// A count must be ≥ 1 and at most one call per nanosecond of its period:
/// the limiter spaces calls in whole nanoseconds, so a larger count (say
/// `u64::MAX`) would silently mean one per nanosecond, not what was asked.
fn check_count(field: &'static str, value: u64, period: Duration) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be ≥ 1"));
    }
    if u128::from(value) > period.as_nanos() {
        return Err(ConfigError::new(
            field,
            "must be at most one call per nanosecond of the period (for \"no limit\", leave the quota out)",
        ));
    }
    Ok(())
}

fn check_period(field: &'static str, value: Duration) -> Result<(), ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(field, "must be longer than zero"));
    }
    if value > MAX_PERIOD {
        return Err(ConfigError::new(field, "must be at most a year"));
    }
    Ok(())
}
