//! Learning from a surprise refusal.
//!
//! A refusal (429) that arrives while the limiter's books said there was
//! room means the server counts differently from the policy: arrival skew
//! on a busy network, another client sharing the API key, or a limit
//! stricter than documented. Each such *limit mismatch* narrows the band
//! that binds (the one counting over the shortest span) by a step; the
//! narrowing is held for a while, then relaxed slowly, so a fixed-quota
//! policy settles just under what the server really allows instead of
//! being refused again and again.

use std::time::Duration;

/// Each mismatch grants this share of what the band granted before.
pub const LEARN_STEP: f64 = 0.9;

/// Learning never narrows a band below this share of its quota.
pub const LEARN_FLOOR: f64 = 0.5;

/// After the hold, each span of the band without a mismatch gives back
/// this share of the quota.
pub const LEARN_RELAX: f64 = 0.01;

/// A narrowing holds for this many spans of the band (and at least
/// [`LEARN_MIN_HOLD`]) before it starts to relax.
pub const LEARN_HOLD_SPANS: u32 = 10;

/// The shortest hold, and the shortest relax step, of a learned narrowing.
pub const LEARN_MIN_HOLD: Duration = Duration::from_secs(10);

/// Refusals closer together than this (or within the pause the first one
/// started) are one episode: the calls already in flight when the server
/// first said no are refused too, and say nothing new.
pub(crate) const EPISODE: u64 = 100_000_000;

/// The learning state of one limiter (under a mutex: refusals are rare).
#[derive(Debug)]
pub(crate) struct Learning {
    pub(crate) enabled: bool,
    /// The band narrowed, once a mismatch has been seen.
    pub(crate) band: Option<usize>,
    /// The share of the band's quota granted now (1 = as configured).
    pub(crate) factor: f64,
    /// The most relaxing gives back: the share the server's own headers
    /// named for the band (1 when they named none).
    pub(crate) ceiling: f64,
    /// Refusals before this instant belong to the last episode.
    pub(crate) quiet_until: u64,
    /// Length of one relax step (a span of the band, at least the minimum).
    pub(crate) step: u64,
    /// Whether the first mismatch has been logged at WARN.
    pub(crate) logged: bool,
}

impl Learning {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            band: None,
            factor: 1.0,
            ceiling: 1.0,
            quiet_until: 0,
            step: 0,
            logged: false,
        }
    }

    /// The factor after one more mismatch; `named` is the share of the
    /// quota the server's headers named, if they did.
    pub(crate) fn narrowed(&self, named: Option<f64>) -> f64 {
        let step = self.factor * LEARN_STEP;
        named.map_or(step, |named| step.min(named)).max(LEARN_FLOOR)
    }

    /// The factor after one relax step.
    pub(crate) fn relaxed(&self) -> f64 {
        (self.factor + LEARN_RELAX).min(self.ceiling)
    }

    /// How long a narrowing holds, and how long each relax step lasts, for
    /// a band that counts over `span` nanoseconds.
    pub(crate) fn timing(span: u64) -> (u64, u64) {
        let min = super::clock::nanos(LEARN_MIN_HOLD);
        let hold = span.saturating_mul(u64::from(LEARN_HOLD_SPANS)).max(min);
        let step = span.max(min / u64::from(LEARN_HOLD_SPANS));
        (hold, step)
    }
}
