//! [`RateController`]: the strategy, the header pacing and the limiter they
//! drive, shared by every clone of the layer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::gate::{Gate, Passing};
use super::header_pacing::{Action, HeaderPacing};
use crate::ConfigError;
use crate::adaptive::{AdaptiveStrategy, Rate};
use crate::classify::{Classification, Outcome};
use crate::feedback::Steward;
use crate::headers::MAX_DELAY;
use crate::rate::{BandRole, Headroom, Limiter, Quota, QuotaKind};
use crate::stats::ValueGauge;

/// The rate given to the limiter for [`Rate::Unlimited`]: one call per
/// nanosecond with a million-call burst, i.e. no wait at all.
const UNLIMITED_RATE: f64 = 1e9;
const UNLIMITED_BURST: u64 = 1_000_000;
/// Rate changes smaller than this share are not passed on to the limiter
/// (CUBIC moves on every success; the limiter need not follow each step).
const MIN_CHANGE: f64 = 0.01;

/// Drives one band of a [`Limiter`] from the outcomes of the calls that go
/// through it; shared by every clone (cheap to clone).
///
/// Built with [`RateController::builder`]; used by
/// [`AdaptiveRateLayer`](super::AdaptiveRateLayer). Each attempt is
/// stamped when it enters the layer ([`on_sent`](Self::on_sent)) and
/// reported with its classification ([`observe`](Self::observe)):
/// - `RateLimited` → the strategy's [`on_throttle`](AdaptiveStrategy::on_throttle);
/// - `Success` → [`on_success`](AdaptiveStrategy::on_success);
/// - other outcomes (5xx, transport errors, the limiter's own errors) say
///   nothing about the rate and are not reported.
///
/// With header pacing on, the response's quota headers (already parsed
/// by the classifier into [`Classification::info`]) cap the rate at
/// `remaining ÷ reset`, and pause the limiter until the reset when nothing
/// is left. The limiter gets the lower of the strategy's rate and that
/// cap, with a burst of [`burst_window`](RateControllerBuilder::burst_window)
/// of it.
#[derive(Clone)]
pub struct RateController {
    shared: Arc<Shared>,
}

struct Shared {
    /// Every write to the limiter goes through it.
    steward: Steward,
    band: usize,
    burst_window: Duration,
    header_pacing: bool,
    pause_on_throttle: bool,
    max_pause: Duration,
    /// Attempts stamped so far; an attempt's number tells how many were
    /// sent after it.
    sent: AtomicU64,
    state: Mutex<State>,
    gate: Arc<Gate>,
    /// `tower_pacer_adaptive_rate`, with the `metrics` feature.
    gauge: ValueGauge,
}

struct State {
    strategy: Box<dyn AdaptiveStrategy>,
    headers: HeaderPacing,
    /// What the limiter was last given.
    applied: Option<Rate>,
    throttles: u64,
    successes: u64,
}

/// When an attempt entered the controller, and its number.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    at: Instant,
    number: u64,
}

/// Configures a [`RateController`]; see [`RateController::builder`].
#[derive(Debug)]
pub struct RateControllerBuilder {
    limiter: Limiter,
    strategy: Box<dyn AdaptiveStrategy>,
    band: usize,
    burst_window: Duration,
    header_pacing: bool,
    pause_on_throttle: bool,
    max_pause: Duration,
    destination: Option<String>,
}

/// A [`RateController`]'s figures at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RateStats {
    /// The rate the limiter was last given.
    pub rate: Rate,
    /// The strategy's own rate (before any header cap).
    pub strategy_rate: Rate,
    /// Throttled attempts seen.
    pub throttles: u64,
    /// Successful attempts seen.
    pub successes: u64,
}

impl RateController {
    /// Drive `limiter`'s adaptive band ([`BandRole::Adaptive`]; band 0 if it
    /// has none) with `strategy`. Defaults: a burst of
    /// 100 ms of the rate, header pacing off, no pause on a throttle
    /// (the [`RetryLayer`](crate::retry::RetryLayer) pauses). The limiter's
    /// [`Headroom`] does not slow the band: it runs at [`rate`](Self::rate).
    pub fn builder(limiter: Limiter, strategy: impl AdaptiveStrategy) -> RateControllerBuilder {
        // Found by role, not position: the quotas may come before it.
        let band = limiter.band(BandRole::Adaptive).unwrap_or(0);
        RateControllerBuilder {
            limiter,
            strategy: Box::new(strategy),
            band,
            burst_window: Duration::from_millis(100),
            header_pacing: false,
            pause_on_throttle: false,
            max_pause: MAX_DELAY,
            destination: None,
        }
    }

    /// The limiter it drives.
    pub fn limiter(&self) -> &Limiter {
        self.shared.steward.limiter()
    }

    /// The rate the limiter was last given.
    pub fn rate(&self) -> Rate {
        self.state().applied.unwrap_or(Rate::Unlimited)
    }

    /// Current figures.
    pub fn stats(&self) -> RateStats {
        let state = self.state();
        RateStats {
            rate: state.applied.unwrap_or(Rate::Unlimited),
            strategy_rate: state.strategy.rate(),
            throttles: state.throttles,
            successes: state.successes,
        }
    }

