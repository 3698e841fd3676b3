//! Reserving and pausing on a limiter shared through Redis, with the
//! policy for when Redis does not answer.

use std::time::Duration;

use tokio::time::Instant;

use super::script::Reply;
use crate::rate::{Limiter, RateError, Reservation};

/// What the synchronous methods return on a shared limiter. Out of line:
/// it sits in the local fast path's `match`, which must stay small.
#[cold]
#[inline(never)]
pub(crate) fn sync_refusal() -> RateError {
    RateError::Unavailable {
        reason: "a limiter shared through Redis reserves asynchronously: \
                 use `acquire` or the `RateLimit` layer"
            .to_owned(),
    }
}

/// A slot for a call of `cost`, from Redis (or, while Redis does not
/// answer, from the fallback): one round trip, no polling.
pub(crate) async fn reserve(limiter: Limiter, cost: u64) -> Result<Reservation, RateError> {
    let Some(core) = limiter.redis_core() else {
        return Err(RateError::Unavailable {
            reason: "not a limiter shared through Redis".to_owned(),
        });
    };
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
    let reply = match core.reserve(cost, max_wait, extra_wait).await {
        Ok(reply) => reply,
        Err(reason) => return fall_back(&limiter, cost, reason),
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
fn fall_back(limiter: &Limiter, cost: u64, reason: String) -> Result<Reservation, RateError> {
    let Some(local) = limiter.redis_core().and_then(|core| core.fallback()) else {
        return Err(RateError::Unavailable { reason });
    };
    tracing::debug!(%reason, "Redis unavailable; reserving on the local fallback");
    match local.reserve(cost) {
        Ok(reservation) => {
            let wait = reservation.delay();
            if let Some(core) = limiter.redis_core() {
                core.note_local_grant(Instant::now() + wait);
            }
            if !wait.is_zero() {
                limiter.record_wait(wait);
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
pub(crate) fn pause(limiter: &Limiter, until: Instant) {
    let Some(core) = limiter.redis_core() else {
        return;
    };
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
    let limiter = limiter.clone();
    runtime.spawn(async move {
        if let Some(core) = limiter.redis_core()
            && let Err(reason) = core.pause(length).await
        {
            tracing::warn!(%reason, "pause not shared through Redis");
        }
    });
}
