//! What a limiter shows of itself: [`LimiterSnapshot`], one
//! [`BandSnapshot`] per band, and the [`LearnedBand`] refusals narrowed.

use std::time::Duration;

use tokio::time::Instant;

use super::quota::{BandRole, Quota};

/// A view of a [`Limiter`](super::Limiter) at one instant; see [`Limiter::snapshot`](super::Limiter::snapshot).
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
    /// room (see [`Limiter::note_refusal`](super::Limiter::note_refusal)).
    pub limit_mismatches: u64,
    /// The band narrowed by those refusals, while it is.
    pub learned: Option<LearnedBand>,
}

/// A band narrowed by surprise refusals; see [`Limiter::note_refusal`](super::Limiter::note_refusal).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LearnedBand {
    /// The band's index, in [`Limiter::quotas`](super::Limiter::quotas) order.
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
    /// What the band is for (see [`LimiterBuilder::band`](super::LimiterBuilder::band)).
    pub role: BandRole,
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
