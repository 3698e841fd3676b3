//! [`Cubic`]: the AWS SDKs' adaptive mode, with the fixes it lacks.

use tokio::time::Instant;

use super::check::{check_factor, check_rate_bounds};
use super::send_rate::SendRate;
use super::{AdaptiveStrategy, Rate};
use crate::ConfigError;

/// A CUBIC-controlled send rate, after smithy-rs `ClientRateLimiter` (the
/// AWS SDKs' `adaptive` retry mode), fixed.
///
/// As in the AWS SDKs:
/// - no limit until the first throttle; then the rate starts from the
///   **measured** send rate (sends per second, half-second buckets,
///   smoothed 0.8/0.2);
/// - on a throttle, `last_max = min(measured, rate)` and the rate drops to
///   `β·last_max` (β = 0.7);
/// - on a success, `rate = C·(t − t_throttle − K)³ + last_max` with
///   `K = ∛(last_max·(1 − β)/C)` and C = 0.4: back to `last_max` `K`
///   seconds after the throttle (about 4 s at 100/s), whatever the request
///   rate, then growing faster and faster to probe for more.
///
/// The fixes (each can be switched off, and [`Cubic::aws_as_implemented`]
/// switches them all off to measure what they buy):
/// - **one decrease per epoch**: a throttle for a request that entered the
///   limiter before the last decrease is ignored. The SDKs cut the rate on
///   *every* throttled response, so N 429s already in flight give 0.7ᴺ;
/// - **no growth while app-limited**: while the client sends less than
///   half its allowance, the curve's clock stops (it resumes where it was),
///   so an idle client does not "earn" a rate it never tested. The SDKs
///   cap the rate at twice the measured rate instead, which forgets the
///   learned rate after every lull; that cap is kept only in the AWS mode.
///
/// The third fix the AWS SDKs lack, a small burst after a decrease, belongs
/// to the limiter: see
/// [`RateControllerBuilder::burst_window`](super::RateControllerBuilder::burst_window).
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tower_pacer::adaptive::{AdaptiveStrategy, Cubic, Rate};
///
/// let mut cubic = Cubic::builder().build()?;
/// let t0 = Instant::now();
/// assert_eq!(cubic.rate(), Rate::Unlimited); // until the first throttle
/// for i in 0..100 {
///     cubic.on_sent(t0 + Duration::from_millis(10 * i)); // 100/s
/// }
/// let t1 = t0 + Duration::from_secs(1);
/// let Rate::PerSecond(after) = cubic.on_throttle(t1, t1) else { unreachable!() };
/// assert!((after - 70.0).abs() < 1.0, "{after}"); // 0.7 × 100
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cubic {
    config: CubicBuilder,
    sends: SendRate,
    origin: Option<Instant>,
    /// `None` until the first throttle: unlimited.
    rate: Option<f64>,
    last_max: f64,
    /// When the curve starts, in seconds since `origin` (moved forward
    /// while app-limited).
    throttled_at: f64,
    /// The last time the curve was evaluated, in seconds since `origin`.
    updated_at: f64,
    last_decrease: Option<Instant>,
}

/// Configures a [`Cubic`]; see [`Cubic::builder`].
#[derive(Debug, Clone)]
pub struct CubicBuilder {
    beta: f64,
    scale: f64,
    min: f64,
    max: f64,
    once_per_epoch: bool,
    app_limited_ratio: Option<f64>,
    aws_cap: bool,
}

impl Cubic {
    /// The fixed strategy. Defaults: β 0.7, scale 0.4, floor 0.5/s (the
    /// AWS constants), ceiling 1 000 000/s, one decrease per epoch, app-limited
    /// below half the allowance.
    pub fn builder() -> CubicBuilder {
        CubicBuilder {
            beta: 0.7,
            scale: 0.4,
            min: 0.5,
            max: super::check::MAX_RATE,
            once_per_epoch: true,
            app_limited_ratio: Some(0.5),
            aws_cap: false,
        }
    }

    /// The AWS SDKs' adaptive mode as implemented (smithy-rs, Go v2): a
    /// decrease on every throttle, and the rate capped at twice the
    /// measured rate. A baseline to compare against; pair it with a one
    /// second burst (`burst_window(1 s)`) to match the SDKs' bucket.
    pub fn aws_as_implemented() -> CubicBuilder {
        Self::builder()
            .decrease_once_per_epoch(false)
            .app_limited_ratio(None)
            .cap_at_twice_measured(true)
    }

