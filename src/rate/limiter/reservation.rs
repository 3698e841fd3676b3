//! Reserved slots: [`Reservation`] (a slot held by a caller), the guard
//! that gives a cancelled wait's slot back, and the orphans — cancelled
//! reservations waiting for the newer ones to be given back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::Limiter;
use super::backend::Undo;
use crate::error::RateError;

/// How many cancelled reservations wait for a chance to be given back.
const MAX_ORPHANS: usize = 256;

/// A granted slot, not yet tied to a handle that refunds it.
#[derive(Debug)]
pub(crate) struct RawGrant {
    /// When it was reserved (nanoseconds since the epoch).
    pub(super) now: u64,
    pub(super) slot: u64,
    pub(super) cost: u64,
    /// The limiter's pause generation when it was granted.
    pub(super) generation: u64,
    pub(super) undo: Undo,
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
        self.shared.backend.refund(&grant.undo)
    }

    pub(super) fn forget_orphans(&self) {
        self.shared
            .orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Refunds a grant when dropped unconsumed (a cancelled wait).
pub(super) struct RefundOnDrop<'a> {
    pub(super) limiter: &'a Limiter,
    pub(super) grant: Option<RawGrant>,
}

impl RefundOnDrop<'_> {
    pub(super) fn consume(mut self) {
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
                super::super::precise::sleep_until(self.slot, self.limiter.fine_waits()).await;
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
