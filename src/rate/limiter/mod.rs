//! The [`Limiter`] handle: what every clone shares, and the public
//! methods. The work is done next door: `bands.rs` (the multi-band engine),
//! `backend.rs` (where the bands live: local or Redis), `reservation.rs`
//! (slots held, given back), `learning.rs` (what refusals teach).

mod backend;
mod bands;
mod learning;
mod reservation;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

#[cfg(feature = "redis")]
pub(crate) use self::backend::Remote;
pub(crate) use self::backend::RemoteReservation;
pub use self::reservation::Reservation;
pub(crate) use self::reservation::{RawGrant, Release};

use self::backend::{Backend, Undo};
use self::bands::Band;
use self::reservation::RefundOnDrop;
use super::clock::{AnyClock, Clock, nanos};
use super::gcra::{GcraParams, Refusal};
use super::learn::Learning;
use super::observer::Observer;
use super::quota::{BandRole, MAX_PERIOD, Quota, QuotaKind};
use super::window::WindowParams;
use super::{BandSnapshot, Headroom, LimiterBuilder, LimiterSnapshot};
use crate::ConfigError;
use crate::error::RateError;

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
    /// Sees waits, refusals and mismatches (metrics live there).
    observer: Option<Observer>,
    /// Time zero of every nanosecond figure below.
    epoch: Instant,
    clock: AnyClock,
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
    /// What each band is for, in band order (fixed once built).
    roles: Vec<BandRole>,
    backend: Backend,
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
    pub(super) fn from_valid(builder: LimiterBuilder) -> Limiter {
        let headroom = builder.headroom;
        let bands = builder
            .quotas
            .iter()
            .map(|quota| Band::new(quota, &headroom))
            .collect();
        Limiter::from_parts(builder, Backend::local(bands))
    }

    /// Builds from a checked builder a limiter whose bands are kept by
    /// `remote` (Redis).
    #[cfg(feature = "redis")]
    pub(crate) fn with_remote(builder: LimiterBuilder, remote: Arc<dyn Remote>) -> Limiter {
        Limiter::from_parts(builder, Backend::Remote(remote))
    }

    fn from_parts(builder: LimiterBuilder, backend: Backend) -> Limiter {
        let headroom = builder.headroom;
        let epoch = Instant::now();
        let mut roles = builder.roles;
        roles.resize(builder.quotas.len(), BandRole::Quota);
        Limiter {
            shared: Arc::new(Shared {
                observer: builder.observer,
                name: builder.name,
                epoch,
                clock: AnyClock::new(builder.clock),
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
                roles,
                backend,
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
            match self.shared.backend.reserve(now.max(gate), cost, latest) {
                Ok((slot, undo)) => Ok(RawGrant {
                    now,
                    slot,
                    cost,
                    generation,
                    undo,
                }),
                Err(refused) => Err(refused.into_refusal()?),
            }
        };
        match result {
            Ok(grant) => {
                if !grant.is_due() {
                    self.record_wait(grant.slot - grant.now);
                }
                Ok(grant)
            }
            Err(Refusal::TooFar { slot }) => Err({
                self.record_refusal();
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
    pub(crate) fn reserve_remote(&self, cost: u64) -> Option<RemoteReservation> {
        self.shared.backend.remote_reservation(self, cost)
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
            self.record_wait(slot - now);
        }
        Reservation::new(self.clone(), grant)
    }

    /// Count a reservation that had to wait `wait` nanoseconds, and tell
    /// the observer. Off the fast path: a free slot never comes here.
    pub(crate) fn record_wait(&self, wait: u64) {
        self.shared.waited.fetch_add(1, Ordering::Relaxed);
        self.shared.wait_nanos.fetch_add(wait, Ordering::Relaxed);
        if let Some(Observer(observer)) = &self.shared.observer {
            observer.waited(Duration::from_nanos(wait));
        }
    }

    /// Count a reservation refused beyond `max_wait`, and tell the observer.
    pub(crate) fn record_refusal(&self) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(Observer(observer)) = &self.shared.observer {
            observer.refused();
        }
    }

    /// Count a limit mismatch, and tell the observer.
    fn record_mismatch(&self) {
        self.shared.mismatches.fetch_add(1, Ordering::Relaxed);
        if let Some(Observer(observer)) = &self.shared.observer {
            observer.mismatch();
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
        if self.shared.backend.is_remote() {
            // Redis gave the slot; it cannot be given again here.
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
        self.shared
            .backend
            .release(grant, now, self.shared.wire_spacing)
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
        self.shared
            .backend
            .pause(at, now, until, || self.void_grants());
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
        match self
            .shared
            .backend
            .replace_band(band, Band::new(&quota, &narrowed))
        {
            Ok(true) => {}
            Err(reason) => return Err(ConfigError::new(field(), reason)),
            Ok(false) => self
                .shared
                .backend
                .set_remote_quota(band, &quota, headroom)?,
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
        // Not known without a round trip: zeros.
        let figures = self
            .shared
            .backend
            .figures(now)
            .unwrap_or_else(|| vec![(0, 0); quotas.len()]);
        let paused = self.paused_until().is_some();
        LimiterSnapshot {
            bands: quotas
                .into_iter()
                .zip(figures)
                .enumerate()
                .map(|(band, (quota, (remaining, tracked)))| BandSnapshot {
                    quota,
                    role: self.shared.roles.get(band).copied().unwrap_or_default(),
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

    /// The first band with `role`, in [`quotas`](Self::quotas) order: how
    /// whoever steers a band finds it (see [`LimiterBuilder::band`]).
    ///
    /// ```
    /// use tower_pacer::rate::{BandRole, Limiter, Quota};
    ///
    /// let limiter = Limiter::builder()
    ///     .quota(Quota::per_second(100)?)
    ///     .band(Quota::per_second(1)?, BandRole::Adaptive)
    ///     .build()?;
    /// assert_eq!(limiter.band(BandRole::Adaptive), Some(1));
    /// assert_eq!(limiter.band(BandRole::Quota), Some(0));
    /// assert_eq!(limiter.snapshot().bands[1].role, BandRole::Adaptive);
    /// # Ok::<(), tower_pacer::ConfigError>(())
    /// ```
    pub fn band(&self, role: BandRole) -> Option<usize> {
        self.shared.roles.iter().position(|&r| r == role)
    }

    /// True if both handles share one limiter.
    pub fn same_as(&self, other: &Limiter) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
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
