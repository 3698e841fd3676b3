//! The window band: at most `limit` cost units in any interval of length
//! `window`.
//!
//! Two representations, chosen by the limit:
//!
//! - **Exact** (limit ≤ [`EXACT_LIMIT`]): the grants of the last window, one
//!   entry per call (at most `limit` entries, since each costs ≥ 1). A slot
//!   is the first instant at which enough old grants have left the window.
//! - **Bucketed** (larger limits, such as a daily cap of 1 000 000): grants
//!   are counted in [`BUCKETS`] sub-window buckets. A bucket that overlaps
//!   the window at all counts whole, so the band may admit slightly *less*
//!   than the quota, never more: a grant is held for up to `window +
//!   window/BUCKETS`, and a saturating load achieves at least
//!   `BUCKETS/(BUCKETS+1)` (99.9 %) of the quota.
//!
//! Both cost O(grants dropped) per reservation, amortised O(1), under the
//! limiter's mutex; memory is bounded by the limit (exact) or the bucket
//! count (bucketed), plus whatever waiting callers have reserved ahead.

use std::collections::VecDeque;
use std::time::Duration;

use super::Headroom;
use super::gcra::Refusal;
use super::lateness::Lateness;
use super::quota::{Quota, QuotaKind};

/// The largest limit kept exactly, one entry per grant.
pub const EXACT_LIMIT: u64 = 4096;

/// The number of sub-window buckets for limits above [`EXACT_LIMIT`].
pub const BUCKETS: u64 = 1024;

/// How long after a grant leaves the window the next one may start: one
/// tick of tokio's timer, which may wake a sleeper up to 1 ms after its
/// slot. Without it, two calls woken late and early could be sent exactly
/// a window apart.
pub const WINDOW_GUARD: Duration = Duration::from_millis(1);
const GUARD: u64 = WINDOW_GUARD.as_nanos() as u64;

/// A window band's figures, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowParams {
    pub(crate) limit: u64,
    pub(crate) window: u64,
}

impl WindowParams {
    /// The band for a window quota, narrowed by `headroom`; `None` for a rate.
    pub(crate) fn new(quota: &Quota, headroom: &Headroom) -> Option<Self> {
        match quota.kind() {
            QuotaKind::Window { limit, window } => Some(Self::window(limit, window, headroom)),
            QuotaKind::Rate { .. } => None,
        }
    }

    /// `limit` per `window`, narrowed by `headroom`.
    pub(crate) fn window(limit: u64, window: Duration, headroom: &Headroom) -> Self {
        // Rounded down: never more than the quota.
        let limit = ((limit as f64 * headroom.fraction).floor() as u64).max(1);
        let window =
            u64::try_from(window.saturating_add(headroom.margin).as_nanos()).unwrap_or(u64::MAX);
        Self { limit, window }
    }

    /// True if a grant made at `slot` still counts at `now`: until `slot +
    /// window + guard`, the instant [`WindowBand::earliest`] waits for.
    /// Forgetting it at `slot + window` would lose the timer guard.
    fn counts(&self, slot: u64, now: u64, guard: u64) -> bool {
        slot.saturating_add(self.window).saturating_add(guard) > now
    }

    /// The first bucket of `width` that still counts at `now`: a bucket
    /// counts, as a grant at its end, while `end + window + guard > now`.
    fn lowest_bucket(&self, now: u64, width: u64, guard: u64) -> u64 {
        now.saturating_sub(self.window).saturating_sub(guard) / width
    }

    /// The sustained spacing that spends the limit evenly over the window.
    pub(crate) fn sustained_interval(&self) -> u64 {
        self.window.div_ceil(self.limit).max(1)
    }
}

#[derive(Debug)]
enum Grants {
    /// (slot, cost) of every grant still inside the window, oldest first.
    Exact { grants: VecDeque<(u64, u64)> },
    /// Cost per bucket of `width` ns; the front bucket has index `first`.
    Bucketed {
        width: u64,
        first: u64,
        buckets: VecDeque<u64>,
    },
}

/// One window band's state.
#[derive(Debug)]
pub(crate) struct WindowBand {
    params: WindowParams,
    grants: Grants,
    /// Total cost held in `grants`. Wider than a cost: with limits near
    /// `u64::MAX`, the grants of a window plus those reserved ahead can
    /// exceed it, and a saturated total would later undercount.
    held: u128,
    /// How long after leaving the window a grant still counts: at least
    /// [`WINDOW_GUARD`], more while calls go out later than their slots
    /// (a busy machine), so that a call sent late and one sent on time are
    /// still a window apart at the wire.
    guard: u64,
    /// How late this band's calls have gone out lately, remembered for one
    /// to two of its windows: as long as a late call can share a window
    /// with the calls granted after it.
    lateness: Lateness,
    /// When `guard` last grew: grants made before then were spaced by a
    /// smaller guard, and are checked again as they go out.
    guard_grew_at: u64,
}

