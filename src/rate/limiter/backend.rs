//! Where a limiter's bands live: [`Backend`], one enum over the local
//! lock-free single rate band, the local multi-band engine, and (feature
//! `redis`) bands kept in Redis behind the narrow [`Remote`] trait.
//!
//! Every `cfg(feature = "redis")` branch of the limiter's methods is here
//! (the handle keeps only the Redis constructors' gates): the handle asks
//! the backend, and the backend answers for each kind. The local kinds stay
//! unboxed, so a free slot on a single rate band is one match and one
//! compare-and-swap; only the Redis one is behind a pointer.

use std::sync::Mutex;

use super::super::gcra::{AtomicGcra, Grant, Refusal};
use super::bands::{Band, Bands, BandsUndo, lock, refund_bands, reserve_bands};
use super::reservation::Release;
use super::{Limiter, RawGrant, Reservation};
use crate::error::RateError;

use super::super::{Headroom, Quota};
use crate::ConfigError;
use tokio::time::Instant;

#[cfg(feature = "redis")]
use std::sync::Arc;

/// A reservation that takes a round trip (a limiter shared through Redis).
pub(crate) type RemoteReservation =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reservation, RateError>> + Send>>;

/// The bands of a limiter kept elsewhere (in Redis), as the limiter sees
/// them: all it asks of them, and all they get to do to it. The remote side
/// reaches back only through [`Limiter`]'s public methods and
/// [`Limiter::remote_grant`], [`Limiter::record_wait`] and
/// [`Limiter::record_refusal`].
#[cfg(feature = "redis")]
pub(crate) trait Remote: Send + Sync {
    /// A slot for a call of `cost` on `limiter`: one round trip.
    fn reserve(self: Arc<Self>, limiter: Limiter, cost: u64) -> RemoteReservation;

    /// Hold every process sharing the bands until `until` (this process is
    /// held already).
    fn pause(self: Arc<Self>, until: Instant);

    /// Change band `band` to `quota` where the bands are kept (the limiter
    /// has checked it against `headroom` already).
    fn set_quota(&self, band: usize, quota: &Quota, headroom: &Headroom)
    -> Result<(), ConfigError>;

    /// What the synchronous methods, which a round trip cannot serve,
    /// return.
    fn sync_refusal(&self) -> RateError;
}

/// Where the bands live.
pub(super) enum Backend {
    /// One rate band: lock-free.
    Single(AtomicGcra),
    /// Anything else: every band under one lock, charged together.
    Bands(Mutex<Bands>),
    /// Every band in Redis, shared by every process using the same key;
    /// reservations take a round trip (see [`Backend::remote_reservation`]).
    #[cfg(feature = "redis")]
    Remote(Arc<dyn Remote>),
}

/// What undoes a reservation.
#[derive(Debug)]
pub(super) enum Undo {
    /// Nothing was charged (cost 0, or a slot granted elsewhere).
    Nothing,
    Single(Grant),
    Bands(BandsUndo),
}

/// Why a backend did not grant a slot.
pub(super) enum Refused {
    /// The bands refused it.
    Bands(Refusal),
    /// The backend cannot grant synchronously (Redis).
    #[cfg(feature = "redis")]
    Unavailable(RateError),
}

impl Refused {
    /// The bands' refusal, or the error to return as it is.
    #[inline]
    pub(super) fn into_refusal(self) -> Result<Refusal, RateError> {
        match self {
            Refused::Bands(refusal) => Ok(refusal),
            #[cfg(feature = "redis")]
            Refused::Unavailable(error) => Err(error),
        }
    }
}

impl Backend {
    /// The local bands for `bands`: lock-free for a single rate band.
    pub(super) fn local(bands: Vec<Band>) -> Self {
        match <[Band; 1]>::try_from(bands) {
            Ok([Band::Rate { params, .. }]) => Backend::Single(AtomicGcra::new(params)),
            Ok([window]) => Backend::Bands(Mutex::new(Bands::new(vec![window]))),
            Err(bands) => Backend::Bands(Mutex::new(Bands::new(bands))),
        }
    }

    /// Charge `cost` at the earliest slot from `floor` on, if it is no later
    /// than `latest`: the slot and what undoes it.
    #[inline]
    pub(super) fn reserve(
        &self,
        floor: u64,
        cost: u64,
        latest: u64,
    ) -> Result<(u64, Undo), Refused> {
        match self {
            Backend::Single(band) => match band.reserve(floor, cost, latest) {
                Ok(grant) => Ok((grant.slot, Undo::Single(grant))),
                Err(refusal) => Err(Refused::Bands(refusal)),
            },
            Backend::Bands(bands) => match reserve_bands(&mut lock(bands), floor, cost, latest) {
                Ok((slot, undo)) => Ok((slot, Undo::Bands(undo))),
                Err(refusal) => Err(Refused::Bands(refusal)),
            },
            #[cfg(feature = "redis")]
            Backend::Remote(remote) => Err(Refused::Unavailable(remote.sync_refusal())),
        }
    }

