//! The GCRA band: a token bucket expressed as one "theoretical arrival time".
//!
//! With emission interval `T` and burst `b`, the band keeps `tat`, the time
//! at which the bucket would be full again. A call of cost `n` may start at
//! `tat + (n-1)·T − τ` (τ = `T·(b−1)`), and moves `tat` to
//! `max(tat, slot) + n·T`. Reservations always succeed (unless the slot is
//! too far away), so concurrent callers get increasing, distinct slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Headroom;
use super::quota::{Quota, QuotaKind};

/// A GCRA band's figures, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraParams {
    /// Sustained spacing between unit-cost calls.
    pub(crate) interval: u64,
    /// The largest cost granted at one instant.
    pub(crate) burst: u64,
}

impl GcraParams {
    /// The band for a rate quota, slowed by `headroom`; `None` for a window.
    pub(crate) fn new(quota: &Quota, headroom: &Headroom) -> Option<Self> {
        match quota.kind() {
            QuotaKind::Rate {
                count,
                period,
                burst,
            } => Some(Self::rate(count, period, burst, headroom)),
            QuotaKind::Window { .. } => None,
        }
    }

    /// `count` per `period` with `burst`, slowed by `headroom`.
    pub(crate) fn rate(count: u64, period: Duration, burst: u64, headroom: &Headroom) -> Self {
        let period = period.saturating_add(headroom.margin).as_nanos() as f64;
        // Rounded up: never faster than the quota.
        let interval = (period / (count as f64 * headroom.fraction)).ceil();
        let interval = if interval >= u64::MAX as f64 {
            u64::MAX
        } else {
            (interval as u64).max(1)
        };
        Self {
            interval,
            burst: burst.max(1),
        }
    }

    /// τ: how far ahead of `now` the theoretical arrival time may run.
    /// Never saturates: limiters refuse bands whose `interval × burst`
    /// exceeds a year (saturating to `u64::MAX` would admit every call).
    #[inline]
    fn tau(&self) -> u64 {
        self.interval.saturating_mul(self.burst - 1)
    }

    /// The earliest instant a call of `cost` (≥ 1, ≤ burst) may start.
    #[inline]
    pub(crate) fn earliest(&self, tat: u64, cost: u64) -> u64 {
        tat.saturating_add((cost - 1).saturating_mul(self.interval))
            .saturating_sub(self.tau())
    }

    /// The theoretical arrival time after granting `cost` at `slot`.
    #[inline]
    pub(crate) fn advance(&self, tat: u64, slot: u64, cost: u64) -> u64 {
        tat.max(slot)
            .saturating_add(cost.saturating_mul(self.interval))
    }

    /// The wire check of a call of `cost` going out at `now`, against `wire`,
    /// the theoretical arrival time of the calls as they really went out:
    /// `Ok(new wire)` if the server's own GCRA would take it, or
    /// `Err(earliest)` if it would come too soon after a call that left late.
    #[inline]
    pub(crate) fn send(&self, wire: u64, now: u64, cost: u64) -> Result<u64, u64> {
        let cost = cost.clamp(1, self.burst);
        let earliest = self.earliest(wire, cost);
        if earliest > now {
            Err(earliest)
        } else {
            Ok(self.advance(wire, now, cost))
        }
    }

    /// The theoretical arrival time after a pause until `at` that starts at
    /// `now`: the bucket empty at `at`, and no trace of the grants whose
    /// slots are still to come (their calls reserve again after the
    /// pause), but every trace of those already due (a grant at a slot
    /// `s` leaves `tat` at most `s + τ + T`).
    pub(crate) fn rewound(&self, tat: u64, now: u64, at: u64) -> u64 {
        let due = now.saturating_add(self.tau()).saturating_add(self.interval);
        self.empty_at(at).max(tat.min(due))
    }

    /// The theoretical arrival time that makes the bucket empty at `at`.
    pub(crate) fn empty_at(&self, at: u64) -> u64 {
        at.saturating_add(self.tau())
    }

