//! [`ConcurrencyController`]: AIMD on a shared concurrency cap, driven by
//! latency and back-pressure (Vector's adaptive request concurrency).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;
use crate::adaptive::check::check_factor;
use crate::adaptive::ewma::EwmaVar;
use crate::classify::Outcome;
use crate::concurrency::ConcurrencyLimiter;
use crate::stats::ValueGauge;

/// The shortest control interval: a fast local server must not make the
/// controller react to every response.
const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// RTT changes within this share of the smoothed RTT are noise: with a
/// very steady RTT the deviation is about zero, and a millisecond of timer
/// rounding would otherwise read as congestion (and block every increase).
/// Vector's earlier `rtt_threshold_ratio` was the same 5 %.
const RTT_TOLERANCE: f64 = 0.05;
/// After back-pressure at a cap, the intervals to wait before trying that
/// cap again; doubled each time the same cap is refused again, up to
/// [`MAX_PROBE_WAIT`].
const FIRST_PROBE_WAIT: u32 = 2;
/// The longest wait between two probes of a cap that keeps being refused:
/// 32 intervals (1.6 s at 50 ms), so a cap that rises is found soon.
const MAX_PROBE_WAIT: u32 = 32;

/// Resizes a [`ConcurrencyLimiter`] from round-trip times and back-pressure,
/// as Vector's adaptive request concurrency (ARC) does; shared by every
/// clone (cheap to clone).
///
/// Once per interval (one smoothed round-trip time):
/// - **increase by 1** if the cap was reached during the interval (the
///   client is not app-limited), no response was back-pressure, and the
///   interval's mean RTT is at most the smoothed RTT (within 5 %) — but
///   not back to a cap that was just refused (the *ceiling*) until 2
///   intervals have passed, then 4, 8… up to 32 while that same cap keeps
///   being refused; a cap held for a whole interval clears the ceiling.
///   Without that wait (Vector's ARC has none) a server with a hard cap
///   of 10 sees a probe at 11 every few intervals: in the simulation,
///   3.3 % of calls refused and 96.7 % of the cap used, instead of 0.3 %
///   and 99.7 %;
/// - **decrease ×`decrease_ratio`** (0.9) if a response was back-pressure
///   (`RateLimited`, or `Transient`: 503, 5xx, timeouts, transport
///   errors; acted on at once rather than at the interval's end, and once
///   per epoch: back-pressure on a call started before the last decrease
///   is ignored) or the mean RTT exceeds the smoothed RTT by
///   `rtt_deviation_scale` (2.5) standard deviations (and by 5 %: a
///   very steady RTT has no deviation, and a millisecond of timer
///   rounding is not congestion).
///
/// The smoothed RTT is an exponentially weighted mean and variance
/// (α = 0.4) of the intervals' means; only successful responses count.
/// Defaults are Vector's.
///
/// Concurrency alone cannot hold a rate below one call per RTT (one call
/// in flight at 50 ms is already 20/s), so against a *rate* limit use the
/// adaptive rate as the main control; this one is for APIs that limit
/// simultaneous calls (Mailchimp, GA4, Salesforce).
#[derive(Clone)]
pub struct ConcurrencyController {
    shared: Arc<Shared>,
}

struct Shared {
    limiter: ConcurrencyLimiter,
    config: ConcurrencyConfig,
    state: Mutex<State>,
    /// Calls handed to the inner service and not answered yet. Not the
    /// permits held: under a rate limit, a call holds its permit while it
    /// waits for its slot, and counting those would read as "the cap is
    /// used" while the server sees far fewer calls.
    dispatched: AtomicUsize,
    /// `tower_pacer_adaptive_concurrency`, with the `metrics` feature.
    gauge: ValueGauge,
}

struct State {
    limit: usize,
    past: EwmaVar,
    /// This interval's RTTs (sum, count), successes only.
    current: (f64, u32),
    reached_limit: bool,
    back_pressure: bool,
    next_update: Option<Instant>,
    last_decrease: Option<Instant>,
    /// The cap last refused with back-pressure, while it holds.
    ceiling: Option<usize>,
    /// Intervals to wait below the ceiling before probing it again.
    probe_wait: u32,
    /// Intervals waited so far.
    waited: u32,
}

/// The controller's settings (validated by the builder).
#[derive(Debug, Clone)]
struct ConcurrencyConfig {
    initial: usize,
    min: usize,
    max: usize,
    decrease_ratio: f64,
    ewma_alpha: f64,
    rtt_deviation_scale: f64,
}

/// A [`ConcurrencyController`]'s figures at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ConcurrencyStats {
    /// The cap in force.
    pub limit: usize,
    /// The smoothed round-trip time, once measured.
    pub rtt: Option<Duration>,
}