impl WindowBand {
    pub(crate) fn new(params: WindowParams) -> Self {
        Self {
            params,
            grants: Self::empty_grants(&params),
            held: 0,
            guard: GUARD,
            lateness: Lateness::default(),
            guard_grew_at: 0,
        }
    }

    /// A call granted `late` ns before `now` went out at `now`: keep grants
    /// counted that much longer than the window plus [`WINDOW_GUARD`] while
    /// calls go out that late.
    pub(crate) fn sent_late(&mut self, late: u64, now: u64) {
        let window = self.params.window;
        self.lateness.record(late, now, window);
        let guard = GUARD.saturating_add(self.lateness.guard(window));
        if guard > self.guard {
            self.guard_grew_at = now;
        }
        self.guard = guard;
    }

    /// The window at the wire, for a call granted `slot` for `cost` (made
    /// at `granted`) that goes out at `now`: `Err(earliest)` if the grants
    /// already due and still counted (this one aside) leave no room for it.
    ///
    /// Slots were spaced with the guard of their time; a call that went out
    /// late since (the guard grew) or this call's own lateness can put
    /// more than the limit into one window at the server. Checked only
    /// then, and on exact bands (a bucketed band keeps to the guard).
    pub(crate) fn send_check(
        &self,
        granted: u64,
        slot: u64,
        cost: u64,
        now: u64,
    ) -> Result<(), u64> {
        if now <= slot && self.guard_grew_at < granted {
            return Ok(());
        }
        let Grants::Exact { grants } = &self.grants else {
            return Ok(());
        };
        // The grants due by `now` that still count, this one left out once.
        let others = || {
            let mut own = Some((slot, cost));
            grants.iter().filter(move |&&grant| {
                if own == Some(grant) {
                    own = None;
                    return false;
                }
                grant.0 <= now && self.params.counts(grant.0, now, self.guard)
            })
        };
        let held = others()
            .map(|&(_, other)| u128::from(other))
            .fold(u128::from(cost), u128::saturating_add);
        let mut excess = held.saturating_sub(u128::from(self.params.limit));
        if excess == 0 {
            return Ok(());
        }
        // The oldest of them leave first (grants are in slot order).
        for &(other_slot, other) in others() {
            excess = excess.saturating_sub(u128::from(other));
            if excess == 0 {
                return Err(other_slot
                    .saturating_add(self.params.window)
                    .saturating_add(self.guard));
            }
        }
        Ok(())
    }

    /// True if the guard can cover a call `late` ns after its slot
    /// ([`Lateness::cap`]); a later one must reserve again.
    pub(crate) fn covers(&self, late: u64) -> bool {
        late <= Lateness::cap(self.params.window)
    }

    fn empty_grants(params: &WindowParams) -> Grants {
        if params.limit <= EXACT_LIMIT {
            Grants::Exact {
                grants: VecDeque::new(),
            }
        } else {
            Grants::Bucketed {
                width: params.window.div_ceil(BUCKETS).max(1),
                first: 0,
                buckets: VecDeque::new(),
            }
        }
    }

    pub(crate) fn params(&self) -> WindowParams {
        self.params
    }

    /// Replace the figures; grants already made keep counting.
    pub(crate) fn set_params(&mut self, params: WindowParams) {
        let old = std::mem::replace(&mut self.grants, Self::empty_grants(&params));
        self.params = params;
        self.held = 0;
        // Re-file every grant; a bucket becomes one grant at its last instant,
        // so it stays in the window at least as long as before.
        match old {
            Grants::Exact { grants } => {
                for (slot, cost) in grants {
                    self.commit(slot, cost);
                }
            }
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => {
                for (index, cost) in (first..).zip(buckets) {
                    if cost > 0 {
                        let end = index.saturating_add(1).saturating_mul(width) - 1;
                        self.commit(end, cost);
                    }
                }
            }
        }
    }

    /// Forget grants that can no longer share a window with any slot ≥ `now`.
    fn prune(&mut self, now: u64) {
        let params = self.params;
        let guard = self.guard;
        match &mut self.grants {
            Grants::Exact { grants } => {
                while let Some(&(slot, cost)) = grants.front() {
                    if params.counts(slot, now, guard) {
                        break;
                    }
                    grants.pop_front();
                    self.held = self.held.saturating_sub(u128::from(cost));
                }
            }
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => {
                let lowest = params.lowest_bucket(now, *width, guard);
                while *first < lowest {
                    match buckets.pop_front() {
                        Some(cost) => self.held = self.held.saturating_sub(u128::from(cost)),
                        None => {
                            *first = lowest;
                            break;
                        }
                    }
                    *first += 1;
                }
            }
        }
    }

