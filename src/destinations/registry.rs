//! The bounded table of live destinations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;

use super::key::lookup_forms;
use super::{DestinationError, PolicyTable};
use crate::Pacer;
use crate::pacer::PacerService;

/// One live destination: its pacer, and whether it is in use.
pub(crate) struct Entry {
    pub(crate) pacer: Pacer,
    /// The registry's epoch, so a hold can stamp `last_used` as it drops.
    epoch: Instant,
    /// Nanoseconds since `epoch`.
    last_used: AtomicU64,
    in_flight: AtomicUsize,
    /// After this long unused, the destination's state is as good as new.
    forget_after: Duration,
}

impl Entry {
    fn touch(&self) {
        self.last_used
            .store(nanos_since(self.epoch), Ordering::Release);
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Least time between two sweeps of a full table: a stream of new keys
/// (made-up host names) costs one sweep per interval, and between sweeps
/// each is refused without taking the table's write lock.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Registry<S> {
    table: PolicyTable,
    inner: S,
    max_live: usize,
    min_idle: Duration,
    epoch: Instant,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// `entries.len()`, readable without the lock.
    live: AtomicUsize,
    /// Nanoseconds since `epoch` before which a full table is not swept again.
    next_sweep: AtomicU64,
}

impl<S: Clone> Registry<S> {
    pub(crate) fn new(table: PolicyTable, inner: S, max_live: usize, min_idle: Duration) -> Self {
        Self {
            table,
            inner,
            max_live,
            min_idle,
            epoch: Instant::now(),
            entries: RwLock::new(HashMap::new()),
            live: AtomicUsize::new(0),
            next_sweep: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        nanos_since(self.epoch)
    }

    /// The destination's stack for one call (the destination is created on
    /// first use), with a hold that marks it in use until it drops.
    /// `name` says how `key` may be shown (see [`DestinationKey::name`](super::DestinationKey::name)).
    pub(crate) fn route(
        &self,
        key: &str,
        name: impl Fn(&str) -> String,
    ) -> Result<(PacerService<S>, InFlight), DestinationError> {
        let hold = self
            .hold(key)
            .map_or_else(|| self.create(key, &name(key)), Ok)?;
        // Building the stack only clones the pacer's shared handles.
        let stack = hold.entry.pacer.layer().layer(self.inner.clone());
        Ok((stack, hold))
    }

    /// A hold on a live destination. Taken under the lock: a sweep between
    /// the lookup and the hold could evict the entry and let the next call
    /// start a fresh quota beside this one.
    fn hold(&self, key: &str) -> Option<InFlight> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).map(InFlight::new)
    }

    /// `name` is `key` as it may be shown: errors, logs and the pacer's
    /// name (the metrics label) carry it, never the key itself.
    fn create(&self, key: &str, name: &str) -> Result<InFlight, DestinationError> {
        let policy = self
            .table
            .lookup(key)
            .ok_or_else(|| DestinationError::NoPolicy {
                key: name.to_owned(),
            })?;
        let too_many = || DestinationError::TooMany {
            key: name.to_owned(),
            max: self.max_live,
        };
        // Full and swept a moment ago: refuse without the write lock, so
        // made-up keys cannot stall the calls to known destinations.
        if self.live.load(Ordering::Acquire) >= self.max_live
            && self.now() < self.next_sweep.load(Ordering::Acquire)
        {
            return Err(too_many());
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        // Another caller may have created it meanwhile.
        if let Some(entry) = entries.get(key) {
            return Ok(InFlight::new(entry));
        }
        if entries.len() >= self.max_live {
            let now = self.now();
            if now < self.next_sweep.load(Ordering::Acquire) {
                return Err(too_many());
            }
            entries.retain(|_, entry| !self.forgettable(entry, now));
            self.live.store(entries.len(), Ordering::Release);
            let interval = u64::try_from(SWEEP_EVERY.as_nanos()).unwrap_or(u64::MAX);
            self.next_sweep
                .store(now.saturating_add(interval), Ordering::Release);
            if entries.len() >= self.max_live {
                return Err(too_many());
            }
        }
        let config = |error| DestinationError::Config {
            key: name.to_owned(),
            error,
        };
        let policy = policy.clone();
        let forget_after = policy
            .quotas()
            .map_err(config)?
            .iter()
            .map(|quota| quota.refill_time())
            .max()
            .unwrap_or_default()
            .max(self.min_idle);
        // Named after the destination: two hosts matching one `*.suffix`
        // policy must not share metrics labels.
        let pacer = Pacer::named(policy, name).map_err(config)?;
        let entry = Arc::new(Entry {
            pacer,
            epoch: self.epoch,
            last_used: AtomicU64::new(self.now()),
            in_flight: AtomicUsize::new(0),
            forget_after,
        });
        // Held before the lock is released, for the reason `hold` gives.
        let hold = InFlight::new(&entry);
        entries.insert(key.to_owned(), entry);
        self.live.store(entries.len(), Ordering::Release);
        tracing::debug!(destination = name, live = entries.len(), "new destination");
        Ok(hold)
    }

    /// True if dropping `entry` loses nothing: unused for longer than its
    /// longest quota takes to refill, nothing in flight (a permit held by
    /// a response body still streaming counts), not paused.
    fn forgettable(&self, entry: &Entry, now: u64) -> bool {
        // `in_flight` before `last_used`: a hold stamps `last_used` before
        // it lets go, so seeing it gone means seeing its stamp.
        if entry.in_flight.load(Ordering::Acquire) != 0 {
            return false;
        }
        let idle = now.saturating_sub(entry.last_used.load(Ordering::Acquire));
        let pacer = &entry.pacer;
        let permits = pacer.concurrency().in_flight()
            + pacer
                .concurrency_controller()
                .map_or(0, |controller| controller.limiter().in_flight());
        permits == 0
            && Duration::from_nanos(idle) >= entry.forget_after
            && pacer.limiter().paused_until().is_none()
    }

    /// Drop every destination that can be forgotten; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.now();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let before = entries.len();
        entries.retain(|_, entry| !self.forgettable(entry, now));
        self.live.store(entries.len(), Ordering::Release);
        before - entries.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The pacer of `key` as the key function gave it, or else of its
    /// [`ByAuthority`](super::ByAuthority) normal form (so `API.x.com:443`
    /// finds `api.x.com`).
    pub(crate) fn pacer(&self, key: &str) -> Option<Pacer> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        std::iter::once(key.to_owned())
            .chain(lookup_forms(key))
            .find_map(|key| entries.get(&key))
            .map(|entry| entry.pacer.clone())
    }
}

/// A routed request's hold on its destination: keeps it from being
/// forgotten while the request runs.
pub(crate) struct InFlight {
    entry: Arc<Entry>,
}

impl InFlight {
    fn new(entry: &Arc<Entry>) -> Self {
        entry.in_flight.fetch_add(1, Ordering::AcqRel);
        entry.touch();
        Self {
            entry: entry.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // A call may wait long in the limiter's queue: its grant counts
        // from when it went out, so idle time starts now, not at routing.
        self.entry.touch();
        self.entry.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
