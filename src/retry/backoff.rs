//! [`Backoff`]: how long to wait before a retry when the server did not say.

use std::time::Duration;

use rand::Rng;

use crate::ConfigError;

/// How the exponential ceiling `min(cap, base·2ⁿ)` is turned into a delay.
///
/// The formulas are the AWS Architecture Blog's ("Exponential Backoff And
/// Jitter", 2015). Its simulation found both jittered forms do far less
/// work than plain exponential backoff, full jitter slightly less than
/// decorrelated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// `random(0, min(cap, base·2ⁿ))`: the default, and what the AWS SDKs
    /// use. Callers that failed together spread over the whole interval.
    #[default]
    Full,
    /// `min(cap, random(base, previous·3))`, starting from `previous = base`:
    /// each delay grows from the last one rather than from the attempt
    /// number.
    Decorrelated,
    /// `min(cap, base·2ⁿ)` exactly. Every caller that failed together
    /// retries together, so this is for tests and single-caller tools only.
    None,
}

/// Exponential backoff with jitter, between `base` and `cap`.
///
/// A pure value: [`delay`](Self::delay) takes the RNG as a parameter, so
/// the same seed gives the same delays (the retry layer derives one RNG
/// stream per request from its seed).
///
/// ```
/// use std::time::Duration;
/// use rand::{SeedableRng, rngs::SmallRng};
/// use tower_pacer::retry::Backoff;
///
/// let backoff = Backoff::full_jitter(Duration::from_millis(100), Duration::from_secs(5))?;
/// let mut rng = SmallRng::seed_from_u64(7);
/// // The third retry (n = 2) waits somewhere in [0, 400 ms].
/// let delay = backoff.delay(2, None, &mut rng);
/// assert!(delay <= backoff.ceiling(2));
/// assert_eq!(backoff.ceiling(2), Duration::from_millis(400));
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
}

impl Default for Backoff {
    /// Full jitter from 100 ms up to 20 s (the AWS SDKs' cap).
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(20),
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// A backoff from `base` up to `cap`.
    ///
    /// # Errors
    ///
    /// `retry.backoff.base` when it is zero (retries would go out at once,
    /// the storm backoff exists to prevent); `retry.backoff.cap` when it is
    /// below `base`.
    pub fn new(base: Duration, cap: Duration, jitter: Jitter) -> Result<Self, ConfigError> {
        if base.is_zero() {
            return Err(ConfigError::new("retry.backoff.base", "must be > 0"));
        }
        if cap < base {
            return Err(ConfigError::new("retry.backoff.cap", "must be ≥ base"));
        }
        Ok(Self { base, cap, jitter })
    }

    /// [`Jitter::Full`] from `base` up to `cap`; see [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn full_jitter(base: Duration, cap: Duration) -> Result<Self, ConfigError> {
        Self::new(base, cap, Jitter::Full)
    }

    /// [`Jitter::Decorrelated`] from `base` up to `cap`; see [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn decorrelated(base: Duration, cap: Duration) -> Result<Self, ConfigError> {
        Self::new(base, cap, Jitter::Decorrelated)
    }

    /// The smallest step.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest backoff delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter in use.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// `min(cap, base·2ⁿ)` for retry number `retry` (0 for the first
    /// retry), saturating: the upper bound of a [`Jitter::Full`] delay.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u64.checked_shl(retry).unwrap_or(u64::MAX);
        Duration::from_nanos(nanos(self.base).saturating_mul(factor)).min(self.cap)
    }

    /// The delay before retry number `retry` (0 for the first retry).
    /// `previous` is the delay this function returned for the retry before
    /// (only [`Jitter::Decorrelated`] uses it; `None` on the first retry).
    ///
    /// Always within `[0, cap]`; within `[base, cap]` for
    /// [`Jitter::Decorrelated`]. Integer nanoseconds, so no rounding can
    /// step outside those bounds.
    pub fn delay<R: Rng + ?Sized>(
        &self,
        retry: u32,
        previous: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        match self.jitter {
            Jitter::Full => Duration::from_nanos(rng.random_range(0..=nanos(self.ceiling(retry)))),
            Jitter::Decorrelated => {
                let low = nanos(self.base);
                let high = nanos(previous.unwrap_or(self.base))
                    .saturating_mul(3)
                    .max(low);
                Duration::from_nanos(rng.random_range(low..=high)).min(self.cap)
            }
            Jitter::None => self.ceiling(retry),
        }
    }
}

/// Whole nanoseconds, saturating at `u64::MAX` (584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