impl ConcurrencyController {
    /// Drive `limiter`. Defaults (Vector's): start at 1, at most 200, ×0.9
    /// on back-pressure, α 0.4, 2.5 standard deviations.
    pub fn builder(limiter: ConcurrencyLimiter) -> ConcurrencyControllerBuilder {
        ConcurrencyControllerBuilder {
            limiter,
            config: ConcurrencyConfig {
                initial: 1,
                min: 1,
                max: 200,
                decrease_ratio: 0.9,
                ewma_alpha: 0.4,
                rtt_deviation_scale: 2.5,
            },
            destination: None,
        }
    }

    /// The cap it drives.
    pub fn limiter(&self) -> &ConcurrencyLimiter {
        &self.shared.limiter
    }

    /// Current figures.
    pub fn stats(&self) -> ConcurrencyStats {
        let state = self.state();
        ConcurrencyStats {
            limit: state.limit,
            rtt: state.past.mean().map(Duration::from_secs_f64),
        }
    }

    /// A call is about to go out (it holds a permit): note whether the
    /// cap is reached, counting the permits held. For a layer of one's own
    /// that takes the permit right before sending;
    /// [`AdaptiveConcurrency`](super::AdaptiveConcurrency) counts the calls
    /// actually handed to its inner service instead.
    pub fn on_call(&self) {
        let limiter = &self.shared.limiter;
        if limiter.in_flight() >= limiter.limit() {
            self.state().reached_limit = true;
        }
    }

    /// A call is handed to the inner service: the cap counts as reached
    /// when as many calls are out as it allows. Out until the guard drops.
    pub(crate) fn dispatch(&self) -> Dispatched {
        let out = self.shared.dispatched.fetch_add(1, Ordering::AcqRel) + 1;
        if out >= self.shared.limiter.limit() {
            self.state().reached_limit = true;
        }
        Dispatched(self.clone())
    }

    /// Report a call that started at `start` and ended now with `outcome`.
    pub fn observe(&self, start: Instant, outcome: &Outcome) {
        let now = Instant::now();
        let mut state = self.state();
        match outcome {
            Outcome::Success => {
                let rtt = now.saturating_duration_since(start).as_secs_f64();
                state.current.0 += rtt;
                state.current.1 += 1;
            }
            // A call started before the last decrease belongs to the
            // congestion already acted on.
            Outcome::RateLimited { .. } | Outcome::Transient { .. }
                if state.last_decrease.is_none_or(|at| start >= at) =>
            {
                state.back_pressure = true;
            }
            _ => {}
        }
        // Back-pressure acts at once: a refused call comes back fast, and
        // waiting for the interval's end lets the callers over the cap be
        // refused again and again meanwhile.
        let due = state.back_pressure || state.next_update.is_none_or(|next| now >= next);
        if due {
            self.update(&mut state, now);
        }
    }

