//! Reserving and pausing on a limiter shared through Redis, with the
//! policy for when Redis does not answer: [`RedisCore`]'s side of the
//! limiter's [`Remote`] interface.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::remote::RedisCore;
use super::script::Reply;
use crate::ConfigError;
use crate::rate::limiter::{Remote, RemoteReservation};
use crate::rate::{Headroom, Limiter, Quota, RateError, Reservation};

impl Remote for RedisCore {
    fn reserve(self: Arc<Self>, limiter: Limiter, cost: u64) -> RemoteReservation {
        Box::pin(reserve(self, limiter, cost))
    }

    fn pause(self: Arc<Self>, until: Instant) {
        pause(self, until);
    }

    fn set_quota(
        &self,
        band: usize,
        quota: &Quota,
        headroom: &Headroom,
    ) -> Result<(), ConfigError> {
        RedisCore::set_quota(self, band, quota, headroom)
    }

    fn sync_refusal(&self) -> RateError {
        sync_refusal()
    }
}

/// What the synchronous methods return on a shared limiter. Out of line:
/// it sits in the local fast path's `match`, which must stay small.
#[cold]
#[inline(never)]
fn sync_refusal() -> RateError {
    RateError::Unavailable {
        reason: "a limiter shared through Redis reserves asynchronously: \
                 use `acquire` or the `RateLimit` layer"
            .to_owned(),
    }
}

/// A slot for a call of `cost`, from Redis (or, while Redis does not
/// answer, from the fallback): one round trip, no polling.
async fn reserve(
    core: Arc<RedisCore>,
    limiter: Limiter,
    cost: u64,
) -> Result<Reservation, RateError> {
    // A call no band can ever hold needs no round trip to be refused.
    for (band, figures) in core.bands().iter().enumerate() {
        if cost > figures.capacity() {
            return Err(RateError::CostTooLarge {
                cost,
                capacity: figures.capacity(),
                band,
            });
        }
    }
    let max_wait = limiter.max_wait();
    // This process's own pause counts even before Redis has it.
    let extra_wait = limiter.paused_until().map_or(Duration::ZERO, |until| {
        until.saturating_duration_since(Instant::now())
    });
    // The inherent round trip, not `Remote::reserve` (which `Arc` would pick).
    let reply = match RedisCore::reserve(&core, cost, max_wait, extra_wait).await {
        Ok(reply) => reply,
        Err(reason) => return fall_back(&core, &limiter, cost, reason),
    };
    let now = Instant::now();
    match reply {
        Reply::Granted {
            slot,
            now: redis_now,
            ..
        } => Ok(limiter.remote_grant(core.local_instant(now, redis_now, slot))),
        Reply::TooFar { wait } => {
            limiter.record_refusal();
            Err(RateError::QuotaExhausted {
                available_at: now + wait,
                wait,
                max_wait: max_wait.unwrap_or(Duration::MAX),
            })
        }
        Reply::TooCostly { band, capacity } => Err(RateError::CostTooLarge {
            cost,
            capacity,
            band,
        }),
    }
}

/// Redis did not answer: the fallback limiter decides, or the call fails
/// closed.
fn fall_back(
    core: &RedisCore,
    limiter: &Limiter,
    cost: u64,
    reason: String,
) -> Result<Reservation, RateError> {
    let Some(local) = core.fallback() else {
        return Err(RateError::Unavailable { reason });
    };
    tracing::debug!(%reason, "Redis unavailable; reserving on the local fallback");
    match local.reserve(cost) {
        Ok(reservation) => {
            let wait = reservation.delay();
            core.note_local_grant(Instant::now() + wait);
            if !wait.is_zero() {
                limiter.record_wait(crate::rate::clock::nanos(wait));
            }
            Ok(reservation)
        }
        Err(error) => {
            if matches!(error, RateError::QuotaExhausted { .. }) {
                limiter.record_refusal();
            }
            Err(error)
        }
    }
}

/// Pause every process sharing the key until `until` (this process is
/// already paused locally): the write runs in the background.
fn pause(core: Arc<RedisCore>, until: Instant) {
    if let Some(local) = core.fallback() {
        local.pause_until(until);
    }
    let length = until.saturating_duration_since(Instant::now());
    if length.is_zero() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("pause not shared through Redis: no tokio runtime here");
        return;
    };
    runtime.spawn(async move {
        if let Err(reason) = RedisCore::pause(&core, length).await {
            tracing::warn!(%reason, "pause not shared through Redis");
        }
    });
}