    /// The rate and burst callers are admitted at.
    fn pace(&self) -> (Rate, f64) {
        let rate = self.rate();
        (
            rate,
            rate.per_second() * self.shared.burst_window.as_secs_f64(),
        )
    }

    /// Admit a caller now if the current rate allows it.
    pub(crate) fn try_admit(&self) -> bool {
        self.shared.gate.try_pass(self.pace())
    }

    /// Wait until the current rate admits a caller.
    pub(crate) fn admit(&self) -> Passing {
        let controller = self.clone();
        Box::pin(async move {
            let gate = controller.shared.gate.clone();
            gate.pass(|| controller.pace()).await;
        })
    }

    /// Stamp an attempt that is about to enter the limiter.
    pub fn on_sent(&self) -> Stamp {
        let at = Instant::now();
        let number = self.shared.sent.fetch_add(1, Ordering::AcqRel) + 1;
        self.state().strategy.on_sent(at);
        Stamp { at, number }
    }

    /// Report the classified result of the attempt stamped `stamp`.
    pub fn observe(&self, stamp: Stamp, verdict: &Classification) {
        let now = Instant::now();
        let shared = &self.shared;
        let mut state = self.state();
        match verdict.outcome {
            Outcome::Success => {
                state.successes += 1;
                state.strategy.on_success(stamp.at, now);
            }
            Outcome::RateLimited { retry_after } => {
                state.throttles += 1;
                state.strategy.on_throttle(stamp.at, now);
                if let Some(until) = retry_after
                    .filter(|_| shared.pause_on_throttle)
                    .and_then(|wait| now.checked_add(wait))
                {
                    shared.steward.pause_until(until);
                }
            }
            _ => {}
        }
        if shared.header_pacing
            && let Some(info) = &verdict.info
        {
            let sends_after = shared
                .sent
                .load(Ordering::Acquire)
                .saturating_sub(stamp.number);
            if let Action::Pause { until } = state.headers.observe(info, sends_after, now) {
                tracing::debug!(
                    ?until,
                    "quota headers: nothing left; pausing until the reset"
                );
                shared.steward.pause_until(until);
            }
        }
        self.apply(&mut state, now);
    }

