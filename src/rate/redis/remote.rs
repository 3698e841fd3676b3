//! The Redis side of a shared limiter: the connection, the band figures,
//! and the rules for calling Redis (a timeout on every call, a pause after
//! a failure).

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::script::{self, Ask, Keys, RemoteBand, Reply};
use crate::ConfigError;
use crate::rate::{Headroom, Limiter, Quota};
use crate::redis_connection::RedisConnection;

/// The figures a [`RedisCore`] is made from.
#[derive(Debug)]
pub(super) struct CoreSettings {
    pub(super) client: redis::Client,
    pub(super) key: String,
    pub(super) timeout: Duration,
    pub(super) retry_after: Duration,
    /// `None`: fail closed.
    pub(super) fallback: Option<Limiter>,
}

/// A limiter's bands, kept in Redis under one destination key.
pub(crate) struct RedisCore {
    connection: RedisConnection,
    key: String,
    keys: Keys,
    /// Band figures, sent with every call (so `set_quota` is local).
    bands: RwLock<Vec<RemoteBand>>,
    retry_after: Duration,
    /// After a failure, Redis is not asked again before this: callers do
    /// not each wait for a timeout while it is down.
    down_until: Mutex<Option<Instant>>,
    fallback: Option<Limiter>,
    /// Makes window members unique across processes.
    nonce_prefix: u64,
    nonces: AtomicU64,
    /// The latest slot Redis granted this process (µs of Redis time, 0:
    /// none), sent with every reservation: a Redis that has lost the
    /// bands' state is found out by it (see `script.lua`).
    latest: AtomicI64,
    /// Redis's clock as seen from here: see `local_instant`.
    offset: Mutex<Option<Offset>>,
    /// Until when the grants the local fallback made may still count at
    /// the server (Redis never saw them): the way back to Redis first
    /// pauses every process until then.
    local_grants_count_until: Mutex<Option<Instant>>,
}

/// The smallest gap seen between a reply's arrival (ns after `epoch`) and
/// the Redis time it was computed at (ns): Redis time plus this is never
/// earlier than the same instant here.
#[derive(Debug, Clone, Copy)]
struct Offset {
    epoch: Instant,
    nanos: i128,
    seen_at: Instant,
}

/// How fast the offset may grow: the two clocks' drift (a slewing NTP
/// daemon moves a clock by at most 500 ppm), 1 ms per second.
const OFFSET_CREEP_PER_SEC: i128 = 1_000_000;

impl RedisCore {
    pub(super) fn new(
        settings: CoreSettings,
        quotas: &[Quota],
        headroom: &Headroom,
    ) -> Result<Self, ConfigError> {
        let bands: Vec<RemoteBand> = quotas
            .iter()
            .map(|quota| RemoteBand::new(quota, headroom))
            .collect();
        Ok(Self {
            connection: RedisConnection::new(settings.client, settings.timeout),
            keys: Keys::new(&settings.key, &bands),
            key: settings.key,
            bands: RwLock::new(bands),
            retry_after: settings.retry_after,
            down_until: Mutex::new(None),
            fallback: settings.fallback,
            nonce_prefix: rand::rngs::StdRng::from_os_rng().random(),
            nonces: AtomicU64::new(0),
            latest: AtomicI64::new(0),
            offset: Mutex::new(None),
            local_grants_count_until: Mutex::new(None),
        })
    }

