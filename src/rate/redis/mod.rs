//! One quota shared by several processes, through Redis (feature `redis`).
//!
//! [`RedisLimiter::builder`] makes an ordinary [`Limiter`] whose bands live
//! in Redis under one destination key, so every process (on any machine)
//! that builds one with the same URL and key draws on one quota — the way
//! a HubSpot portal's limit is shared by every app calling it. `Policy`,
//! `Pacer`, the [`RateLimit`](super::RateLimit) layer and retries use it as
//! they use a local limiter.
//!
//! # How a call is granted
//!
//! One Lua script, loaded once and called by its SHA (`EVALSHA`, loaded
//! again after a `NOSCRIPT`), checks **every** band — windows and rates —
//! and charges all of them or none, atomically. Its only clock is Redis's
//! `TIME`: clients send durations, never times, so their clocks may
//! disagree. It returns the slot as a wait from Redis's "now"; the caller
//! sleeps that long and goes (one round trip per call, no polling).
//! As locally, a slot is never earlier than one already granted, so
//! processes get distinct slots in the order they asked.
//!
//! - A rate band is a GCRA theoretical arrival time.
//! - A window band is exact: a sorted set with one member per unit of cost,
//!   scored by its slot, at most the limit (plus slots reserved ahead).
//!   Above [`EXACT_LIMIT`](super::EXACT_LIMIT) it is counted in
//!   [`BUCKETS`](super::BUCKETS) buckets, conservatively, like the local
//!   limiter. Windows keep the local limiter's [`WINDOW_GUARD`](super::WINDOW_GUARD).
//! - Keys are `pacer:{key}:…` — one hash tag per destination, so the
//!   script works on Redis Cluster — and each expires when it would look
//!   fresh again.
//! - [`Limiter::pause_until`] (a 429's `Retry-After`) holds this process
//!   at once and writes `pacer:{key}:pause`, which holds every process.
//!
//! Each process places the slots Redis returns on its own clock with the
//! smallest gap it has seen between a reply's arrival and its Redis time,
//! so scheduled calls go out at their slot, never before. A call whose
//! slot has come when its reply arrives goes out then, late by the
//! reply's trip back (longer when Redis answers a batch of calls at once).
//! Give window quotas a [`margin`](RedisLimiterBuilder::margin) of a few
//! round trips — 10 ms on one machine, more across a network — so that
//! such lateness never puts one call too many into a window as the server
//! counts it.
//!
//! Redis time is in microseconds: intervals are rounded up to whole
//! microseconds (never faster than the quota). A reservation whose wait is
//! cancelled is not given back (it stays spent, as idle time). A caller
//! waits at most `max_wait` plus one round trip, itself bounded by the
//! [timeout](RedisLimiterBuilder::timeout).
//!
//! # When Redis does not answer
//!
//! A policy choice, [`Fallback`]:
//!
//! - [`Fallback::FailClosed`] (the default): calls fail at once with
//!   [`RateError::Unavailable`](super::RateError::Unavailable) — nothing is
//!   sent beyond the shared quota; a dead-letter layer records the failure.
//! - [`Fallback::Local`]: calls are paced by a local limiter holding a
//!   `share` of the quota (`0.25` for four processes). On the switch to
//!   the local limiter, each process may grant up to its `share` of a
//!   window on top of what Redis granted before (Redis does not see the
//!   local grants). On the way back, a process that granted locally first
//!   pauses every process through Redis until its local grants no longer
//!   count (at most the longest band shorter than a day), so Redis does not
//!   grant a quota on top of them; only a process still on its fallback
//!   meanwhile (it cannot reach Redis) may go beyond, by its `share` per
//!   window. The server's 429s, if any, pause the destination as usual.
//!
//! Every Redis call has a timeout; after a failure Redis is left alone for
//! [`retry_after`](RedisLimiterBuilder::retry_after) (calls take the
//! fallback at once), then tried again; the connection reconnects by
//! itself. Nothing here panics.
//!
//! # When Redis comes back without its data
//!
//! A Redis restarted without persistence (or failed over to a replica
//! behind, or evicting keys) forgets the grants still in the windows,
//! some reserved ahead and not yet sent: granting on that empty state
//! would let up to a whole quota more through. Redis keeps the latest slot
//! it granted while a grant there still counts, and each process sends the
//! latest slot Redis granted it; a process holding a later slot that still
//! counts proves the data gone. Every
//! process is then paused — the pause a 429 sets — until no grant made
//! before can count: `max_wait` from now (the furthest a reservation
//! goes; the process's own latest slot when `max_wait` is unbounded), plus
//! the longest band shorter than a day. Calls fail with
//! [`RateError::QuotaExhausted`](super::RateError::QuotaExhausted) or wait
//! meanwhile; nothing goes beyond the quota.
//!
//! The fence holds for processes with the same `max_wait` that hold a
//! grant that still counts; the first of them to call after the loss sets
//! it. A process with nothing that counts cannot tell an empty Redis from
//! an idle destination: if it calls first, it is granted what the empty
//! state allows until one that knows better calls. Bands of a day or more
//! are not fenced (that would stop the destination for a day): what they
//! counted is lost with the data — run Redis with persistence (AOF) where
//! a daily cap must hold across restarts. Grants of the local fallback
//! are fenced on the way back, as above.
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_pacer::rate::{Fallback, Quota, RedisLimiter};
//!
//! # async fn demo() -> Result<(), tower_pacer::BoxError> {
//! // Every worker process runs this: one HubSpot quota for all of them.
//! let limiter = RedisLimiter::builder("redis://127.0.0.1:6379", "hubspot-portal-42")
//!     .quota(Quota::window(100, Duration::from_secs(10))?)
//!     .quota(Quota::window(250_000, Duration::from_secs(86_400))?)
//!     .max_wait(Duration::from_secs(60))
//!     .fallback(Fallback::Local { share: 0.25 })
//!     .connect()
//!     .await?;
//! limiter.acquire(1).await?; // the call may go out
//! # Ok(()) }
//! ```

