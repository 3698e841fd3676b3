//! [`Aimd`]: the article's additive-increase, multiplicative-decrease rule.

use tokio::time::Instant;

use super::check::{check_factor, check_rate_bounds};
use super::{AdaptiveStrategy, Rate};
use crate::ConfigError;

/// Multiplicative decrease on a throttle, multiplicative increase after a
/// run of successes, between a floor and a ceiling.
///
/// With the defaults this is the article's `AdaptiveRateLimiter`: ×0.5 on a
/// 429, ×1.1 after 10 consecutive successes. One addition, on by default:
/// the rate is cut at most once per *epoch* — a 429 for a request that
/// entered the limiter before the last cut is ignored, as TCP ignores the
/// losses of a window it has already reacted to. Without it, a burst of
/// 429s for requests already in flight halves the rate once per 429
/// ([`decrease_once_per_epoch(false)`](AimdBuilder::decrease_once_per_epoch)
/// restores the article's behaviour).
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tower_pacer::adaptive::{AdaptiveStrategy, Aimd, Rate};
///
/// let mut aimd = Aimd::builder(10.0).min_rate(1.0).max_rate(100.0).build()?;
/// let sent = Instant::now();
/// let cut = sent + Duration::from_millis(50);
/// assert_eq!(aimd.on_throttle(sent, cut), Rate::PerSecond(5.0));
/// // A second 429 for a request sent before that cut is the same event.
/// assert_eq!(aimd.on_throttle(sent, cut), Rate::PerSecond(5.0));
/// // One sent after it is a new one.
/// assert_eq!(aimd.on_throttle(cut, cut), Rate::PerSecond(2.5));
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Aimd {
    config: AimdBuilder,
    rate: f64,
    streak: u32,
    last_decrease: Option<Instant>,
}

/// Configures an [`Aimd`]; see [`Aimd::builder`].
#[derive(Debug, Clone)]
pub struct AimdBuilder {
    initial: f64,
    min: f64,
    max: f64,
    decrease: f64,
    increase: f64,
    successes: u32,
    once_per_epoch: bool,
}

impl Aimd {
    /// Starts at `initial_rate` calls per second. Defaults: floor 0.5/s,
    /// ceiling 10 000/s, ×0.5 on a throttle, ×1.1 after 10 successes, one
    /// decrease per epoch.
    pub fn builder(initial_rate: f64) -> AimdBuilder {
        AimdBuilder {
            initial: initial_rate,
            min: 0.5,
            max: 10_000.0,
            decrease: 0.5,
            increase: 1.1,
            successes: 10,
            once_per_epoch: true,
        }
    }
}

impl AimdBuilder {
    /// The lowest rate (calls per second).
    pub fn min_rate(mut self, rate: f64) -> Self {
        self.min = rate;
        self
    }

    /// The highest rate (calls per second).
    pub fn max_rate(mut self, rate: f64) -> Self {
        self.max = rate;
        self
    }

    /// The factor applied on a throttle, in `(0, 1)`.
    pub fn decrease_factor(mut self, factor: f64) -> Self {
        self.decrease = factor;
        self
    }

    /// The factor applied after a run of successes, > 1.
    pub fn increase_factor(mut self, factor: f64) -> Self {
        self.increase = factor;
        self
    }

    /// How many consecutive successes earn an increase (≥ 1).
    pub fn successes_to_increase(mut self, successes: u32) -> Self {
        self.successes = successes;
        self
    }

    /// Whether to ignore a throttle for a request sent before the last
    /// decrease (default true; false is the article's exact rule).
    pub fn decrease_once_per_epoch(mut self, enabled: bool) -> Self {
        self.once_per_epoch = enabled;
        self
    }

    /// The strategy, or a [`ConfigError`] naming the field at fault
    /// (`aimd.min_rate`, `aimd.max_rate`, `aimd.initial_rate`,
    /// `aimd.decrease_factor`, `aimd.increase_factor`,
    /// `aimd.successes_to_increase`).
    pub fn build(self) -> Result<Aimd, ConfigError> {
        check_rate_bounds("aimd", self.min, self.max)?;
        if !(self.initial.is_finite() && self.min <= self.initial && self.initial <= self.max) {
            return Err(ConfigError::new(
                "aimd.initial_rate",
                "must lie between min_rate and max_rate",
            ));
        }
        check_factor("aimd.decrease_factor", self.decrease, 0.0, 1.0)?;
        check_factor("aimd.increase_factor", self.increase, 1.0, f64::MAX)?;
        if self.successes == 0 {
            return Err(ConfigError::new(
                "aimd.successes_to_increase",
                "must be ≥ 1",
            ));
        }
        Ok(Aimd {
            rate: self.initial,
            config: self,
            streak: 0,
            last_decrease: None,
        })
    }
}

impl AdaptiveStrategy for Aimd {
    fn on_sent(&mut self, _at: Instant) {}

    fn on_success(&mut self, _sent: Instant, _now: Instant) -> Rate {
        self.streak += 1;
        if self.streak >= self.config.successes {
            self.streak = 0;
            self.rate = (self.rate * self.config.increase).min(self.config.max);
        }
        self.rate()
    }

    fn on_throttle(&mut self, sent: Instant, now: Instant) -> Rate {
        let same_epoch = self.config.once_per_epoch && self.last_decrease.is_some_and(|d| sent < d);
        if !same_epoch {
            self.streak = 0;
            self.rate = (self.rate * self.config.decrease).max(self.config.min);
            self.last_decrease = Some(now);
        }
        self.rate()
    }

    fn rate(&self) -> Rate {
        Rate::PerSecond(self.rate)
    }
}
