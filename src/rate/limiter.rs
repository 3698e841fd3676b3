//! The shared limiter: one or more quota bands, FIFO reservations and a
//! cooldown gate.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use super::clock::{Clock, LimiterClock, nanos};
use super::error::RateError;
use super::gcra::{AtomicGcra, GcraParams, Grant, Refusal};
use super::quota::{MAX_PERIOD, Quota, QuotaKind};
use super::window::{WindowBand, WindowParams};
use crate::ConfigError;

/// A safety margin between the quota and what the limiter grants.
///
/// The server counts arrival times, not send times: network jitter can push
/// two calls sent a window apart into one window. Running slightly under the
/// quota absorbs that.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// Checks that `quota`, band `band`, stays within the limiter's range
    /// once narrowed: a rate's full burst, slowed by the headroom, must
    /// span at most [`MAX_PERIOD`](super::MAX_PERIOD), as
    /// [`Quota::with_burst`] requires of the quota itself. Beyond that the
    /// band's figures no longer fit in 64-bit nanoseconds, and saturating
    /// them would admit every call.
    fn check_band(&self, band: usize, quota: &Quota) -> Result<(), ConfigError> {
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

/// Builds a [`Limiter`]; see [`Limiter::builder`].
#[derive(Debug, Clone, Default)]
pub struct LimiterBuilder {
    name: Option<String>,
    clock: LimiterClock,
    quotas: Vec<Quota>,
    max_wait: Option<Duration>,
    headroom: Headroom,
}

impl LimiterBuilder {
    /// Adds a band; a call needs room in every band.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// A slot further away than this is refused at once with
    /// [`RateError::QuotaExhausted`] instead of being waited for.
    /// Unset, callers wait as long as it takes.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Grant only this share of every quota (for example `0.98`); see
    /// [`Headroom::fraction`]. Checked by [`build`](Self::build).
    pub fn headroom(mut self, fraction: f64) -> Self {
        self.headroom.fraction = fraction;
        self
    }

    /// Name the destination this limiter paces (in `Debug` output, and as
    /// the `destination` label of its metrics with the `metrics` feature).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Read the time from `clock` (default: [`LimiterClock::Tokio`]).
    pub fn clock(mut self, clock: LimiterClock) -> Self {
        self.clock = clock;
        self
    }

    /// Add this margin to every window and period; see [`Headroom::margin`].
    pub fn margin(mut self, margin: Duration) -> Self {
        self.headroom.margin = margin;
        self
    }

    /// The limiter, or a [`ConfigError`] naming the field at fault
    /// (`quotas`, `headroom.fraction`, `headroom.margin`, or `quotas[i]`
    /// for a rate whose burst the headroom stretches beyond a year).
    pub fn build(self) -> Result<Limiter, ConfigError> {
        if self.quotas.is_empty() {
            return Err(ConfigError::new("quotas", "at least one quota is needed"));
        }
        self.build_unlimited()
    }

    /// Like [`build`](Self::build), but an empty list of quotas is allowed:
    /// see [`Limiter::unlimited`].
    pub fn build_unlimited(self) -> Result<Limiter, ConfigError> {
        self.check_headroom()?;
        Ok(Limiter::from_valid(self))
    }

    fn check_headroom(&self) -> Result<(), ConfigError> {
        let fraction = self.headroom.fraction;
        if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
            return Err(ConfigError::new(
                "headroom.fraction",
                "must be a number in (0, 1]",
            ));
        }
        if self.headroom.margin > MAX_PERIOD {
            return Err(ConfigError::new(
                "headroom.margin",
                "must be at most a year",
            ));
        }
        self.quotas
            .iter()
            .enumerate()
            .try_for_each(|(band, quota)| self.headroom.check_band(band, quota))
    }

    /// Checks the headroom, then builds a limiter whose bands live in
    /// Redis: `core` is made from the checked figures.
    #[cfg(feature = "redis")]
    pub(crate) fn build_remote(
        self,
        core: impl FnOnce(&LimiterBuilder) -> Result<super::redis::RedisCore, ConfigError>,
    ) -> Result<Limiter, ConfigError> {
        self.check_headroom()?;
        let remote = core(&self)?;
        Ok(Limiter::from_parts(self, Core::Redis(Box::new(remote))))
    }

    /// The quotas added so far, in band order.
    #[cfg(feature = "redis")]
    pub(crate) fn quotas_ref(&self) -> &[Quota] {
        &self.quotas
    }

    /// The headroom set so far.
    #[cfg(feature = "redis")]
    pub(crate) fn headroom_ref(&self) -> &Headroom {
        &self.headroom
    }

    /// The `max_wait` set so far.
    #[cfg(feature = "redis")]
    pub(crate) fn max_wait_ref(&self) -> Option<Duration> {
        self.max_wait
    }
}

