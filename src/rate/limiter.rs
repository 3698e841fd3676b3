//! The shared limiter: one or more quota bands, FIFO reservations and a
//! cooldown gate.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use super::RateError;
use super::clock::{Clock, LimiterClock, nanos};
use super::gcra::{AtomicGcra, GcraParams, Grant, Refusal};
use super::learn::{EPISODE, Learning};
use super::quota::{MAX_PERIOD, Quota, QuotaKind};
use super::window::{WindowBand, WindowParams};
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
#[derive(Debug, Clone)]
pub struct LimiterBuilder {
    name: Option<String>,
    clock: LimiterClock,
    quotas: Vec<Quota>,
    max_wait: Option<Duration>,
    headroom: Headroom,
    learn: bool,
    wire_spacing: bool,
}

impl Default for LimiterBuilder {
    fn default() -> Self {
        Self {
            name: None,
            clock: LimiterClock::default(),
            quotas: Vec::new(),
            max_wait: None,
            headroom: Headroom::default(),
            learn: true,
            wire_spacing: true,
        }
    }
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

    /// Whether a refusal the books did not expect narrows the binding band
    /// (default `true`); see [`Limiter::note_refusal`]. Turn it off where
    /// something else already steers the band (an adaptive rate).
    pub fn learn_from_refusals(mut self, learn: bool) -> Self {
        self.learn = learn;
        self
    }

    /// Whether rate bands hold their spacing at the wire (default `true`):
    /// a call right after one that went out late waits until the band's
    /// spacing holds between their real send instants, as a strict server
    /// (a GCRA or leaky bucket without burst) counts them. Turn it off for
    /// a rate band that only paces and describes no server limit (an
    /// adaptive band, whose burst of 1 is not the server's).
    pub fn wire_spacing(mut self, hold: bool) -> Self {
        self.wire_spacing = hold;
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
/// # Spacing at the wire
///
/// Slots are exact to the nanosecond; tokio's timer wakes sleepers on whole
/// milliseconds, up to a millisecond or two after their slot (later on a
/// busy machine), never before. So when a slot comes, the call is checked
/// once more before it goes out: a rate band holds it until its spacing
/// holds from the calls that really went out before it (the server's own
/// GCRA, on send instants), and reservations made afterwards start after
/// it. In real time the last 2 ms before a slot are waited on a shared
/// thread with the operating system's fine timer, so that late wakes are
/// rare; in tokio's paused test clock everything stays on tokio's timer.
/// Window bands keep their grants counted a guard longer than the window:
/// 1 ms, plus the lateness of recent sends (up to an eighth of the window;
/// a call later than that reserves again rather than break the window).
/// See
/// [`LimiterBuilder::wire_spacing`].
///
/// # Cooldown gate
///
/// [`pause_until`](Self::pause_until) makes every slot start at or after the
/// given instant — what a 429 with `Retry-After` calls for, since the whole
/// destination is out of room, not one request. It also holds the calls
/// already given a slot and not yet sent: their slots are void (taken off
/// the books where the band keeps them one by one), and when a slot comes
/// its call reserves again, so the held calls go out in order after the
/// pause. Rate bands are left empty at the pause's end, and when the band
/// that binds (the one counting over the shortest span) is a window, the
/// restart goes at its sustained pace (limit ÷ window between calls) for
/// at most one of its windows: waiters go out one by one, not as a herd,
/// and never at a daily band's average pace.
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
    /// What surprise refusals taught (see `learn.rs`).
    learning: Mutex<Learning>,
    /// When the learned narrowing next relaxes (`u64::MAX`: nothing to
    /// relax); read on every reservation, so an atomic of its own.
    relax_at: AtomicU64,
    /// Refusals that came while the books said there was room.
    mismatches: AtomicU64,
    /// Whether rate bands check their spacing at the wire on release.
    wire_spacing: bool,
    /// Bumped by each pause: grants of an older generation are void.
    generation: AtomicU64,
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
    /// `tat` orders reservations; `wire` follows the calls as they really
    /// went out (see [`Limiter::release`]).
    Rate {
        params: GcraParams,
        tat: u64,
        wire: u64,
    },
    Window(WindowBand),
}

impl Band {
    fn span(&self) -> u64 {
        match self {
            Band::Rate { params, .. } => params.interval.saturating_mul(params.burst),
            Band::Window(window) => window.params().window,
        }
    }