mod remote;
mod reserve;
mod script;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use self::remote::{CoreSettings, RedisCore};
use super::{BandRole, Headroom, Limiter, LimiterBuilder, LimiterObserver, Quota};
use crate::{BoxError, ConfigError};

/// The timeout of each Redis call unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long Redis is left alone after a failure unless set.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// What a limiter shared through Redis does while Redis does not answer;
/// see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Fallback {
    /// Refuse every call with
    /// [`RateError::Unavailable`](super::RateError::Unavailable).
    #[default]
    FailClosed,
    /// Pace calls locally at `share` (in `(0, 1]`) of every quota: with N
    /// processes sharing the quota, `1/N` keeps them within it together.
    Local {
        /// This process's share of each quota.
        share: f64,
    },
}

/// Where limiters shared through Redis are made; see the
/// [module docs](self).
#[derive(Debug)]
#[non_exhaustive]
pub struct RedisLimiter {}

impl RedisLimiter {
    /// A builder for a limiter on the Redis at `url`
    /// (`redis://host:port/db`, `rediss://…`, `unix:///path`), sharing the
    /// quota with every process that uses the same `key` (the destination:
    /// an API account, a portal).
    pub fn builder(url: impl Into<String>, key: impl Into<String>) -> RedisLimiterBuilder {
        RedisLimiterBuilder {
            url: url.into(),
            key: key.into(),
            limiter: Limiter::builder(),
            timeout: DEFAULT_TIMEOUT,
            retry_after: DEFAULT_RETRY_AFTER,
            fallback: Fallback::FailClosed,
        }
    }
}

/// Builds a [`Limiter`] shared through Redis; see [`RedisLimiter::builder`].
#[derive(Debug, Clone)]
pub struct RedisLimiterBuilder {
    url: String,
    key: String,
    limiter: LimiterBuilder,
    timeout: Duration,
    retry_after: Duration,
    fallback: Fallback,
}

