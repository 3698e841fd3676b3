//! [`RetryBudget`]: retries as a share of recent traffic, shared by every
//! clone of a destination's stack.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::ConfigError;

/// How many slots the window is cut into; a slot's deposits and
/// withdrawals expire together (tower's `TpsBudget` uses 10 as well).
const SLOTS: usize = 10;

/// One retry costs this much; one request deposits `ratio` times it.
/// Fixed-point so that a ratio like 0.2 is exact.
const SCALE: i64 = 1000;

/// A retry budget: over a sliding `ttl`, retries may add at most `ratio`
/// of the requests made, plus a floor of `min_per_sec` retries per second
/// for quiet clients.
///
/// This is Finagle's `RetryBudget` and tower's
/// [`TpsBudget`](tower::retry::budget::TpsBudget), with the same parameters
/// and the same defaults (10 s, 10 per second, 0.2). It is ours rather than
/// a wrapper because `TpsBudget` reads [`std::time::Instant`], which paused
/// `tokio` time does not move: a test could never see the window slide, and
/// the budget would behave differently in tests than in production. This
/// one reads [`tokio::time::Instant`].
///
/// Every request [`deposit`](Self::deposit)s; every retry must
/// [`withdraw`](Self::withdraw) first. Clones share one balance, so all
/// the services built by one [`RetryLayer`](super::RetryLayer) draw on the
/// same budget: a failing API sees at most `ratio` extra load (plus the
/// floor), however many callers retry. With no traffic at all, up to
/// `min_per_sec · ttl` retries are allowed per `ttl`.
///
/// The balance sits behind one short `Mutex` (a deposit per request, a
/// withdrawal per retry): simpler than tower's atomics-plus-mutex, and
/// negligible at the rates third-party APIs allow.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::retry::RetryBudget;
///
/// // 10 % of requests, and 1 retry per second, over 10 s.
/// let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.1)?;
/// assert_eq!(budget.available(), 10); // the floor: 1/s · 10 s
/// for _ in 0..50 {
///     budget.deposit();
/// }
/// assert_eq!(budget.available(), 15); // + 10 % of 50
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Width of one slot: `ttl / SLOTS`.
    slot_width: Duration,
    /// What a request deposits, in `SCALE` units.
    deposit: i64,
    /// Always available on top of the slots: `min_per_sec · ttl`.
    reserve: i64,
    ttl: Duration,
    ratio: f64,
    min_per_sec: u32,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    slots: [i64; SLOTS],
    current: usize,
    /// When the current slot began.
    current_start: Instant,
}

impl Default for RetryBudget {
    /// Finagle's and tower's defaults: 10 s, 10 retries per second, 20 %.
    fn default() -> Self {
        Self::from_valid(Duration::from_secs(10), 10, 0.2)
    }
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per request (0.2 = one retry per
    /// five requests) over the last `ttl`, plus `min_per_sec` retries per
    /// second.
    ///
    /// # Errors
    ///
    /// `retry.budget.ttl` outside 1–60 s (Finagle's bounds: shorter windows
    /// are too noisy, longer ones remember a recovered API for too long);
    /// `retry.budget.ratio` not a number in `[0, 1000]`.
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f64) -> Result<Self, ConfigError> {
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "retry.budget.ttl",
                "must be between 1 s and 60 s",
            ));
        }
        if !(ratio.is_finite() && (0.0..=1000.0).contains(&ratio)) {
            return Err(ConfigError::new(
                "retry.budget.ratio",
                "must be a number in [0, 1000]",
            ));
        }
        Ok(Self::from_valid(ttl, min_per_sec, ratio))
    }

    fn from_valid(ttl: Duration, min_per_sec: u32, ratio: f64) -> Self {
        let ttl_millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // ratio ≤ 1000, so this is at most 10⁶: no overflow, no NaN.
        let deposit = (ratio * SCALE as f64).round() as i64;
        Self {
            shared: Arc::new(Shared {
                slot_width: ttl / SLOTS as u32,
                deposit,
                // min_per_sec · ttl_secs · SCALE, with SCALE = 1000 ms/s.
                reserve: i64::from(min_per_sec).saturating_mul(ttl_millis),
                ttl,
                ratio,
                min_per_sec,
                window: Mutex::new(Window {
                    slots: [0; SLOTS],
                    current: 0,
                    current_start: Instant::now(),
                }),
            }),
        }
    }

    /// Records a request (call it once per request, not per attempt).
    pub fn deposit(&self) {
        let mut window = self.window();
        let current = window.current;
        window.slots[current] = window.slots[current].saturating_add(self.shared.deposit);
    }

    /// Takes one retry from the budget; `false` (and nothing taken) when
    /// it is spent.
    pub fn withdraw(&self) -> bool {
        let mut window = self.window();
        if self.balance(&window) < SCALE {
            return false;
        }
        let current = window.current;
        window.slots[current] = window.slots[current].saturating_sub(SCALE);
        true
    }

    /// How many retries the budget would allow right now.
    pub fn available(&self) -> u64 {
        let window = self.window();
        u64::try_from(self.balance(&window) / SCALE).unwrap_or(0)
    }

    /// The window length.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// Retries allowed per request.
    pub fn ratio(&self) -> f64 {
        self.shared.ratio
    }

    /// Retries allowed per second regardless of traffic.
    pub fn min_per_sec(&self) -> u32 {
        self.shared.min_per_sec
    }

    /// True when `other` is a clone of this budget (shares its balance).
    pub fn same_as(&self, other: &RetryBudget) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    fn balance(&self, window: &Window) -> i64 {
        window
            .slots
            .iter()
            .fold(self.shared.reserve, |sum, slot| sum.saturating_add(*slot))
    }

    /// The window, with slots older than `ttl` cleared.
    fn window(&self) -> MutexGuard<'_, Window> {
        // A panic elsewhere while holding the lock leaves counters, not
        // broken invariants: keep using them.
        let mut window = match self.shared.window.lock() {
            Ok(window) => window,
            Err(poisoned) => poisoned.into_inner(),
        };
        window.slide(Instant::now(), self.shared.slot_width);
        window
    }
}

impl Window {
    /// Advances to the slot that contains `now`, clearing every slot it
    /// passes (their traffic is older than the window).
    fn slide(&mut self, now: Instant, width: Duration) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let width_nanos = width.as_nanos().max(1);
        let steps = elapsed.as_nanos() / width_nanos;
        if steps == 0 {
            return;
        }
        if steps >= SLOTS as u128 {
            self.slots = [0; SLOTS];
        } else {
            for _ in 0..steps {
                self.current = (self.current + 1) % SLOTS;
                self.slots[self.current] = 0;
            }
        }
        // Keep slot boundaries on the original grid.
        let into_slot = u64::try_from(elapsed.as_nanos() % width_nanos).unwrap_or(0);
        self.current_start = now
            .checked_sub(Duration::from_nanos(into_slot))
            .unwrap_or(now);
    }
}