    /// The round trip of a reservation on remote bands; `None` for local
    /// ones (which reserve synchronously and allocate nothing).
    #[inline]
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(super) fn remote_reservation(
        &self,
        limiter: &Limiter,
        cost: u64,
    ) -> Option<RemoteReservation> {
        #[cfg(feature = "redis")]
        if let Backend::Remote(remote) = self {
            return Some(remote_reservation(remote, limiter, cost));
        }
        None
    }

    /// True if the bands are kept elsewhere: the slot they gave cannot be
    /// given again here, nor their figures read without a round trip.
    #[inline]
    pub(super) fn is_remote(&self) -> bool {
        #[cfg(feature = "redis")]
        if let Backend::Remote(_) = self {
            return true;
        }
        false
    }

    /// May `grant` go out at `now` (its pause generation already checked)?
    /// `wire`: whether rate bands hold their spacing at the wire.
    #[inline]
    pub(super) fn release(&self, grant: &RawGrant, now: u64, wire: bool) -> Release {
        match self {
            Backend::Single(_) if !wire => Release::Go,
            Backend::Single(band) => match band.send(now, grant.cost) {
                Ok(()) => Release::Go,
                Err(earliest) => Release::NotBefore(earliest),
            },
            Backend::Bands(bands) => lock(bands).release(grant, now, wire),
            #[cfg(feature = "redis")]
            Backend::Remote(_) => Release::Go,
        }
    }

    /// Undo a grant if it is still the newest; false if it cannot be yet.
    pub(super) fn refund(&self, undo: &Undo) -> bool {
        match (undo, self) {
            (Undo::Nothing, _) => true,
            (Undo::Single(grant), Backend::Single(band)) => band.refund(grant),
            (Undo::Bands(undo), Backend::Bands(bands)) => refund_bands(&mut lock(bands), undo),
            _ => false,
        }
    }

    /// Hold the bands until `at` (nanoseconds; `until` as an instant), seen
    /// at `now`. `void` voids the grants not yet out, at the moment the
    /// bands' books drop them.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(super) fn pause(&self, at: u64, now: u64, until: Instant, void: impl FnOnce()) {
        match self {
            Backend::Single(band) => {
                band.pause_until(at, now);
                void();
            }
            Backend::Bands(bands) => lock(bands).pause(at, now, void),
            #[cfg(feature = "redis")]
            Backend::Remote(remote) => Arc::clone(remote).pause(until),
        }
    }

    /// What each band could grant at `now` and the entries it keeps; `None`
    /// where that is not known without a round trip.
    pub(super) fn figures(&self, now: u64) -> Option<Vec<(u64, usize)>> {
        match self {
            Backend::Single(band) => Some(vec![(band.params().remaining(band.tat(), now), 1)]),
            Backend::Bands(bands) => Some(lock(bands).figures(now)),
            #[cfg(feature = "redis")]
            Backend::Remote(_) => None,
        }
    }

    /// Put `new`'s figures in place of local band `band` (its grants kept):
    /// `Ok(false)` when the bands are not local, `Err(reason)` when there
    /// is no local band of that kind.
    pub(super) fn replace_band(&self, band: usize, new: Band) -> Result<bool, &'static str> {
        match (self, new) {
            (Backend::Single(gcra), Band::Rate { params, .. }) => gcra.set_params(params),
            (Backend::Single(_), Band::Window(_)) => {
                return Err("a band cannot change kind (rate ↔ window)");
            }
            (Backend::Bands(bands), new) => lock(bands).replace(band, new)?,
            #[cfg(feature = "redis")]
            (Backend::Remote(_), _) => return Ok(false),
        }
        Ok(true)
    }

    /// Change band `band` where the bands are kept, if not here.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(super) fn set_remote_quota(
        &self,
        band: usize,
        quota: &Quota,
        headroom: &Headroom,
    ) -> Result<(), ConfigError> {
        #[cfg(feature = "redis")]
        if let Backend::Remote(remote) = self {
            return remote.set_quota(band, quota, headroom);
        }
        Ok(())
    }
}

/// Out of line, so that the local fast path around
/// [`Backend::remote_reservation`] stays small enough to inline.
#[cfg(feature = "redis")]
#[inline(never)]
fn remote_reservation(remote: &Arc<dyn Remote>, limiter: &Limiter, cost: u64) -> RemoteReservation {
    Arc::clone(remote).reserve(limiter.clone(), cost)
}