impl RedisLimiterBuilder {
    /// Adds a band; a call needs room in every band (as
    /// [`LimiterBuilder::quota`]). Every process sharing the key must
    /// give the same bands, in the same order.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.limiter = self.limiter.quota(quota);
        self
    }

    /// Adds a band with its role (as [`LimiterBuilder::band`]). Every
    /// process sharing the key must give the same bands, in the same order.
    pub fn band(mut self, quota: Quota, role: BandRole) -> Self {
        self.limiter = self.limiter.band(quota, role);
        self
    }

    /// A slot further away than this is refused at once (as
    /// [`LimiterBuilder::max_wait`]).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.limiter = self.limiter.max_wait(max_wait);
        self
    }

    /// Grant only this share of every quota (as
    /// [`LimiterBuilder::headroom`]).
    pub fn headroom(mut self, fraction: f64) -> Self {
        self.limiter = self.limiter.headroom(fraction);
        self
    }

    /// Add this margin to every window and period (as
    /// [`LimiterBuilder::margin`]).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.limiter = self.limiter.margin(margin);
        self
    }

    /// Name the destination (as [`LimiterBuilder::name`]).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.limiter = self.limiter.name(name);
        self
    }

    /// Report this process's waits, refusals and limit mismatches to
    /// `observer` (as [`LimiterBuilder::observer`]).
    pub fn observer(mut self, observer: impl LimiterObserver) -> Self {
        self.limiter = self.limiter.observer(observer);
        self
    }

    /// The longest any one Redis call (connecting included) may take
    /// before it counts as a failure (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// After a failure, Redis is not asked again for this long (default
    /// [`DEFAULT_RETRY_AFTER`]): calls take the fallback at once instead of
    /// each waiting for a timeout.
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// What to do while Redis does not answer (default
    /// [`Fallback::FailClosed`]).
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// The limiter; it connects on its first reservation (and reconnects
    /// by itself), so building needs no Redis and no runtime.
    ///
    /// Without quotas, the limiter only shares the cooldown gate (a 429
    /// seen by one process pauses all).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `url` (not a Redis URL), `key`
    /// (empty, or with `{` or `}`, which would break the hash tag),
    /// `timeout` (zero), `fallback.share` (not in `(0, 1]`), and the
    /// limiter's own (`quotas[i]…`, `headroom.fraction`, `headroom.margin`).
    pub fn build(self) -> Result<Limiter, ConfigError> {
        self.build_with_core().map(|(limiter, _)| limiter)
    }

    /// The limiter, and its Redis side for [`connect`](Self::connect).
    fn build_with_core(self) -> Result<(Limiter, Arc<RedisCore>), ConfigError> {
        let client = ::redis::Client::open(self.url.as_str())
            .map_err(|e| ConfigError::new("url", format!("not a Redis URL: {e}")))?;
        if self.key.is_empty() || self.key.contains(['{', '}']) {
            return Err(ConfigError::new(
                "key",
                "must be non-empty, without `{` or `}`",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be longer than zero"));
        }
        let fallback = match self.fallback {
            Fallback::FailClosed => None,
            Fallback::Local { share } => Some(local_share(&self.limiter, share)?),
        };
        let settings = CoreSettings {
            client,
            key: self.key,
            timeout: self.timeout,
            retry_after: self.retry_after,
            fallback,
        };
        self.limiter.check_headroom()?;
        let core = Arc::new(RedisCore::new(
            settings,
            self.limiter.quotas_ref(),
            self.limiter.headroom_ref(),
        )?);
        let limiter = Limiter::with_remote(self.limiter, core.clone());
        Ok((limiter, core))
    }

    /// The limiter, once Redis has answered (the script is then loaded):
    /// for a process that should not start without its shared quota.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and
    /// [`RateError::Unavailable`](super::RateError::Unavailable) if Redis
    /// does not answer within the timeout.
    pub async fn connect(self) -> Result<Limiter, BoxError> {
        let (limiter, core) = self.build_with_core()?;
        // A free call: reads the pause, charges nothing.
        core.reserve(0, None, Duration::ZERO)
            .await
            .map_err(|reason| super::RateError::Unavailable { reason })?;
        Ok(limiter)
    }
}

/// The local fallback: the same bands at `share` of the quota.
fn local_share(builder: &LimiterBuilder, share: f64) -> Result<Limiter, ConfigError> {
    if !(share.is_finite() && share > 0.0 && share <= 1.0) {
        return Err(ConfigError::new(
            "fallback.share",
            "must be a number in (0, 1]",
        ));
    }
    let headroom = builder.headroom_ref();
    let mut local = Limiter::builder()
        .headroom(headroom.fraction * share)
        .margin(headroom.margin);
    if let Some(max_wait) = builder.max_wait_ref() {
        local = local.max_wait(max_wait);
    }
    builder
        .quotas_ref()
        .iter()
        .fold(local, |local, quota| local.quota(*quota))
        .build_unlimited()
}

/// What only a limiter shared through Redis reads of its builder.
impl LimiterBuilder {
    /// The quotas added so far, in band order.
    fn quotas_ref(&self) -> &[Quota] {
        &self.quotas
    }

    /// The headroom set so far.
    fn headroom_ref(&self) -> &Headroom {
        &self.headroom
    }

    /// The `max_wait` set so far.
    fn max_wait_ref(&self) -> Option<Duration> {
        self.max_wait
    }
}