    /// Give the limiter the lower of the strategy's rate and the header
    /// cap, unless it already has (about) that.
    fn apply(&self, state: &mut State, now: Instant) {
        let mut target = state.strategy.rate();
        if let Some(cap) = state.headers.cap(now) {
            // No slower than one call per `max_pause`: "1 left for a day"
            // must not park callers longer than a pause on the server's
            // word may (the server refuses what goes out too early, and
            // the retry layer fails those fast).
            let floor = 1.0 / self.shared.max_pause.as_secs_f64().max(1e-3);
            target = target.min(Rate::PerSecond(cap.max(floor)));
        }
        let changed = match (state.applied, target) {
            (Some(Rate::PerSecond(old)), Rate::PerSecond(new)) => {
                (new - old).abs() > MIN_CHANGE * old
            }
            (Some(Rate::Unlimited), Rate::Unlimited) => false,
            _ => true,
        };
        if !changed {
            return;
        }
        match set_rate(&self.shared, target) {
            Ok(()) => {
                tracing::debug!(rate = %target, "adaptive rate");
                self.shared.gauge.set(target.per_second());
                state.applied = Some(target);
                self.shared.gate.rate_changed();
            }
            // Only a rate outside the limiter's range gets here (the band
            // was checked at build time): keep the last one.
            Err(error) => tracing::warn!(%error, rate = %target, "adaptive rate not applied"),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a poisoned lock
        // (a panic in a user strategy) holds nothing half-done.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The quota for `rate`: its burst is `burst_window` of it (at least 1).
fn set_rate(shared: &Shared, rate: Rate) -> Result<(), ConfigError> {
    let headroom = shared.steward.limiter().headroom();
    let quota = match rate {
        Rate::Unlimited => paced(UNLIMITED_RATE, &headroom)?.with_burst(UNLIMITED_BURST)?,
        Rate::PerSecond(rate) => {
            let burst = (rate * shared.burst_window.as_secs_f64()).floor().max(1.0);
            // Saturating float → int; with_burst bounds it further.
            paced(rate, &headroom)?.with_burst(burst as u64)?
        }
    };
    shared.steward.set_quota(shared.band, quota)
}

/// A rate quota that the limiter, once it has narrowed it by `headroom`,
/// enforces at `rate` calls per second.
///
/// The headroom is for quotas someone documented: its margin is added to a
/// rate's period, and on a band of "1 call per 1/rate s" a 10 ms margin
/// would halve a 100/s rate behind the controller's back. The controller's
/// rate is already what the server was seen to accept, so the band is
/// stated so that the narrowing lands on it: `count` calls per `period`
/// with `(period + margin) / (count · fraction) = 1 / rate`.
fn paced(rate: f64, headroom: &Headroom) -> Result<Quota, ConfigError> {
    let plain = Quota::per_second_f64(rate)?;
    let margin = headroom.margin.as_secs_f64();
    if headroom.fraction == 1.0 && margin == 0.0 {
        return Ok(plain);
    }
    // Seconds per call before the margin, for a count of 1.
    let spacing = headroom.fraction / rate;
    // The period left after the margin must be positive (1 ms at least,
    // so rounding to nanoseconds stays negligible): count calls together.
    let shortest = 1e-3;
    let count = if spacing - margin >= shortest {
        1.0
    } else {
        ((margin + shortest) / spacing).ceil()
    };
    let period = count * spacing - margin;
    match Duration::try_from_secs_f64(period) {
        // Saturating float → int: `Quota::rate` bounds the count.
        Ok(period) => Quota::rate(count as u64, period),
        Err(_) => Err(ConfigError::new("quota.rate", "out of range")),
    }
}

impl RateControllerBuilder {
    /// Drive band `band` of the limiter (default: its adaptive band, else
    /// 0); it must be a rate
    /// band ([`Quota::rate`]), not a window.
    pub fn band(mut self, band: usize) -> Self {
        self.band = band;
        self
    }

    /// The limiter's burst: this much time's worth of the rate, at least
    /// one call (default 100 ms). A small burst after a decrease lets the
    /// server's bucket refill instead of being drained again at once; the
    /// AWS SDKs allow a full second.
    pub fn burst_window(mut self, window: Duration) -> Self {
        self.burst_window = window;
        self
    }

    /// Pace by the responses' quota headers too (default off): see
    /// [`RateController`].
    pub fn header_pacing(mut self, enabled: bool) -> Self {
        self.header_pacing = enabled;
        self
    }

    /// Pause the limiter for a throttled answer's `Retry-After` (default
    /// off). Leave it off under a [`RetryLayer`](crate::retry::RetryLayer)
    /// given the same limiter: it already pauses, with its safety margin.
    pub fn pause_on_throttle(mut self, enabled: bool) -> Self {
        self.pause_on_throttle = enabled;
        self
    }

    /// The longest the controller pauses the limiter on the server's word
    /// (a throttle's `Retry-After`, or quota headers saying nothing is
    /// left until a reset); default [`MAX_DELAY`], a day. Header pacing
    /// never goes slower than one call per `max_pause` either. A hostile or
    /// mistaken header must not park every caller for longer than the
    /// caller would wait; [`Pacer`](crate::Pacer) sets it to the policy's
    /// `retry.max_retry_after` plus its safety margin, as the retry layer's
    /// own pause is bounded.
    pub fn max_pause(mut self, max: Duration) -> Self {
        self.max_pause = max;
        self
    }

    /// The destination's name: with the `metrics` feature the rate in
    /// force is reported as the gauge `tower_pacer_adaptive_rate` with
    /// this `destination` label (`+Inf` while unlimited). Unnamed, it is
    /// not reported. [`Pacer`](crate::Pacer) passes the policy's name.
    pub fn destination(mut self, name: impl Into<String>) -> Self {
        self.destination = Some(name.into());
        self
    }

    /// The controller; the limiter's band is set to the strategy's initial
    /// rate at once.
    ///
    /// # Errors
    ///
    /// `adaptive.band` if the band does not exist or is a window;
    /// `adaptive.burst_window` if it is zero or over a minute.
    pub fn build(self) -> Result<RateController, ConfigError> {
        match self.limiter.quotas().get(self.band).map(Quota::kind) {
            Some(QuotaKind::Rate { .. }) => {}
            Some(_) => return Err(ConfigError::new("adaptive.band", "is a window, not a rate")),
            None => return Err(ConfigError::new("adaptive.band", "no such quota band")),
        }
        if self.burst_window.is_zero() || self.burst_window > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "adaptive.burst_window",
                "must be longer than zero and at most a minute",
            ));
        }
        let controller = RateController {
            shared: Arc::new(Shared {
                // No margin: the controller's pauses are its own reading of
                // the headers, not a server's delay to land after.
                steward: Steward::new(self.limiter, self.max_pause, Duration::ZERO),
                band: self.band,
                burst_window: self.burst_window,
                header_pacing: self.header_pacing,
                pause_on_throttle: self.pause_on_throttle,
                max_pause: self.max_pause,
                sent: AtomicU64::new(0),
                gate: Arc::new(Gate::new()),
                gauge: ValueGauge::new("tower_pacer_adaptive_rate", self.destination.as_deref()),
                state: Mutex::new(State {
                    strategy: self.strategy,
                    headers: HeaderPacing::default(),
                    applied: None,
                    throttles: 0,
                    successes: 0,
                }),
            }),
        };
        let mut state = controller.state();
        let initial = state.strategy.rate();
        set_rate(&controller.shared, initial).map_err(|e| e.within("adaptive"))?;
        state.applied = Some(initial);
        controller.shared.gauge.set(initial.per_second());
        drop(state);
        Ok(controller)
    }
}

impl fmt::Debug for RateController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateController")
            .field("band", &self.shared.band)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