/// How many cancelled reservations wait for a chance to be given back.
const MAX_ORPHANS: usize = 256;

/// A rate limiter shared by every clone: one or more [`Quota`] bands, FIFO
/// reservations, and a cooldown gate.
///
/// # How a call is granted
///
/// A caller *reserves* a slot, an [`Instant`], and sleeps until it. The slot
/// is the earliest instant at which every band has room, and never earlier
/// than a slot already handed out, so concurrent waiters get slots in the
/// order they reserved, spaced by the quota: nobody wakes up together, and
/// nobody polls. All bands are checked before any is charged, so a band's
/// room is never spent when another band refuses.
///
/// A limiter with a single rate band is lock-free (one atomic
/// compare-and-swap per call). With a window band or several bands, a
/// reservation takes a short mutex: it reads the bands, computes the slot
/// and charges them together, in amortised O(1).
///
/// # Giving slots back
///
/// A [`Reservation`] dropped before it is [consumed](Reservation::consume)
/// gives its slot back **once every reservation made after it has been
/// given back too** — at once if it is the newest, or later, when the
/// newer ones are dropped as well (in any order; up to 256 cancelled
/// reservations are remembered for this). The next caller then gets the
/// slot. A reservation with a consumed or still-waiting reservation after
/// it keeps its slot spent, as idle time: later waiters keep the slots they
/// were given and are not moved earlier, so at most one slot per dropped
/// waiter is lost and the quota is never exceeded. A pause
/// ([`pause_until`](Self::pause_until)) or a quota change ends the chance of
/// a refund for reservations made before it.
///
/// # Timer resolution
///
/// Slots are exact to the nanosecond; tokio's timer wakes sleepers on whole
/// milliseconds, up to 1 ms after their slot, never before. Window bands
/// keep a 1 ms guard so that calls sent that late still respect the window.
///
/// # Cooldown gate
///
/// [`pause_until`](Self::pause_until) makes every slot start at or after the
/// given instant — what a 429 with `Retry-After` calls for, since the whole
/// destination is out of room, not one request. Rate bands are left empty
/// at that instant and window bands resume at their sustained pace (limit ÷
/// window between calls), so waiters go out one by one afterwards, not as a
/// herd.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::rate::{Limiter, Quota};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// tokio::time::pause();
/// let limiter = Limiter::builder()
///     .quota(Quota::window(100, Duration::from_secs(10))?)
///     .quota(Quota::window(250_000, Duration::from_secs(86_400))?)
///     .max_wait(Duration::from_secs(30))
///     .build()?;
/// let start = tokio::time::Instant::now();
/// for _ in 0..101 {
///     limiter.acquire(1).await?;
/// }
/// // The 101st call waited for the first to leave the 10 s window.
/// assert!(start.elapsed() > Duration::from_secs(10));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

struct Shared {
    name: Option<String>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::stats::metrics::LimiterHandles>,
    /// Time zero of every nanosecond figure below.
    epoch: Instant,
    clock: Clock,
    /// In nanoseconds; `u64::MAX` means unbounded.
    max_wait: AtomicU64,
    /// The cooldown gate: no slot before this (nanoseconds since `epoch`).
    paused_until: AtomicU64,
    /// Reservations that had to wait, their total wait (ns), and refusals
    /// beyond `max_wait`: counted off the fast path only.
    waited: AtomicU64,
    wait_nanos: AtomicU64,
    refused: AtomicU64,
    /// Cancelled reservations waiting for the newer ones to be given back.
    orphans: Mutex<VecDeque<RawGrant>>,
    headroom: Headroom,
    quotas: RwLock<Vec<Quota>>,
    core: Core,
}

enum Core {
    /// One rate band: lock-free.
    Single(AtomicGcra),
    /// Anything else: every band under one lock, charged together.
    Bands(Mutex<Bands>),
    /// Every band in Redis, shared by every process using the same key;
    /// reservations take a round trip (see `reserve_remote`).
    #[cfg(feature = "redis")]
    Redis(Box<super::redis::RedisCore>),
}

enum Band {
    Rate { params: GcraParams, tat: u64 },
    Window(WindowBand),
}

impl Band {
    fn new(quota: &Quota, headroom: &Headroom) -> Self {
        match quota.kind() {
            QuotaKind::Rate {
                count,
                period,
                burst,
            } => Band::Rate {
                params: GcraParams::rate(count, period, burst, headroom),
                tat: 0,
            },
            QuotaKind::Window { limit, window } => Band::Window(WindowBand::new(
                WindowParams::window(limit, window, headroom),
            )),
        }
    }
}