    /// One control step, then the next interval.
    fn update(&self, state: &mut State, now: Instant) {
        let config = &self.shared.config;
        let current = (state.current.1 > 0).then(|| state.current.0 / f64::from(state.current.1));
        let past = state.past.mean();
        let limit = state.limit;
        let rtt_ok = match (current, past) {
            (Some(current), Some(past)) => current <= past * (1.0 + RTT_TOLERANCE),
            // Nothing to compare yet: no latency objection.
            _ => true,
        };
        let rtt_high = match (current, past) {
            (Some(current), Some(past)) => {
                let margin =
                    (config.rtt_deviation_scale * state.past.deviation()).max(RTT_TOLERANCE * past);
                current > past + margin
            }
            _ => false,
        };
        let grow = limit < config.max && state.reached_limit && !state.back_pressure && rtt_ok;
        if !state.back_pressure && state.ceiling.is_some_and(|ceiling| limit >= ceiling) {
            // The refused cap held for a whole interval: it was passing.
            state.ceiling = None;
        }
        let next = if grow && state.ceiling.is_some_and(|ceiling| limit + 1 >= ceiling) {
            state.waited += 1;
            if state.waited >= state.probe_wait {
                limit + 1
            } else {
                limit
            }
        } else if grow {
            limit + 1
        } else if limit > config.min && (state.back_pressure || rtt_high) {
            ((limit as f64 * config.decrease_ratio).floor() as usize).clamp(config.min, limit - 1)
        } else {
            limit
        };
        if next < limit {
            state.last_decrease = Some(now);
            if state.back_pressure {
                state.probe_wait = if state.ceiling == Some(limit) {
                    state.probe_wait.saturating_mul(2).min(MAX_PROBE_WAIT)
                } else {
                    FIRST_PROBE_WAIT
                };
                state.ceiling = Some(limit);
                state.waited = 0;
            }
        }
        if next != limit {
            match self.shared.limiter.resize(next) {
                Ok(()) => {
                    tracing::debug!(
                        limit = next,
                        back_pressure = state.back_pressure,
                        "adaptive concurrency"
                    );
                    state.limit = next;
                    self.shared.gauge.set(next as f64);
                }
                Err(error) => tracing::warn!(%error, "adaptive concurrency not applied"),
            }
        }
        if let Some(current) = current {
            state.past.update(current);
        }
        let interval = state.past.mean().map_or(MIN_INTERVAL, |mean| {
            Duration::from_secs_f64(mean).max(MIN_INTERVAL)
        });
        state.next_update = now.checked_add(interval);
        state.current = (0.0, 0);
        state.reached_limit = false;
        state.back_pressure = false;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Builds a [`ConcurrencyController`]; see [`ConcurrencyController::builder`].
#[derive(Debug, Clone)]
pub struct ConcurrencyControllerBuilder {
    limiter: ConcurrencyLimiter,
    config: ConcurrencyConfig,
    destination: Option<String>,
}

impl ConcurrencyControllerBuilder {
    /// The cap to start from (default 1).
    pub fn initial(mut self, limit: usize) -> Self {
        self.config.initial = limit;
        self
    }

    /// The lowest cap (default 1).
    pub fn min(mut self, limit: usize) -> Self {
        self.config.min = limit;
        self
    }

    /// The highest cap (default 200).
    pub fn max(mut self, limit: usize) -> Self {
        self.config.max = limit;
        self
    }

    /// The factor applied on back-pressure, in `(0, 1)` (default 0.9).
    pub fn decrease_ratio(mut self, ratio: f64) -> Self {
        self.config.decrease_ratio = ratio;
        self
    }

    /// The weight of the newest interval in the smoothed RTT, in `(0, 1)`
    /// (default 0.4).
    pub fn ewma_alpha(mut self, alpha: f64) -> Self {
        self.config.ewma_alpha = alpha;
        self
    }

    /// How many standard deviations above the smoothed RTT count as
    /// congestion, > 0 (default 2.5).
    pub fn rtt_deviation_scale(mut self, scale: f64) -> Self {
        self.config.rtt_deviation_scale = scale;
        self
    }

    /// The destination's name: with the `metrics` feature the cap in force
    /// is reported as the gauge `tower_pacer_adaptive_concurrency` with
    /// this `destination` label. Unnamed, it is not reported.
    /// [`Pacer`](crate::Pacer) passes the policy's name.
    pub fn destination(mut self, name: impl Into<String>) -> Self {
        self.destination = Some(name.into());
        self
    }

    /// The controller; the limiter is resized to the initial cap at once.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `adaptive_concurrency.min`
    /// (≥ 1), `.max` (≥ min, within the semaphore's range), `.initial`
    /// (between min and max), `.decrease_ratio`, `.ewma_alpha`,
    /// `.rtt_deviation_scale`.
    pub fn build(self) -> Result<ConcurrencyController, ConfigError> {
        let config = self.config;
        if config.min == 0 {
            return Err(ConfigError::new("adaptive_concurrency.min", "must be ≥ 1"));
        }
        if config.max < config.min {
            return Err(ConfigError::new(
                "adaptive_concurrency.max",
                "must be ≥ min",
            ));
        }
        if !(config.min..=config.max).contains(&config.initial) {
            return Err(ConfigError::new(
                "adaptive_concurrency.initial",
                "must lie between min and max",
            ));
        }
        check_factor(
            "adaptive_concurrency.decrease_ratio",
            config.decrease_ratio,
            0.0,
            1.0,
        )?;
        check_factor(
            "adaptive_concurrency.ewma_alpha",
            config.ewma_alpha,
            0.0,
            1.0,
        )?;
        check_factor(
            "adaptive_concurrency.rtt_deviation_scale",
            config.rtt_deviation_scale,
            0.0,
            f64::MAX,
        )?;
        if config.max > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                "adaptive_concurrency.max",
                "too large for a semaphore",
            ));
        }
        self.limiter
            .resize(config.initial)
            .map_err(|e| ConfigError::new("adaptive_concurrency.initial", e.reason().to_owned()))?;
        let gauge = ValueGauge::new(
            "tower_pacer_adaptive_concurrency",
            self.destination.as_deref(),
        );
        gauge.set(config.initial as f64);
        Ok(ConcurrencyController {
            shared: Arc::new(Shared {
                gauge,
                limiter: self.limiter,
                dispatched: AtomicUsize::new(0),
                state: Mutex::new(State {
                    limit: config.initial,
                    past: EwmaVar::new(config.ewma_alpha),
                    current: (0.0, 0),
                    reached_limit: false,
                    back_pressure: false,
                    next_update: None,
                    last_decrease: None,
                    ceiling: None,
                    probe_wait: FIRST_PROBE_WAIT,
                    waited: 0,
                }),
                config,
            }),
        })
    }
}

impl fmt::Debug for ConcurrencyController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyController")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A call out at the inner service; see [`ConcurrencyController::dispatch`].
pub(crate) struct Dispatched(ConcurrencyController);

impl Drop for Dispatched {
    fn drop(&mut self) {
        self.0.shared.dispatched.fetch_sub(1, Ordering::AcqRel);
    }
}