    fn new(quota: &Quota, headroom: &Headroom) -> Self {
        match quota.kind() {
            QuotaKind::Rate {
                count,
                period,
                burst,
            } => Band::Rate {
                params: GcraParams::rate(count, period, burst, headroom),
                tat: 0,
                wire: 0,
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
    /// Spacing of that restart: the binding window's sustained pace.
    ramp_interval: u64,
    /// No paced restart past this instant: one window of the binding band.
    ramp_end: u64,
    /// Ticket of the newest reservation still refundable (0: none).
    newest: u64,
    /// Tickets handed out so far.
    tickets: u64,
}

impl Bands {
    fn new(bands: Vec<Band>) -> Self {
        Self {
            bands,
            last_slot: 0,
            ramp: None,
            ramp_interval: 0,
            ramp_end: 0,
            newest: 0,
            tickets: 0,
        }
    }

    /// The band that binds first: the one counting over the shortest span
    /// (a window's length, or the time a rate takes to refill its burst).
    fn binding(&self) -> Option<usize> {
        (0..self.bands.len()).min_by_key(|&index| self.bands[index].span())
    }

    /// The paced restart after a pause: (spacing, length). It follows the
    /// binding band when that is a window — its sustained pace, for one of
    /// its windows — and is not needed when it is a rate, which paces
    /// itself. Never a daily band's average pace, which would hold the
    /// destination at a fraction of its quota for the rest of a run.
    fn restart(&self) -> Option<(u64, u64)> {
        match self.bands.get(self.binding()?)? {
            Band::Window(window) => {
                let params = window.params();
                Some((params.sustained_interval(), params.window))
            }
            Band::Rate { .. } => None,
        }
    }

    /// Record that a call granted at `slot` goes out at `now`.
    /// True if a call granted `slot` and going out at `now` is later than
    /// a window band's guard can cover ([`WindowBand::covers`]): it
    /// reserves again instead (its old slot stays spent).
    fn too_late(&self, slot: u64, now: u64) -> bool {
        let late = now.saturating_sub(slot);
        late > 0
            && self
                .bands
                .iter()
                .any(|band| matches!(band, Band::Window(window) if !window.covers(late)))
    }

    /// The call granted `slot` went out at `now`: window bands keep their
    /// grants counted for the lateness.
    fn sent(&mut self, slot: u64, now: u64) {
        let late = now.saturating_sub(slot);
        for band in &mut self.bands {
            if let Band::Window(window) = band {
                window.sent_late(late, now);
            }
        }
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
    cost: u64,
    /// The limiter's pause generation when it was granted.
    generation: u64,
    undo: Undo,
}

/// What a granted call does when its slot has come; see
/// [`Limiter::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Send it now.
    Go,
    /// Not before this instant (nanoseconds since the epoch): a call before
    /// it went out late, and the band's spacing must hold at the wire.
    NotBefore(u64),
    /// A pause began after the grant and is still running: the slot is
    /// void; reserve again, to go out in order after the pause.
    Reserve,
}

impl RawGrant {
    /// True if the slot had come when it was reserved.
    pub(crate) fn is_due(&self) -> bool {
        self.slot <= self.now
    }

    /// When it was reserved (limiter nanoseconds).
    pub(crate) fn now(&self) -> u64 {
        self.now
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
                learning: Mutex::new(Learning::new(builder.learn)),
                relax_at: AtomicU64::new(u64::MAX),
                mismatches: AtomicU64::new(0),
                wire_spacing: builder.wire_spacing,
                generation: AtomicU64::new(0),
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
        if now >= self.shared.relax_at.load(Ordering::Relaxed) {
            self.relax(now);
        }
        let max_wait = max_wait.map_or_else(|| self.shared.max_wait.load(Ordering::Relaxed), nanos);
        let latest = now.saturating_add(max_wait);
        // Before the gate: a grant that saw an old pause generation is
        // voided by the newer pause, never granted against its books.
        let generation = self.shared.generation.load(Ordering::Acquire);
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
                    cost,
                    generation,
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
                            cost,
                            generation,
                            undo: Undo::Single(grant),
                        })
                }
                Core::Bands(bands) => reserve_bands(&mut lock(bands), now.max(gate), cost, latest)
                    .map(|(slot, undo)| RawGrant {
                        now,
                        slot,
                        cost,
                        generation,
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
            cost: 0,
            generation: 0,
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

    /// Whether waits end on the fine timer in real time (see `precise.rs`):
    /// where the bands hold their spacing at the wire. An adaptive band is
    /// an estimate, not the server's spacing; there the fine waits only
    /// sent calls exactly at a rate that is itself a guess (measured: 76 %
    /// of the limit found against 85 % on tokio's timer alone).
    pub(crate) fn fine_waits(&self) -> bool {
        self.shared.wire_spacing
    }

    /// The slot of `grant` has come: may the call go out now?
    ///
    /// Two things can hold it back after its sleep:
    ///
    /// - **a pause** that began after the grant and still runs (a 429 seen
    ///   meanwhile): the call must not go out into a server that just said
    ///   stop. It reserves again, so the held calls go out in order, at the
    ///   band's pace, after the pause;
    /// - **the spacing at the wire**: tokio wakes sleepers on whole
    ///   milliseconds, and a busy machine later still, so the call before
    ///   this one may have left late. A rate band then checks the calls as
    ///   they really went out (the server's own GCRA on send instants) and
    ///   holds this one until it keeps the band's spacing; a window band
    ///   keeps its grants counted for the recent lateness;
    /// - **a stall**: a call later than that guard covers (an eighth of
    ///   the binding band's span: the caller's task was not run, or its
    ///   future not polled, for that long) would reach the server among a
    ///   window's worth of calls granted after it. It reserves again, like
    ///   a call held by a pause.
    ///
    /// On [`Release::Go`] the send is recorded: it moves the band's books
    /// to the instant the call really went out.
    pub(crate) fn release(&self, grant: &RawGrant) -> Release {
        self.release_at(grant, self.now_nanos())
    }

    /// [`release`](Self::release) at `now`: for a grant due when it was
    /// made, its own reading of the clock.
    #[inline]
    pub(crate) fn release_at(&self, grant: &RawGrant, now: u64) -> Release {
        let gate = self.shared.paused_until.load(Ordering::Acquire);
        // Redis gave the slot; it cannot be given again here.
        #[cfg(feature = "redis")]
        if let Core::Redis(_) = &self.shared.core {
            return if gate > now {
                Release::NotBefore(gate)
            } else {
                Release::Go
            };
        }
        if gate > now || grant.generation != self.shared.generation.load(Ordering::Acquire) {
            return Release::Reserve;
        }
        if grant.cost == 0 {
            return Release::Go;
        }
        let wire = self.shared.wire_spacing;
        match &self.shared.core {
            Core::Single(_) if !wire => Release::Go,
            Core::Single(band) => match band.send(now, grant.cost) {
                Ok(()) => Release::Go,
                Err(earliest) => Release::NotBefore(earliest),
            },
            Core::Bands(bands) => {
                let mut state = lock(bands);
                // A stalled caller (a busy machine, a future polled late)
                // must not break a window at the server.
                if state.too_late(grant.slot, now) {
                    return Release::Reserve;
                }
                let mut earliest = 0;
                for band in &state.bands {
                    if let Band::Window(window) = band
                        && let Err(at) = window.send_check(grant.now, grant.slot, grant.cost, now)
                    {
                        earliest = earliest.max(at);
                    }
                }
                for band in state.bands.iter().filter(|_| wire) {
                    if let Band::Rate { params, wire, .. } = band
                        && let Err(at) = params.send(*wire, now, grant.cost)
                    {
                        earliest = earliest.max(at);
                    }
                }
                if earliest > 0 {
                    return Release::NotBefore(earliest);
                }
                for band in state.bands.iter_mut().filter(|_| wire) {
                    if let Band::Rate { params, tat, wire } = band
                        && let Ok(next) = params.send(*wire, now, grant.cost)
                    {
                        *wire = next;
                        *tat = (*tat).max(next);
                    }
                }
                state.sent(grant.slot, now);
                Release::Go
            }
            #[cfg(feature = "redis")]
            Core::Redis(_) => Release::Go,
        }
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
        if grant.generation != self.shared.generation.load(Ordering::Acquire) {
            // A pause already took it off the books.
            return true;
        }
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
        let mut grant = self.reserve_raw(cost, None)?;
        if grant.is_due() {
            match self.release_at(&grant, grant.now) {
                Release::Go => return Ok(()),
                Release::NotBefore(_) | Release::Reserve => {}
            }
        }
        loop {
            let mut wake = grant.slot;
            let guard = RefundOnDrop {
                limiter: self,
                grant: Some(grant),
            };
            loop {
                super::precise::sleep_until(self.instant(wake), self.fine_waits()).await;
                let Some(held) = guard.grant.as_ref() else {
                    return Ok(());
                };
                match self.release(held) {
                    Release::Go => {
                        guard.consume();
                        return Ok(());
                    }
                    Release::NotBefore(at) => wake = at,
                    Release::Reserve => break,
                }
            }
            // A pause voided the slot, or the call stalled past it; it
            // stays spent, as idle time.
            guard.consume();
            grant = self.reserve_raw(cost, None)?;
        }
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

    /// Pause the whole limiter: no call goes out before `until`.
    ///
    /// Pauses only extend: an earlier `until` than the current pause is
    /// ignored. Reservations already granted and not yet sent are void:
    /// [`acquire`](Self::acquire), [`Reservation::wait`] and the
    /// [`RateLimit`](super::RateLimit) layer reserve again for them when
    /// their slots come. A caller who sleeps by hand and calls
    /// [`Reservation::consume`] is not held, and its call no longer counts
    /// in the books: use [`Reservation::wait`]. The caller that saw the 429
    /// re-reserves for its retry.
    ///
    /// On a limiter shared through Redis (feature `redis`), the pause holds
    /// this process at once and is written to Redis in the background (a
    /// task on the current tokio runtime), where it holds every process
    /// sharing the key; [`paused_until`](Self::paused_until) reports the
    /// pauses this process has seen.
    pub fn pause_until(&self, until: Instant) {
        let at = nanos(until.saturating_duration_since(self.shared.epoch));
        let before = self.shared.paused_until.fetch_max(at, Ordering::AcqRel);
        if at <= before {
            return;
        }
        self.forget_orphans();
        let now = self.now_nanos();
        match &self.shared.core {
            Core::Single(band) => {
                band.pause_until(at, now);
                self.void_grants();
            }
            Core::Bands(bands) => {
                let mut bands = lock(bands);
                for band in &mut bands.bands {
                    match band {
                        Band::Rate { params, tat, .. } => *tat = params.rewound(*tat, now, at),
                        Band::Window(window) => window.forget_after(now),
                    }
                }
                bands.last_slot = bands.last_slot.min(now);
                // Under the lock: a reservation sees both or neither.
                self.void_grants();
                if let Some((interval, window)) = bands.restart() {
                    let start = bands.ramp.unwrap_or(0).max(at);
                    bands.ramp = Some(start);
                    bands.ramp_interval = interval;
                    bands.ramp_end = start.saturating_add(window);
                }
                // Undoing an older reservation would roll the pause back.
                bands.newest = 0;
            }
            #[cfg(feature = "redis")]
            Core::Redis(_) => super::redis::pause(self, until),
        }
    }

    /// Every grant made so far and not yet out is void: its call reserves
    /// again when its slot comes (see [`release`](Self::release)).
    fn void_grants(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The end of the current pause, if one is still running.
    pub fn paused_until(&self) -> Option<Instant> {
        let at = self.shared.paused_until.load(Ordering::Acquire);
        (at > self.now_nanos()).then(|| self.instant(at))
    }

    /// Tell the limiter that the server refused a call it had granted (a
    /// 429, or a 503/403 read as a rate limit), that asked for a pause of
    /// `pause` (if any). The [`Retry`](crate::retry::Retry) layer calls it
    /// for every rate-limited answer when it is given this limiter.
    ///
    /// Every call the limiter lets out had room in its books, so a refusal
    /// means the server counts differently: arrival skew, another client on
    /// the same key, a stricter limit than documented. The first refusal of
    /// an episode (the calls already in flight are refused too; they count
    /// once, for the pause and at least 100 ms) is a **limit mismatch**: it is
    /// counted ([`LimiterSnapshot::limit_mismatches`], the metric
    /// `tower_pacer_limit_mismatch_total`), logged at WARN the first time
    /// with the figures, and the band that binds (the one counting over the
    /// shortest span) is narrowed to [`LEARN_STEP`](super::LEARN_STEP) of
    /// what it granted (never below [`LEARN_FLOOR`](super::LEARN_FLOOR)).
    /// The narrowing holds for [`LEARN_HOLD_SPANS`](super::LEARN_HOLD_SPANS)
    /// spans of that band (at least [`LEARN_MIN_HOLD`](super::LEARN_MIN_HOLD)),
    /// then gives back [`LEARN_RELAX`](super::LEARN_RELAX) of the quota per
    /// span without a mismatch. Returns true for a mismatch.
    ///
    /// `named` is the server's own figure for the limit it refused on, if
    /// its rate-limit headers gave one (`limit` calls per `window`): the
    /// window band of that length (within 10 %) is then the one narrowed,
    /// at once to the share the server named if that is lower than a
    /// step, and relaxing never goes past it.
    ///
    /// Nothing is learned by a limiter without quotas, one built with
    /// [`learn_from_refusals(false)`](LimiterBuilder::learn_from_refusals),
    /// or one shared through Redis (its bands live there).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_pacer::rate::{Limiter, Quota};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_pacer::ConfigError> {
    /// # tokio::time::pause();
    /// let limiter = Limiter::builder()
    ///     .quota(Quota::window(100, Duration::from_secs(10))?)
    ///     .build()?;
    /// // A 429 whose headers say "80 per 10 s": another client shares the key.
    /// assert!(limiter.note_refusal(Some(Duration::from_secs(1)), Some((80, Duration::from_secs(10)))));
    /// let snapshot = limiter.snapshot();
    /// assert_eq!(snapshot.limit_mismatches, 1);
    /// assert_eq!(snapshot.learned.map(|learned| learned.factor), Some(0.8));
    /// # Ok(()) }
    /// ```
    pub fn note_refusal(&self, pause: Option<Duration>, named: Option<(u64, Duration)>) -> bool {
        let now = self.now_nanos();
        let mut learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if now < learning.quiet_until {
            return false;
        }
        let quiet = pause.map_or(0, nanos).max(EPISODE);
        learning.quiet_until = now.saturating_add(quiet);
        self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.shared.metrics {
            m.mismatches.increment(1);
        }
        let Some((band, span, named)) = self.refused_band(named) else {
            return true;
        };
        let learnable =
            learning.enabled && matches!(self.shared.core, Core::Single(_) | Core::Bands(_));
        if learnable && learning.band.is_some_and(|learned| learned != band) {
            // One learned band at a time: the other goes back to its quota.
            if let Some(learned) = learning.band.take() {
                let _ = self.narrow_to(learned, 1.0);
            }
            learning.factor = 1.0;
            learning.ceiling = 1.0;
        }
        let before = learning.factor;
        if learnable {
            let factor = learning.narrowed(named);
            if self.narrow_to(band, factor).is_ok() {
                learning.factor = factor;
                learning.band = Some(band);
                if let Some(named) = named {
                    learning.ceiling = named.max(factor);
                }
                let (hold, step) = Learning::timing(span);
                learning.step = step;
                self.shared
                    .relax_at
                    .store(now.saturating_add(hold), Ordering::Relaxed);
            }
        }
        let quota = self.quotas().get(band).copied();
        let action = if learning.factor < before {
            "narrowing the binding band"
        } else {
            "the binding band stays as it is (learning is off, or at its floor)"
        };
        if !learning.logged {
            learning.logged = true;
            tracing::warn!(
                destination = self.shared.name.as_deref().unwrap_or(""),
                band,
                ?quota,
                from = before,
                to = learning.factor,
                "limit mismatch: the server refused a call the limiter had room for \
                 (arrival skew, a shared key, or a stricter limit than the policy); {action}"
            );
        } else {
            tracing::debug!(
                band,
                from = before,
                to = learning.factor,
                "limit mismatch; {action}"
            );
        }
        true
    }

    /// One relax step of the learned narrowing, if it is due.
    #[cold]
    fn relax(&self, now: u64) {
        let mut learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if now < self.shared.relax_at.load(Ordering::Relaxed) {
            return;
        }
        let Some(band) = learning.band else {
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
            return;
        };
        let factor = learning.relaxed();
        if self.narrow_to(band, factor).is_err() {
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
            return;
        }
        learning.factor = factor;
        if factor >= 1.0 {
            learning.band = None;
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
        } else if factor >= learning.ceiling {
            // As far as the server's own figures allow: stay there.
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
        } else {
            self.shared
                .relax_at
                .store(now.saturating_add(learning.step), Ordering::Relaxed);
        }
    }

    /// The band a refusal speaks of, its span, and the share of its quota
    /// the server named: the window band whose length matches the window
    /// `named` by the server's headers (within 10 %), else the band that
    /// binds first.
    fn refused_band(&self, named: Option<(u64, Duration)>) -> Option<(usize, u64, Option<f64>)> {
        let headroom = &self.shared.headroom;
        if let Some((limit, window)) = named {
            let window = nanos(window);
            let matched = self.quotas().iter().enumerate().find_map(|(index, quota)| {
                let QuotaKind::Window {
                    limit: ours,
                    window: length,
                } = quota.kind()
                else {
                    return None;
                };
                let length = nanos(length);
                let close = length.abs_diff(window) <= length / 10;
                let share = limit as f64 / (ours as f64 * headroom.fraction);
                close.then(|| {
                    (
                        index,
                        Band::new(quota, headroom).span(),
                        share.clamp(0.0, 1.0),
                    )
                })
            });
            if let Some((index, span, share)) = matched {
                return Some((index, span, Some(share)));
            }
        }
        self.binding_band().map(|(index, span)| (index, span, None))
    }

    /// The band that binds first, and its span (nanoseconds).
    fn binding_band(&self) -> Option<(usize, u64)> {
        let headroom = &self.shared.headroom;
        self.quotas()
            .iter()
            .enumerate()
            .map(|(index, quota)| (index, Band::new(quota, headroom).span()))
            .min_by_key(|&(_, span)| span)
    }

    /// The headroom band `band` is narrowed by: the configured one, and
    /// what refusals taught for the binding band.
    fn band_headroom(&self, band: usize) -> Headroom {
        let mut headroom = self.shared.headroom;
        let learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let learning = (learning.band == Some(band)).then_some(learning.factor);
        if let Some(factor) = learning {
            headroom.fraction *= factor;
        }
        headroom
    }

    /// Put `new`'s figures in place of local band `band` (its grants kept):
    /// `Ok(false)` when the bands are not local (Redis), `Err(reason)` when
    /// there is no local band of that kind.
    fn replace_local_band(&self, band: usize, new: Band) -> Result<bool, &'static str> {
        match (&self.shared.core, new) {
            (Core::Single(gcra), Band::Rate { params, .. }) => gcra.set_params(params),
            (Core::Single(_), Band::Window(_)) => {
                return Err("a band cannot change kind (rate ↔ window)");
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
                    _ => return Err("no such quota band of that kind"),
                }
                if let Some((interval, _)) = bands.restart() {
                    bands.ramp_interval = interval;
                }
                bands.newest = 0;
            }
            #[cfg(feature = "redis")]
            (Core::Redis(_), _) => return Ok(false),
        }
        Ok(true)
    }

    /// Narrow band `band` to `factor` of its quota (after the headroom).
    fn narrow_to(&self, band: usize, factor: f64) -> Result<(), ConfigError> {
        let Some(quota) = self.quotas().get(band).copied() else {
            return Err(ConfigError::new(
                format!("quotas[{band}]"),
                "no such quota band",
            ));
        };
        let mut headroom = self.shared.headroom;
        headroom.fraction *= factor;
        headroom.check_band(band, &quota)?;
        match self.replace_local_band(band, Band::new(&quota, &headroom)) {
            Ok(true) => {}
            Err(reason) => return Err(ConfigError::new(format!("quotas[{band}]"), reason)),
            Ok(false) => {
                return Err(ConfigError::new(
                    format!("quotas[{band}]"),
                    "not learnable here",
                ));
            }
        }
        self.forget_orphans();
        Ok(())
    }

    /// The band narrowed by refusals, while it is.
    fn learned(&self) -> Option<LearnedBand> {
        let learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let band = learning.band?;
        Some(LearnedBand {
            band,
            quota: self.quotas().get(band).copied()?,
            factor: learning.factor,
        })
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
        // Before the quotas' lock: learning is locked first everywhere.
        let narrowed = self.band_headroom(band);
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
        match self.replace_local_band(band, Band::new(&quota, &narrowed)) {
            Ok(true) => {}
            Err(reason) => return Err(ConfigError::new(field(), reason)),
            Ok(false) =>
            {
                #[cfg(feature = "redis")]
                if let Core::Redis(core) = &self.shared.core {
                    core.set_quota(band, &quota, headroom)?;
                }
            }
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
                    Band::Rate { params, tat, .. } => (params.remaining(*tat, now), 1),
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
            limit_mismatches: self.shared.mismatches.load(Ordering::Relaxed),
            learned: self.learned(),
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
            Band::Rate { params, tat, .. } => {
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
        // of the binding window, while callers keep up with it, for at most
        // one of its windows.
        Some(ramp) if slot <= ramp && ramp < state.ramp_end => {
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
            Band::Rate { params, tat, .. } => {
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
/// [`wait`](Self::wait) for it (which also honours a pause that begins
/// meanwhile and the spacing at the wire), or sleep until
/// [`slot`](Self::slot) yourself, then [`consume`](Self::consume) it.
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

    /// The limiter the slot is on.
    pub(crate) fn limiter(&self) -> &Limiter {
        &self.limiter
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
    ///
    /// If the limiter was [paused](Limiter::pause_until) after this
    /// reservation was made and the pause still runs when the slot comes,
    /// the call is held: it reserves again and waits for its new slot
    /// after the pause (with no `max_wait` bound: it has waited its turn).
    /// A call right after one that went out late waits until the band's
    /// spacing holds at the wire, and a call that comes here long after
    /// its slot (more than a window band's lateness guard) reserves again.
    /// A caller who sleeps by hand instead of calling this gets none of
    /// these.
    pub async fn wait(mut self) {
        loop {
            // A timer for a slot that has come would still wait for the
            // timer's next tick (up to 1 ms).
            if self.slot > Instant::now() {
                super::precise::sleep_until(self.slot, self.limiter.fine_waits()).await;
            }
            match self.release() {
                Release::Go => break,
                Release::NotBefore(at) => self.slot = self.limiter.instant(at),
                Release::Reserve => {
                    if self.renew(Some(Duration::MAX)).is_err() {
                        // Only a cost no band can hold fails without a
                        // bound; it was held before, so go as granted.
                        break;
                    }
                }
            }
        }
        self.consume();
    }

    /// May the call go out now? See [`Limiter::release`].
    pub(crate) fn release(&self) -> Release {
        match &self.grant {
            Some(grant) => self.limiter.release(grant),
            None => Release::Go,
        }
    }

    /// A pause voided the slot: reserve a new one for the same cost
    /// (bounded by `max_wait`, or the limiter's own when `None`). The old
    /// slot stays spent, as idle time.
    pub(crate) fn renew(&mut self, max_wait: Option<Duration>) -> Result<(), RateError> {
        let cost = self.grant.take().map_or(0, |grant| grant.cost);
        let grant = self.limiter.reserve_raw(cost, max_wait)?;
        self.slot = self.limiter.instant(grant.slot);
        self.grant = Some(grant);
        Ok(())
    }

    /// Wait no earlier than `at` (limiter nanoseconds) before going out.
    pub(crate) fn not_before(&mut self, at: u64) {
        self.slot = self.slot.max(self.limiter.instant(at));
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
    /// Refusals by the server that came while the books said there was
    /// room (see [`Limiter::note_refusal`]).
    pub limit_mismatches: u64,
    /// The band narrowed by those refusals, while it is.
    pub learned: Option<LearnedBand>,
}

/// A band narrowed by surprise refusals; see [`Limiter::note_refusal`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LearnedBand {
    /// The band's index, in [`Limiter::quotas`] order.
    pub band: usize,
    /// The band's quota, as configured.
    pub quota: Quota,
    /// The share of it granted now, on top of the headroom (1 = all).
    pub factor: f64,
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