    /// How much cost could be granted at `now` without waiting.
    pub(crate) fn remaining(&self, tat: u64, now: u64) -> u64 {
        let horizon = now.saturating_add(self.tau());
        if horizon < tat {
            return 0;
        }
        ((horizon - tat) / self.interval + 1).min(self.burst)
    }
}

/// Why a reservation on a band was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The cost exceeds what the band can ever hold.
    CostTooLarge { capacity: u64 },
    /// The earliest slot is further away than allowed.
    TooFar { slot: u64 },
}

/// A granted GCRA reservation: the slot and what is needed to undo it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) slot: u64,
    pub(crate) prev_tat: u64,
    pub(crate) new_tat: u64,
}

/// A lock-free GCRA band: the theoretical arrival time in one atomic.
///
/// The parameters sit in atomics of their own so they can change at run
/// time; a reservation racing with a change may use the old interval with
/// the new burst (or the reverse) once, which is harmless.
#[derive(Debug)]
pub(crate) struct AtomicGcra {
    tat: AtomicU64,
    /// The theoretical arrival time of the calls as they went out.
    wire: AtomicU64,
    interval: AtomicU64,
    burst: AtomicU64,
}

impl AtomicGcra {
    pub(crate) fn new(params: GcraParams) -> Self {
        Self {
            tat: AtomicU64::new(0),
            wire: AtomicU64::new(0),
            interval: AtomicU64::new(params.interval),
            burst: AtomicU64::new(params.burst),
        }
    }

    #[inline]
    pub(crate) fn params(&self) -> GcraParams {
        GcraParams {
            interval: self.interval.load(Ordering::Relaxed),
            burst: self.burst.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_params(&self, params: GcraParams) {
        self.interval.store(params.interval, Ordering::Relaxed);
        self.burst.store(params.burst, Ordering::Relaxed);
    }

    pub(crate) fn tat(&self) -> u64 {
        self.tat.load(Ordering::Acquire)
    }

    /// Reserve `cost` (≥ 1) at or after `now`, no later than `latest`.
    #[inline]
    pub(crate) fn reserve(&self, now: u64, cost: u64, latest: u64) -> Result<Grant, Refusal> {
        let params = self.params();
        if cost > params.burst {
            return Err(Refusal::CostTooLarge {
                capacity: params.burst,
            });
        }
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let slot = params.earliest(tat, cost).max(now);
            if slot > latest {
                return Err(Refusal::TooFar { slot });
            }
            let new_tat = params.advance(tat, slot, cost);
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Ok(Grant {
                        slot,
                        prev_tat: tat,
                        new_tat,
                    });
                }
                Err(current) => tat = current,
            }
        }
    }

    /// A call of `cost` goes out at `now`: `Err(earliest)` if that is too
    /// soon after the calls that went out before it (one woke late, and
    /// its successor's slot no longer keeps the band's spacing at the
    /// wire). On success, reservations made from now on start after it.
    #[inline]
    pub(crate) fn send(&self, now: u64, cost: u64) -> Result<(), u64> {
        let params = self.params();
        let mut wire = self.wire.load(Ordering::Acquire);
        loop {
            let next = params.send(wire, now, cost)?;
            match self
                .wire
                .compare_exchange_weak(wire, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Late calls push the schedule back, so that later
                    // reservations do not wake only to wait again.
                    self.tat.fetch_max(next, Ordering::AcqRel);
                    return Ok(());
                }
                Err(current) => wire = current,
            }
        }
    }

    /// Undo `grant` if no reservation was made after it; true if undone.
    pub(crate) fn refund(&self, grant: &Grant) -> bool {
        self.tat
            .compare_exchange(
                grant.new_tat,
                grant.prev_tat,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// A pause from `now` until `at`: see [`GcraParams::rewound`].
    pub(crate) fn pause_until(&self, at: u64, now: u64) {
        let params = self.params();
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let target = params.rewound(tat, now, at);
            match self
                .tat
                .compare_exchange_weak(tat, target, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(current) => tat = current,
            }
        }
    }
}
