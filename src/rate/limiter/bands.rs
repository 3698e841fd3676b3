//! The multi-band engine: every band of a local limiter (GCRA rates and
//! sliding windows) behind one lock, checked together and charged together,
//! with the paced restart after a pause and the undo of the newest grant.

use std::sync::{Mutex, MutexGuard};

use super::super::Headroom;
use super::super::gcra::{GcraParams, Refusal};
use super::super::quota::{Quota, QuotaKind};
use super::super::window::{WindowBand, WindowParams};
use super::RawGrant;
use super::reservation::Release;

pub(super) enum Band {
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
    pub(super) fn span(&self) -> u64 {
        match self {
            Band::Rate { params, .. } => params.interval.saturating_mul(params.burst),
            Band::Window(window) => window.params().window,
        }
    }

    pub(super) fn new(quota: &Quota, headroom: &Headroom) -> Self {
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

pub(super) struct Bands {
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
    pub(super) fn new(bands: Vec<Band>) -> Self {
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
    pub(super) fn binding(&self) -> Option<usize> {
        (0..self.bands.len()).min_by_key(|&index| self.bands[index].span())
    }

    /// The paced restart after a pause: (spacing, length). It follows the
    /// binding band when that is a window — its sustained pace, for one of
    /// its windows — and is not needed when it is a rate, which paces
    /// itself. Never a daily band's average pace, which would hold the
    /// destination at a fraction of its quota for the rest of a run.
    pub(super) fn restart(&self) -> Option<(u64, u64)> {
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
    pub(super) fn too_late(&self, slot: u64, now: u64) -> bool {
        let late = now.saturating_sub(slot);
        late > 0
            && self
                .bands
                .iter()
                .any(|band| matches!(band, Band::Window(window) if !window.covers(late)))
    }

    /// The call granted `slot` went out at `now`: window bands keep their
    /// grants counted for the lateness.
    pub(super) fn sent(&mut self, slot: u64, now: u64) {
        let late = now.saturating_sub(slot);
        for band in &mut self.bands {
            if let Band::Window(window) = band {
                window.sent_late(late, now);
            }
        }
    }
}

/// What undoes a reservation on the bands.
#[derive(Debug)]
pub(super) struct BandsUndo {
    ticket: u64,
    prev_newest: u64,
    prev_last_slot: u64,
    prev_ramp: Option<u64>,
    /// Previous `tat` of each rate band, in band order.
    prev_tats: Vec<u64>,
    slot: u64,
    cost: u64,
}

pub(super) fn lock(bands: &Mutex<Bands>) -> MutexGuard<'_, Bands> {
    // The state stays consistent between statements, so a panic elsewhere
    // while holding the lock leaves nothing half-done.
    bands
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(super) fn reserve_bands(
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

pub(super) fn refund_bands(state: &mut Bands, undo: &BandsUndo) -> bool {
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

impl Bands {
    /// Hold every band until `at` (nanoseconds), seen at `now`: grants not
    /// yet out come off the books, and `void` (which voids them for their
    /// holders) runs under the lock, so a reservation sees both or neither.
    pub(super) fn pause(&mut self, at: u64, now: u64, void: impl FnOnce()) {
        for band in &mut self.bands {
            match band {
                Band::Rate { params, tat, .. } => *tat = params.rewound(*tat, now, at),
                Band::Window(window) => window.forget_after(now),
            }
        }
        self.last_slot = self.last_slot.min(now);
        void();
        if let Some((interval, window)) = self.restart() {
            let start = self.ramp.unwrap_or(0).max(at);
            self.ramp = Some(start);
            self.ramp_interval = interval;
            self.ramp_end = start.saturating_add(window);
        }
        // Undoing an older reservation would roll the pause back.
        self.newest = 0;
    }

    /// May the call granted `grant` go out at `now`? See
    /// [`Limiter::release`](super::Limiter::release); `wire` is whether
    /// rate bands hold their spacing at the wire.
    pub(super) fn release(&mut self, grant: &RawGrant, now: u64, wire: bool) -> Release {
        // A stalled caller (a busy machine, a future polled late) must not
        // break a window at the server.
        if self.too_late(grant.slot, now) {
            return Release::Reserve;
        }
        let mut earliest = 0;
        for band in &self.bands {
            if let Band::Window(window) = band
                && let Err(at) = window.send_check(grant.now, grant.slot, grant.cost, now)
            {
                earliest = earliest.max(at);
            }
        }
        for band in self.bands.iter().filter(|_| wire) {
            if let Band::Rate { params, wire, .. } = band
                && let Err(at) = params.send(*wire, now, grant.cost)
            {
                earliest = earliest.max(at);
            }
        }
        if earliest > 0 {
            return Release::NotBefore(earliest);
        }
        for band in self.bands.iter_mut().filter(|_| wire) {
            if let Band::Rate { params, tat, wire } = band
                && let Ok(next) = params.send(*wire, now, grant.cost)
            {
                *wire = next;
                *tat = (*tat).max(next);
            }
        }
        self.sent(grant.slot, now);
        Release::Go
    }

    /// Put `new`'s figures in place of band `band`, keeping its grants.
    pub(super) fn replace(&mut self, band: usize, new: Band) -> Result<(), &'static str> {
        match (self.bands.get_mut(band), new) {
            (Some(Band::Rate { params, .. }), Band::Rate { params: new, .. }) => *params = new,
            (Some(Band::Window(window)), Band::Window(new)) => window.set_params(new.params()),
            _ => return Err("no such quota band of that kind"),
        }
        if let Some((interval, _)) = self.restart() {
            self.ramp_interval = interval;
        }
        self.newest = 0;
        Ok(())
    }

    /// What each band could grant at `now`, and the entries it keeps.
    pub(super) fn figures(&self, now: u64) -> Vec<(u64, usize)> {
        self.bands
            .iter()
            .map(|band| match band {
                Band::Rate { params, tat, .. } => (params.remaining(*tat, now), 1),
                Band::Window(window) => (window.remaining(now), window.tracked()),
            })
            .collect()
    }
}