    /// The earliest instant (≥ every grant) at which `cost` fits.
    ///
    /// Grants are made in slot order, so a later slot only sees grants leave
    /// the window: the answer is the instant the oldest grants that must go
    /// have gone (0 when the cost already fits).
    pub(crate) fn earliest(&mut self, now: u64, cost: u64) -> Result<u64, Refusal> {
        if cost > self.params.limit {
            return Err(Refusal::CostTooLarge {
                capacity: self.params.limit,
            });
        }
        self.prune(now);
        let mut excess = (self.held.saturating_add(u128::from(cost)))
            .saturating_sub(u128::from(self.params.limit));
        if excess == 0 {
            return Ok(0);
        }
        let window = self.params.window;
        match &self.grants {
            Grants::Exact { grants } => {
                for &(slot, cost) in grants {
                    excess = excess.saturating_sub(u128::from(cost));
                    if excess == 0 {
                        // `slot` must fall before the window [s − w, s],
                        // by a timer tick.
                        return Ok(slot.saturating_add(window).saturating_add(self.guard));
                    }
                }
            }
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => {
                for (index, &cost) in (*first..).zip(buckets) {
                    excess = excess.saturating_sub(u128::from(cost));
                    if excess == 0 {
                        // The bucket must end before the window starts.
                        let end = index.saturating_add(1).saturating_mul(*width);
                        return Ok(end.saturating_add(window).saturating_add(self.guard));
                    }
                }
            }
        }
        // Unreachable while `held` matches the grants; refuse rather than panic.
        Err(Refusal::CostTooLarge {
            capacity: self.params.limit,
        })
    }

    /// Record a grant of `cost` at `slot` (no earlier than any other grant).
    pub(crate) fn commit(&mut self, slot: u64, cost: u64) {
        self.held = self.held.saturating_add(u128::from(cost));
        match &mut self.grants {
            Grants::Exact { grants } => grants.push_back((slot, cost)),
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => {
                let index = slot / *width;
                if buckets.is_empty() {
                    *first = index;
                }
                // A grant older than the front bucket is filed in it: later,
                // hence held at least as long (conservative).
                let offset = index.saturating_sub(*first) as usize;
                if buckets.len() <= offset {
                    buckets.resize(offset + 1, 0);
                }
                // Saturating: a bucket that undercounts is taken off `held`
                // for less than was added, which errs towards waiting.
                if let Some(bucket) = buckets.get_mut(offset) {
                    *bucket = bucket.saturating_add(cost);
                }
            }
        }
    }

    /// Forget the grants whose slots are after `now`: a pause voided them,
    /// and their calls reserve again. A bucketed band keeps them (a bucket
    /// does not know its grants' slots): it errs towards waiting.
    pub(crate) fn forget_after(&mut self, now: u64) {
        if let Grants::Exact { grants } = &mut self.grants {
            while let Some(&(slot, cost)) = grants.back() {
                if slot <= now {
                    break;
                }
                grants.pop_back();
                self.held = self.held.saturating_sub(u128::from(cost));
            }
        }
    }

    /// Take back the most recent grant, made at `slot` for `cost`.
    pub(crate) fn undo_last(&mut self, slot: u64, cost: u64) {
        match &mut self.grants {
            Grants::Exact { grants } => {
                if grants.back() == Some(&(slot, cost)) {
                    grants.pop_back();
                    self.held = self.held.saturating_sub(u128::from(cost));
                }
            }
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => {
                let offset = (slot / *width).saturating_sub(*first) as usize;
                if let Some(bucket) = buckets.get_mut(offset) {
                    let taken = cost.min(*bucket);
                    *bucket -= taken;
                    self.held = self.held.saturating_sub(u128::from(taken));
                }
            }
        }
    }

    /// Entries kept in memory: one per grant (exact) or per bucket.
    pub(crate) fn tracked(&self) -> usize {
        match &self.grants {
            Grants::Exact { grants } => grants.len(),
            Grants::Bucketed { buckets, .. } => buckets.len(),
        }
    }

    /// Cost that could be granted at `now` without waiting.
    pub(crate) fn remaining(&self, now: u64) -> u64 {
        let held: u128 = match &self.grants {
            Grants::Exact { grants } => grants
                .iter()
                .filter(|(slot, _)| self.params.counts(*slot, now, self.guard))
                .map(|(_, cost)| u128::from(*cost))
                .sum(),
            Grants::Bucketed {
                width,
                first,
                buckets,
            } => (*first..)
                .zip(buckets)
                .filter(|(index, _)| *index >= self.params.lowest_bucket(now, *width, self.guard))
                .map(|(_, cost)| u128::from(*cost))
                .sum(),
        };
        // ≤ limit, so it fits back in a u64.
        u64::try_from(u128::from(self.params.limit).saturating_sub(held)).unwrap_or(0)
    }
}