    pub(super) fn bands(&self) -> Vec<RemoteBand> {
        match self.bands.read() {
            Ok(bands) => bands.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The local limiter used while Redis is unreachable, if any.
    pub(super) fn fallback(&self) -> Option<&Limiter> {
        self.fallback.as_ref()
    }

    /// Change band `index`'s figures (already checked by the limiter).
    pub(super) fn set_quota(
        &self,
        index: usize,
        quota: &Quota,
        headroom: &Headroom,
    ) -> Result<(), ConfigError> {
        let field = || format!("quotas[{index}]");
        let new = RemoteBand::new(quota, headroom);
        {
            let mut bands = match self.bands.write() {
                Ok(bands) => bands,
                Err(poisoned) => poisoned.into_inner(),
            };
            let Some(band) = bands.get_mut(index) else {
                return Err(ConfigError::new(field(), "no such quota band"));
            };
            if std::mem::discriminant(band) != std::mem::discriminant(&new) {
                // Its key holds another kind of state.
                return Err(ConfigError::new(
                    field(),
                    "a Redis window band cannot cross the exact/bucketed limit",
                ));
            }
            if let (
                RemoteBand::Buckets { window: old, .. },
                RemoteBand::Buckets { window: wanted, .. },
            ) = (&*band, &new)
            {
                // The buckets in Redis are numbered by the window's width:
                // another width would misread them (older grants look
                // gone, and the quota overshoots), and other processes
                // still use the old one. The limit may change; the window
                // may not.
                if old != wanted {
                    return Err(ConfigError::new(
                        field(),
                        "a bucketed Redis window band cannot change its window (only its limit)",
                    ));
                }
            }
            *band = new;
        }
        if let Some(fallback) = &self.fallback {
            fallback.set_quota(index, *quota)?;
        }
        Ok(())
    }

    fn nonce(&self) -> String {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{n:x}", self.nonce_prefix)
    }

    /// The local fallback granted a slot at `slot`: it may count at the
    /// server for the longest fenced band after it.
    pub(super) fn note_local_grant(&self, slot: Instant) {
        let span = Duration::from_micros(script::fenced_span(&self.bands()));
        let counts_until = slot + span;
        let mut until = self
            .local_grants_count_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *until = Some(until.map_or(counts_until, |u| u.max(counts_until)));
    }

    /// Back from the fallback: Redis never saw the local grants, so every
    /// process is paused until none of them can count; otherwise Redis
    /// would grant a whole quota on top of them. Returns how much longer
    /// this process's own call must wait. An error leaves the record, for
    /// the next try.
    async fn fence_local_grants(&self) -> Result<Duration, String> {
        let pending = *self
            .local_grants_count_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(until) = pending else {
            return Ok(Duration::ZERO);
        };
        let length = until.saturating_duration_since(Instant::now());
        if !length.is_zero() {
            self.pause(length).await?;
            tracing::info!(
                key = %self.key,
                ?length,
                "back on Redis: every process paused until the fallback's grants no longer count"
            );
        }
        let mut record = self
            .local_grants_count_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A local grant made meanwhile (another caller still on the
        // fallback) keeps its own record.
        if *record == Some(until) {
            *record = None;
        }
        Ok(length)
    }

    /// Ask Redis for a slot.
    pub(super) async fn reserve(
        &self,
        cost: u64,
        max_wait: Option<Duration>,
        extra_wait: Duration,
    ) -> Result<Reply, String> {
        let extra_wait = extra_wait.max(self.fence_local_grants().await?);
        let nonce = self.nonce();
        let ask = Ask {
            cost,
            max_wait,
            extra_wait,
            nonce: &nonce,
            latest: self.latest.load(Ordering::Relaxed),
        };
        let invocation = script::reserve(&self.keys, &self.bands(), ask);
        let values: Vec<i64> = self.call(invocation).await?;
        let reply = Reply::parse(&values)
            .ok_or_else(|| format!("unexpected reply from Redis: {values:?}"))?;
        if let Reply::Granted { slot, .. } = reply
            && cost > 0
        {
            self.latest.fetch_max(slot, Ordering::Relaxed);
        }
        Ok(reply)
    }

    /// Hold every process back for `length`.
    pub(super) async fn pause(&self, length: Duration) -> Result<(), String> {
        let invocation = script::pause(&self.keys, &self.bands(), length);
        self.call::<Vec<i64>>(invocation).await.map(|_| ())
    }

    /// Run the script within the timeout, unless Redis failed lately.
    async fn call<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'static>,
    ) -> Result<T, String> {
        if let Some(until) = self.down_until()
            && Instant::now() < until
        {
            return Err(format!(
                "Redis failed lately; next try in {:?}",
                until.saturating_duration_since(Instant::now())
            ));
        }
        let result = self.connection.invoke::<T>(invocation).await;
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                if down.take().is_some() {
                    tracing::info!(key = %self.key, "Redis answers again");
                }
            }
            Err(reason) => {
                if down.is_none() {
                    tracing::warn!(key = %self.key, %reason, "Redis unavailable");
                }
                *down = Some(Instant::now() + self.retry_after);
            }
        }
        result
    }

    /// The local instant of a Redis time (µs), from a reply that arrived
    /// at `received` and was computed at Redis time `redis_now` (µs).
    ///
    /// Sleeping the reply's wait from its arrival is never early, but it is
    /// late by the reply's trip back, which varies: Redis answers a batch
    /// of pipelined calls at once, so the first of them comes back late by
    /// the whole batch. Two calls a window apart in Redis could then go out
    /// closer than a window here. So every slot is placed with one offset
    /// between the clocks: the smallest gap seen between a reply's arrival
    /// and its Redis time (the trip back of an unbatched reply), which is
    /// never smaller than the true offset, so no slot is early either.
    pub(super) fn local_instant(
        &self,
        received: Instant,
        redis_now: i64,
        redis_at: i64,
    ) -> Instant {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = offset.map_or(received, |o| o.epoch);
        let observed =
            received.duration_since(epoch).as_nanos() as i128 - i128::from(redis_now) * 1000;
        let nanos = match *offset {
            None => observed,
            // The gap may grow (clock drift), but only so fast.
            Some(o) => observed.min(
                o.nanos
                    + received.duration_since(o.seen_at).as_nanos() as i128 * OFFSET_CREEP_PER_SEC
                        / 1_000_000_000,
            ),
        };
        *offset = Some(Offset {
            epoch,
            nanos,
            seen_at: received,
        });
        let at = i128::from(redis_at) * 1000 + nanos;
        let at = u64::try_from(at.max(0)).unwrap_or(u64::MAX);
        epoch
            .checked_add(Duration::from_nanos(at))
            .unwrap_or(received)
    }

    fn down_until(&self) -> Option<Instant> {
        *self.down_until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for RedisCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCore")
            .field("key", &self.key)
            .field("bands", &self.bands())
            .field("connection", &self.connection)
            .field("fallback", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}