struct Bands {
    bands: Vec<Band>,
    /// No slot is earlier than one already granted (FIFO).
    last_slot: u64,
    /// After a pause, the next slot of the paced restart, while it lasts.
    ramp: Option<u64>,
    /// Spacing of that restart: the slowest window band's sustained pace.
    ramp_interval: u64,
    /// Ticket of the newest reservation still refundable (0: none).
    newest: u64,
    /// Tickets handed out so far.
    tickets: u64,
}

impl Bands {
    fn new(bands: Vec<Band>) -> Self {
        let mut this = Self {
            bands,
            last_slot: 0,
            ramp: None,
            ramp_interval: 0,
            newest: 0,
            tickets: 0,
        };
        this.ramp_interval = this.slowest_window_pace();
        this
    }

    fn slowest_window_pace(&self) -> u64 {
        self.bands
            .iter()
            .filter_map(|band| match band {
                Band::Window(window) => Some(window.params().sustained_interval()),
                Band::Rate { .. } => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// What undoes a reservation.
#[derive(Debug)]
enum Undo {
    /// Nothing was charged (cost 0).
    Nothing,
    Single(Grant),
    Bands(BandsUndo),
}

#[derive(Debug)]
struct BandsUndo {
    ticket: u64,
    prev_newest: u64,
    prev_last_slot: u64,
    prev_ramp: Option<u64>,
    /// Previous `tat` of each rate band, in band order.
    prev_tats: Vec<u64>,
    slot: u64,
    cost: u64,
}

/// A reservation that takes a round trip (a limiter shared through Redis).
pub(crate) type RemoteReservation =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reservation, RateError>> + Send>>;

/// A granted slot, not yet tied to a handle that refunds it.
#[derive(Debug)]
pub(crate) struct RawGrant {
    /// When it was reserved (nanoseconds since the epoch).
    now: u64,
    slot: u64,
    undo: Undo,
}

impl RawGrant {
    /// True if the slot had come when it was reserved.
    pub(crate) fn is_due(&self) -> bool {
        self.slot <= self.now
    }
}

impl Limiter {
    /// A limiter with a single band and no `max_wait`.
    ///
    /// ```
    /// # use tower_pacer::rate::{Limiter, Quota};
    /// let limiter = Limiter::new(Quota::per_second(10)?);
    /// # Ok::<(), tower_pacer::ConfigError>(())
    /// ```
    pub fn new(quota: Quota) -> Limiter {
        Limiter::from_valid(Limiter::builder().quota(quota))
    }

    /// Builds from a builder whose quotas and headroom are valid.
    fn from_valid(builder: LimiterBuilder) -> Limiter {
        let headroom = builder.headroom;
        let core = match builder.quotas.as_slice() {
            [quota] => match Band::new(quota, &headroom) {
                Band::Rate { params, .. } => Core::Single(AtomicGcra::new(params)),
                window => Core::Bands(Mutex::new(Bands::new(vec![window]))),
            },
            quotas => Core::Bands(Mutex::new(Bands::new(
                quotas
                    .iter()
                    .map(|quota| Band::new(quota, &headroom))
                    .collect(),
            ))),
        };
        Limiter::from_parts(builder, core)
    }

    fn from_parts(builder: LimiterBuilder, core: Core) -> Limiter {
        let headroom = builder.headroom;
        let epoch = Instant::now();
        Limiter {
            shared: Arc::new(Shared {
                #[cfg(feature = "metrics")]
                metrics: builder
                    .name
                    .as_deref()
                    .map(crate::stats::metrics::LimiterHandles::new),
                name: builder.name,
                epoch,
                clock: Clock::new(builder.clock),
                max_wait: AtomicU64::new(builder.max_wait.map_or(u64::MAX, nanos)),
                paused_until: AtomicU64::new(0),
                waited: AtomicU64::new(0),
                wait_nanos: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                orphans: Mutex::new(VecDeque::new()),
                headroom,
                quotas: RwLock::new(builder.quotas),
                core,
            }),
        }
    }

    /// A limiter without quota: it only orders callers and holds them back
    /// while [paused](Self::pause_until) (after a 429 from an API whose
    /// limit is unknown).
    pub fn unlimited() -> Limiter {
        Limiter::from_valid(Limiter::builder())
    }

    /// A builder for a limiter with several bands, `max_wait` or headroom.
    pub fn builder() -> LimiterBuilder {
        LimiterBuilder::default()
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        self.shared.clock.now(self.shared.epoch)
    }

    /// The instant a slot (nanoseconds since the epoch) falls on, for sleeping.
    fn instant(&self, nanos: u64) -> Instant {
        // Someone is about to sleep or be told when: worth a precise clock.
        self.shared.clock.resync(self.shared.epoch);
        let offset = Duration::from_nanos(nanos);
        self.shared
            .epoch
            .checked_add(offset)
            .unwrap_or_else(|| Instant::now() + MAX_PERIOD)
    }

    /// The headroom every band is narrowed by.
    pub fn headroom(&self) -> Headroom {
        self.shared.headroom
    }

    /// The longest a caller may be asked to wait, if bounded.
    pub fn max_wait(&self) -> Option<Duration> {
        match self.shared.max_wait.load(Ordering::Relaxed) {
            u64::MAX => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Change `max_wait` at run time (`None`: unbounded).
    pub fn set_max_wait(&self, max_wait: Option<Duration>) {
        self.shared
            .max_wait
            .store(max_wait.map_or(u64::MAX, nanos), Ordering::Relaxed);
    }

    /// Reserve a slot for a call of `cost`, refusing one further away than
    /// `max_wait` (overriding the limiter's own when `Some`).
    ///
    /// The slot stays in nanoseconds, with the `now` it was reserved at, so
    /// the common case (slot due now) needs no further clock read or
    /// conversion.
    #[inline]
    pub(crate) fn reserve_raw(
        &self,
        cost: u64,
        max_wait: Option<Duration>,
    ) -> Result<RawGrant, RateError> {
        let now = self.now_nanos();
        let max_wait = max_wait.map_or_else(|| self.shared.max_wait.load(Ordering::Relaxed), nanos);
        let latest = now.saturating_add(max_wait);
        let gate = self.shared.paused_until.load(Ordering::Acquire);
        let result = if cost == 0 {
            // Free calls take no room but still respect the cooldown gate.
            let slot = now.max(gate);
            if slot > latest {
                Err(Refusal::TooFar { slot })
            } else {
                Ok(RawGrant {
                    now,
                    slot,
                    undo: Undo::Nothing,
                })
            }
        } else {
            match &self.shared.core {
                Core::Single(band) => {
                    band.reserve(now.max(gate), cost, latest)
                        .map(|grant| RawGrant {
                            now,
                            slot: grant.slot,
                            undo: Undo::Single(grant),
                        })
                }
                Core::Bands(bands) => reserve_bands(&mut lock(bands), now.max(gate), cost, latest)
                    .map(|(slot, undo)| RawGrant {
                        now,
                        slot,
                        undo: Undo::Bands(undo),
                    }),
                #[cfg(feature = "redis")]
                Core::Redis(_) => return Err(super::redis::sync_refusal()),
            }
        };
        match result {
            Ok(grant) => {
                if !grant.is_due() {
                    let wait = grant.slot - grant.now;
                    self.shared.waited.fetch_add(1, Ordering::Relaxed);
                    self.shared.wait_nanos.fetch_add(wait, Ordering::Relaxed);
                    #[cfg(feature = "metrics")]
                    if let Some(m) = &self.shared.metrics {
                        m.wait.record(Duration::from_nanos(wait).as_secs_f64());
                    }
                }
                Ok(grant)
            }
            Err(Refusal::TooFar { slot }) => Err({
                self.shared.refused.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                if let Some(m) = &self.shared.metrics {
                    m.exhausted.increment(1);
                }
                RateError::QuotaExhausted {
                    available_at: self.instant(slot),
                    wait: Duration::from_nanos(slot - now),
                    max_wait: Duration::from_nanos(max_wait),
                }
            }),
            Err(Refusal::CostTooLarge { capacity }) => Err(RateError::CostTooLarge {
                cost,
                capacity,
                band: self.band_refusing(cost),
            }),
        }
    }

    /// The reservation of a limiter whose bands live in Redis, which takes
    /// a round trip; `None` for a local limiter (use `reserve_raw`, which
    /// allocates nothing).
    #[inline]
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) fn reserve_remote(&self, cost: u64) -> Option<RemoteReservation> {
        #[cfg(feature = "redis")]
        if let Core::Redis(_) = &self.shared.core {
            return Some(self.remote_reservation(cost));
        }
        None
    }

    /// Out of line, so that the local fast path around `reserve_remote`
    /// stays small enough to inline.
    #[cfg(feature = "redis")]
    #[inline(never)]
    fn remote_reservation(&self, cost: u64) -> RemoteReservation {
        Box::pin(super::redis::reserve(self.clone(), cost))
    }

    /// The Redis core, for a limiter shared through Redis.
    #[cfg(feature = "redis")]
    pub(crate) fn redis_core(&self) -> Option<&super::redis::RedisCore> {
        match &self.shared.core {
            Core::Redis(core) => Some(core),
            _ => None,
        }
    }

    /// A grant decided elsewhere (by Redis), falling on `slot`, counted in
    /// the statistics like a local one. It cannot be given back.
    #[cfg(feature = "redis")]
    pub(crate) fn remote_grant(&self, slot: Instant) -> Reservation {
        let now = self.now_nanos();
        let slot = nanos(slot.saturating_duration_since(self.shared.epoch)).max(now);
        let grant = RawGrant {
            now,
            slot,
            undo: Undo::Nothing,
        };
        if !grant.is_due() {
            self.record_wait(Duration::from_nanos(slot - now));
        }
        Reservation::new(self.clone(), grant)
    }

    /// Count a reservation that had to wait `wait` (off the fast path).
    #[cfg(feature = "redis")]
    pub(crate) fn record_wait(&self, wait: Duration) {
        self.shared.waited.fetch_add(1, Ordering::Relaxed);
        self.shared
            .wait_nanos
            .fetch_add(nanos(wait), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.shared.metrics {
            m.wait.record(wait.as_secs_f64());
        }
    }

    /// Count a reservation refused beyond `max_wait`.
    #[cfg(feature = "redis")]
    pub(crate) fn record_refusal(&self) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.shared.metrics {
            m.exhausted.increment(1);
        }
    }

    fn band_refusing(&self, cost: u64) -> usize {
        let quotas = self.quotas();
        let headroom = &self.shared.headroom;
        quotas
            .iter()
            .position(|quota| match quota.kind() {
                QuotaKind::Rate { .. } => {
                    GcraParams::new(quota, headroom).is_some_and(|p| cost > p.burst)
                }
                QuotaKind::Window { .. } => {
                    WindowParams::new(quota, headroom).is_some_and(|p| cost > p.limit)
                }
            })
            .unwrap_or(0)
    }

    /// Give back a grant that was never used, where that is still possible.
    ///
    /// Only the newest reservation can be undone exactly. An older one is
    /// kept aside (up to [`MAX_ORPHANS`]) and undone as soon as everything
    /// reserved after it has been given back too.
    pub(crate) fn refund(&self, grant: RawGrant) {
        let mut orphans = self
            .shared
            .orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !self.try_refund(&grant) {
            if orphans.len() >= MAX_ORPHANS {
                orphans.pop_front();
            }
            orphans.push_back(grant);
            return;
        }
        // Each undo may make an older orphan the newest reservation.
        while let Some(index) = orphans.iter().rposition(|orphan| self.try_refund(orphan)) {
            orphans.remove(index);
        }
    }

    fn try_refund(&self, grant: &RawGrant) -> bool {
        match (&grant.undo, &self.shared.core) {
            (Undo::Nothing, _) => true,
            (Undo::Single(grant), Core::Single(band)) => band.refund(grant),
            (Undo::Bands(undo), Core::Bands(bands)) => refund_bands(&mut lock(bands), undo),
            _ => false,
        }
    }

    fn forget_orphans(&self) {
        self.shared
            .orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Reserve a slot for a call of `cost` and return it without waiting.
    ///
    /// The caller sleeps until [`Reservation::slot`], then calls
    /// [`Reservation::consume`]. Dropping the reservation unconsumed gives
    /// the slot back where possible (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`RateError::CostTooLarge`] if a band can never hold `cost`;
    /// [`RateError::QuotaExhausted`] if the slot is beyond `max_wait`;
    /// [`RateError::Unavailable`] on a limiter shared through Redis
    /// (feature `redis`), which reserves only asynchronously: use
    /// [`acquire`](Self::acquire) or the [`RateLimit`](super::RateLimit)
    /// layer. (A call of cost 0 takes no room and is granted from this
    /// process's cooldown gate alone.)
    pub fn reserve(&self, cost: u64) -> Result<Reservation, RateError> {
        let grant = self.reserve_raw(cost, None)?;
        Ok(Reservation::new(self.clone(), grant))
    }

    /// Wait for a slot for a call of `cost`; the call may go out when this
    /// returns `Ok`. Cancelling the future while it waits gives the slot
    /// back where possible.
    ///
    /// On a limiter shared through Redis (feature `redis`), the slot comes
    /// from Redis in one round trip, then the caller sleeps until it;
    /// such a slot is not given back when the wait is cancelled.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve): nothing is waited for on error. A
    /// limiter shared through Redis returns [`RateError::Unavailable`] when
    /// Redis does not answer and the limiter fails closed.
    pub async fn acquire(&self, cost: u64) -> Result<(), RateError> {
        if let Some(remote) = self.reserve_remote(cost) {
            remote.await?.wait().await;
            return Ok(());
        }
        let grant = self.reserve_raw(cost, None)?;
        if grant.is_due() {
            return Ok(());
        }
        let slot = self.instant(grant.slot);
        let guard = RefundOnDrop {
            limiter: self,
            grant: Some(grant),
        };
        tokio::time::sleep_until(slot).await;
        guard.consume();
        Ok(())
    }

    /// Take room for a call of `cost` only if it is free right now.
    ///
    /// # Errors
    ///
    /// [`RateError::QuotaExhausted`] (with when room will be free) if the
    /// call would have to wait at all; [`RateError::CostTooLarge`];
    /// [`RateError::Unavailable`] on a limiter shared through Redis, as
    /// for [`reserve`](Self::reserve).
    #[inline]
    pub fn try_acquire(&self, cost: u64) -> Result<(), RateError> {
        self.reserve_raw(cost, Some(Duration::ZERO)).map(|_| ())
    }

    /// Pause the whole limiter: no slot starts before `until`.
    ///
    /// Pauses only extend: an earlier `until` than the current pause is
    /// ignored. Reservations already granted keep their slots (the caller
    /// that saw the 429 should re-reserve for its retry).
    ///
    /// On a limiter shared through Redis (feature `redis`), the pause holds
    /// this process at once and is written to Redis in the background (a
    /// task on the current tokio runtime), where it holds every process
    /// sharing the key; [`paused_until`](Self::paused_until) reports the
    /// pauses this process has seen.
    pub fn pause_until(&self, until: Instant) {
        let at = nanos(until.saturating_duration_since(self.shared.epoch));
        self.shared.paused_until.fetch_max(at, Ordering::AcqRel);
        self.forget_orphans();
        match &self.shared.core {
            Core::Single(band) => band.pause_until(at),
            Core::Bands(bands) => {
                let mut bands = lock(bands);
                for band in &mut bands.bands {
                    if let Band::Rate { params, tat } = band {
                        *tat = (*tat).max(params.empty_at(at));
                    }
                }
                if bands.ramp_interval > 0 {
                    bands.ramp = Some(bands.ramp.unwrap_or(0).max(at));
                }
                // Undoing an older reservation would roll the pause back.
                bands.newest = 0;
            }
            #[cfg(feature = "redis")]
            Core::Redis(_) => super::redis::pause(self, until),
        }
    }

    /// The end of the current pause, if one is still running.
    pub fn paused_until(&self) -> Option<Instant> {
        let at = self.shared.paused_until.load(Ordering::Acquire);
        (at > self.now_nanos()).then(|| self.instant(at))
    }

    /// The quotas in force, in band order (as configured, before headroom).
    pub fn quotas(&self) -> Vec<Quota> {
        match self.shared.quotas.read() {
            Ok(quotas) => quotas.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replace band `band`'s quota at run time, keeping what it has granted.
    ///
    /// Slots already reserved are kept (as with Go's `SetLimit`, they may
    /// briefly overshoot or undershoot the new figure). The quota's kind
    /// must stay the same.
    ///
    /// # Errors
    ///
    /// `quotas[i]` if there is no such band, the kind differs, or the
    /// headroom stretches the rate's burst beyond a year (see
    /// [`LimiterBuilder::build`]). On a limiter shared through Redis
    /// (feature `redis`), also if a window band would cross the exact /
    /// bucketed limit (4 096) or, bucketed, change its window: the state in
    /// Redis, which every process shares, is laid out by them.
    pub fn set_quota(&self, band: usize, quota: Quota) -> Result<(), ConfigError> {
        let field = || format!("quotas[{band}]");
        let headroom = &self.shared.headroom;
        headroom.check_band(band, &quota)?;
        let mut quotas = match self.shared.quotas.write() {
            Ok(quotas) => quotas,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(slot) = quotas.get_mut(band) else {
            return Err(ConfigError::new(field(), "no such quota band"));
        };
        let same_kind =
            std::mem::discriminant(&slot.kind()) == std::mem::discriminant(&quota.kind());
        if !same_kind {
            return Err(ConfigError::new(
                field(),
                "a band cannot change kind (rate ↔ window)",
            ));
        }
        match (&self.shared.core, Band::new(&quota, headroom)) {
            (Core::Single(gcra), Band::Rate { params, .. }) => gcra.set_params(params),
            (Core::Single(_), Band::Window(_)) => {
                return Err(ConfigError::new(
                    field(),
                    "a band cannot change kind (rate ↔ window)",
                ));
            }
            (Core::Bands(bands), new) => {
                let mut bands = lock(bands);
                match (bands.bands.get_mut(band), new) {
                    (Some(Band::Rate { params, .. }), Band::Rate { params: new, .. }) => {
                        *params = new
                    }
                    (Some(Band::Window(window)), Band::Window(new)) => {
                        window.set_params(new.params())
                    }
                    _ => return Err(ConfigError::new(field(), "no such quota band of that kind")),
                }
                bands.ramp_interval = bands.slowest_window_pace();
                bands.newest = 0;
            }
            #[cfg(feature = "redis")]
            (Core::Redis(core), _) => core.set_quota(band, &quota, headroom)?,
        }
        *slot = quota;
        drop(quotas);
        self.forget_orphans();
        Ok(())
    }

    /// Set band `band`, a rate, to `per_second` calls per second, keeping
    /// its burst. Adaptive controllers drive this.
    ///
    /// # Errors
    ///
    /// As [`Quota::per_second_f64`] and [`set_quota`](Self::set_quota), and
    /// `quotas[i]` if the band is a window.
    pub fn set_rate(&self, band: usize, per_second: f64) -> Result<(), ConfigError> {
        let current = self
            .quotas()
            .get(band)
            .copied()
            .ok_or_else(|| ConfigError::new(format!("quotas[{band}]"), "no such quota band"))?;
        let QuotaKind::Rate { burst, .. } = current.kind() else {
            return Err(ConfigError::new(
                format!("quotas[{band}]"),
                "is a window, not a rate",
            ));
        };
        let quota = Quota::per_second_f64(per_second)?.with_burst(burst)?;
        self.set_quota(band, quota)
    }

    /// What each band could grant right now, without waiting, and the pause.
    pub fn snapshot(&self) -> LimiterSnapshot {
        let now = self.now_nanos();
        let quotas = self.quotas();
        let figures: Vec<(u64, usize)> = match &self.shared.core {
            Core::Single(band) => vec![(band.params().remaining(band.tat(), now), 1)],
            Core::Bands(bands) => lock(bands)
                .bands
                .iter()
                .map(|band| match band {
                    Band::Rate { params, tat } => (params.remaining(*tat, now), 1),
                    Band::Window(window) => (window.remaining(now), window.tracked()),
                })
                .collect(),
            // Not known without a round trip.
            #[cfg(feature = "redis")]
            Core::Redis(_) => quotas.iter().map(|_| (0, 0)).collect(),
        };
        let paused = self.paused_until().is_some();
        LimiterSnapshot {
            bands: quotas
                .into_iter()
                .zip(figures)
                .map(|(quota, (remaining, tracked))| BandSnapshot {
                    quota,
                    remaining: if paused { 0 } else { remaining },
                    tracked,
                })
                .collect(),
            paused_until: self.paused_until(),
            waited: self.shared.waited.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(self.shared.wait_nanos.load(Ordering::Relaxed)),
            refused: self.shared.refused.load(Ordering::Relaxed),
        }
    }

    /// True if both handles share one limiter.
    pub fn same_as(&self, other: &Limiter) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

fn lock(bands: &Mutex<Bands>) -> MutexGuard<'_, Bands> {
    // The state stays consistent between statements, so a panic elsewhere
    // while holding the lock leaves nothing half-done.
    bands
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn reserve_bands(
    state: &mut Bands,
    floor: u64,
    cost: u64,
    latest: u64,
) -> Result<(u64, BandsUndo), Refusal> {
    // Each band's earliest slot does not depend on the candidate (grants are
    // in slot order), so one pass finds the slot that suits them all.
    let mut slot = floor.max(state.last_slot);
    for band in &mut state.bands {
        let earliest = match band {
            Band::Rate { params, tat } => {
                if cost > params.burst {
                    return Err(Refusal::CostTooLarge {
                        capacity: params.burst,
                    });
                }
                params.earliest(*tat, cost)
            }
            Band::Window(window) => window.earliest(floor, cost)?,
        };
        slot = slot.max(earliest);
    }
    let prev_ramp = state.ramp;
    let next_ramp = match state.ramp {
        // The paced restart after a pause: one call per sustained interval
        // for as long as callers keep up with it.
        Some(ramp) if slot <= ramp => {
            slot = ramp;
            Some(ramp.saturating_add(cost.saturating_mul(state.ramp_interval)))
        }
        _ => None,
    };
    if slot > latest {
        return Err(Refusal::TooFar { slot });
    }
    let mut prev_tats = Vec::new();
    for band in &mut state.bands {
        match band {
            Band::Rate { params, tat } => {
                prev_tats.push(*tat);
                *tat = params.advance(*tat, slot, cost);
            }
            Band::Window(window) => window.commit(slot, cost),
        }
    }
    state.ramp = next_ramp;
    state.tickets += 1;
    let undo = BandsUndo {
        ticket: state.tickets,
        prev_newest: state.newest,
        prev_last_slot: state.last_slot,
        prev_ramp,
        prev_tats,
        slot,
        cost,
    };
    state.newest = state.tickets;
    state.last_slot = slot;
    Ok((slot, undo))
}

fn refund_bands(state: &mut Bands, undo: &BandsUndo) -> bool {
    if state.newest != undo.ticket {
        return false;
    }
    let mut prev_tats = undo.prev_tats.iter().copied();
    for band in &mut state.bands {
        match band {
            Band::Rate { tat, .. } => {
                if let Some(prev) = prev_tats.next() {
                    *tat = prev;
                }
            }
            Band::Window(window) => window.undo_last(undo.slot, undo.cost),
        }
    }
    state.ramp = undo.prev_ramp;
    state.last_slot = undo.prev_last_slot;
    state.newest = undo.prev_newest;
    true
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.shared.name)
            .field("quotas", &self.quotas())
            .field("max_wait", &self.max_wait())
            .field("headroom", &self.shared.headroom)
            .finish()
    }
}

/// Refunds a grant when dropped unconsumed (a cancelled wait).
struct RefundOnDrop<'a> {
    limiter: &'a Limiter,
    grant: Option<RawGrant>,
}

impl RefundOnDrop<'_> {
    fn consume(mut self) {
        self.grant = None;
    }
}

impl Drop for RefundOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            self.limiter.refund(grant);
        }
    }
}

/// A reserved slot on a [`Limiter`].
///
/// Sleep until [`slot`](Self::slot), then [`consume`](Self::consume) it.
/// Dropped unconsumed, it gives the slot back where that is still possible:
/// see [`Limiter`]'s "Giving slots back".
#[derive(Debug)]
pub struct Reservation {
    limiter: Limiter,
    slot: Instant,
    grant: Option<RawGrant>,
}

impl Reservation {
    pub(crate) fn new(limiter: Limiter, grant: RawGrant) -> Self {
        Self {
            slot: limiter.instant(grant.slot),
            limiter,
            grant: Some(grant),
        }
    }

    /// When the call may go out.
    pub fn slot(&self) -> Instant {
        self.slot
    }

    /// How long from now until the slot (zero if it has come).
    pub fn delay(&self) -> Duration {
        self.slot.saturating_duration_since(Instant::now())
    }

    /// Mark the slot as used: it will not be given back.
    pub fn consume(mut self) {
        self.grant = None;
    }

    /// Sleep until the slot, then consume it.
    pub async fn wait(self) {
        // A timer for a slot that has come would still wait for the
        // timer's next tick (up to 1 ms).
        if self.slot > Instant::now() {
            tokio::time::sleep_until(self.slot).await;
        }
        self.consume();
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            self.limiter.refund(grant);
        }
    }
}

/// A view of a [`Limiter`] at one instant; see [`Limiter::snapshot`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LimiterSnapshot {
    /// One entry per band, in band order.
    pub bands: Vec<BandSnapshot>,
    /// The end of the current pause, if any.
    pub paused_until: Option<Instant>,
    /// Reservations so far that had to wait for their slot.
    pub waited: u64,
    /// Their total wait (from reservation to slot).
    pub total_wait: Duration,
    /// Reservations refused because the slot was beyond `max_wait`.
    pub refused: u64,
}

/// One band of a [`LimiterSnapshot`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BandSnapshot {
    /// The band's quota, as configured.
    pub quota: Quota,
    /// Cost that could be granted right now without waiting (0 while
    /// paused; 0 for a limiter shared through Redis, whose state is not
    /// known without a round trip).
    pub remaining: u64,
    /// Entries the band keeps in memory: 1 for a rate; one per grant still
    /// in the window for an exact window (at most its limit, plus grants
    /// reserved ahead); one per bucket for a bucketed window (about
    /// [`BUCKETS`](super::BUCKETS), plus buckets reserved ahead); 0 for a
    /// limiter shared through Redis (its entries live there).
    pub tracked: usize,
}
