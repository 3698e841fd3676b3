//! [`LimiterBuilder`]: a limiter's quotas, roles, bounds and hooks,
//! checked before it is built. (The accessors only a limiter shared through
//! Redis needs live with the Redis code.)

use std::sync::Arc;
use std::time::Duration;

use super::clock::LimiterClock;
use super::observer::Observer;
use super::quota::{BandRole, MAX_PERIOD, Quota};
use super::{Headroom, Limiter, LimiterObserver};
use crate::ConfigError;

/// Builds a [`Limiter`]; see [`Limiter::builder`].
#[derive(Debug, Clone)]
pub struct LimiterBuilder {
    pub(super) name: Option<String>,
    pub(super) clock: LimiterClock,
    pub(super) quotas: Vec<Quota>,
    /// One per quota, in band order.
    pub(super) roles: Vec<BandRole>,
    pub(super) max_wait: Option<Duration>,
    pub(super) headroom: Headroom,
    pub(super) learn: bool,
    pub(super) wire_spacing: bool,
    pub(super) observer: Option<Observer>,
}

impl Default for LimiterBuilder {
    fn default() -> Self {
        Self {
            name: None,
            clock: LimiterClock::default(),
            quotas: Vec::new(),
            roles: Vec::new(),
            max_wait: None,
            headroom: Headroom::default(),
            learn: true,
            wire_spacing: true,
            observer: None,
        }
    }
}

impl LimiterBuilder {
    /// Adds a band; a call needs room in every band.
    pub fn quota(self, quota: Quota) -> Self {
        self.band(quota, BandRole::Quota)
    }

    /// Adds a band with its role, so that whoever steers it finds it by
    /// role ([`Limiter::band`]) rather than by position. A call needs room
    /// in every band, whatever its role.
    pub fn band(mut self, quota: Quota, role: BandRole) -> Self {
        self.quotas.push(quota);
        self.roles.push(role);
        self
    }

    /// A slot further away than this is refused at once with
    /// [`RateError::QuotaExhausted`](super::RateError::QuotaExhausted) instead of being waited for.
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

    /// Name the destination this limiter paces (in `Debug` output and
    /// logs). Metrics come from an [`observer`](Self::observer).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Report waits, refusals and limit mismatches to `observer` (replacing
    /// any set before); see [`LimiterObserver`].
    pub fn observer(mut self, observer: impl LimiterObserver) -> Self {
        self.observer = Some(Observer(Arc::new(observer)));
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

    pub(super) fn check_headroom(&self) -> Result<(), ConfigError> {
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
}