    fn seconds(&mut self, now: Instant) -> f64 {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin).as_secs_f64()
    }

    fn clamp(&self, rate: f64) -> f64 {
        rate.clamp(self.config.min, self.config.max)
    }
}

impl CubicBuilder {
    /// The multiplicative decrease β, in `(0, 1)` (AWS: 0.7).
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// The cubic's scale C, > 0 (AWS: 0.4): larger recovers faster.
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    /// The lowest rate (calls per second; AWS: 0.5).
    pub fn min_rate(mut self, rate: f64) -> Self {
        self.min = rate;
        self
    }

    /// The highest rate (calls per second).
    pub fn max_rate(mut self, rate: f64) -> Self {
        self.max = rate;
        self
    }

    /// Whether to ignore a throttle for a request sent before the last
    /// decrease (default true; the AWS SDKs: false).
    pub fn decrease_once_per_epoch(mut self, enabled: bool) -> Self {
        self.once_per_epoch = enabled;
        self
    }

    /// Stop the curve while the measured send rate is below this share of
    /// the allowed rate, in `(0, 1)` (default 0.5); `None` never stops it.
    pub fn app_limited_ratio(mut self, ratio: Option<f64>) -> Self {
        self.app_limited_ratio = ratio;
        self
    }

    /// Cap the rate at twice the measured send rate, as the AWS SDKs do
    /// (default false).
    pub fn cap_at_twice_measured(mut self, enabled: bool) -> Self {
        self.aws_cap = enabled;
        self
    }

    /// The strategy, or a [`ConfigError`] naming the field at fault
    /// (`cubic.beta`, `cubic.scale`, `cubic.min_rate`, `cubic.max_rate`,
    /// `cubic.app_limited_ratio`).
    pub fn build(self) -> Result<Cubic, ConfigError> {
        check_rate_bounds("cubic", self.min, self.max)?;
        check_factor("cubic.beta", self.beta, 0.0, 1.0)?;
        check_factor("cubic.scale", self.scale, 0.0, f64::MAX)?;
        if let Some(ratio) = self.app_limited_ratio {
            check_factor("cubic.app_limited_ratio", ratio, 0.0, 1.0)?;
        }
        Ok(Cubic {
            config: self,
            sends: SendRate::new(),
            origin: None,
            rate: None,
            last_max: 0.0,
            throttled_at: 0.0,
            updated_at: 0.0,
            last_decrease: None,
        })
    }
}

impl AdaptiveStrategy for Cubic {
    fn on_sent(&mut self, at: Instant) {
        self.seconds(at);
        self.sends.record(at);
    }

    fn on_success(&mut self, _sent: Instant, now: Instant) -> Rate {
        let Some(rate) = self.rate else {
            return Rate::Unlimited;
        };
        let t = self.seconds(now);
        let measured = self.sends.rate(now);
        if let Some(ratio) = self.config.app_limited_ratio
            && measured < ratio * rate
        {
            // Stop the curve's clock for the time spent app-limited.
            self.throttled_at += (t - self.updated_at).max(0.0);
        }
        self.updated_at = t;
        let c = self.config.scale;
        let k = (self.last_max * (1.0 - self.config.beta) / c).cbrt();
        let mut next = c * (t - self.throttled_at - k).powi(3) + self.last_max;
        if self.config.aws_cap {
            next = next.min(2.0 * measured);
        }
        let next = self.clamp(next);
        self.rate = Some(next);
        Rate::PerSecond(next)
    }

    fn on_throttle(&mut self, sent: Instant, now: Instant) -> Rate {
        let same_epoch = self.config.once_per_epoch && self.last_decrease.is_some_and(|d| sent < d);
        if same_epoch {
            return self.rate();
        }
        let t = self.seconds(now);
        let measured = self.sends.rate(now);
        let base = match self.rate {
            Some(rate) => measured.min(rate),
            None => measured,
        };
        // A throttle before any send was measured: keep what we have.
        let base = if base > 0.0 { base } else { self.config.min };
        self.last_max = base;
        self.throttled_at = t;
        self.updated_at = t;
        self.last_decrease = Some(now);
        let mut next = base * self.config.beta;
        if self.config.aws_cap {
            next = next.min(2.0 * measured);
        }
        let next = self.clamp(next);
        self.rate = Some(next);
        Rate::PerSecond(next)
    }

    fn rate(&self) -> Rate {
        match self.rate {
            Some(rate) => Rate::PerSecond(rate),
            None => Rate::Unlimited,
        }
    }
}
