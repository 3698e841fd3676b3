//! The bounded table of live destinations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tower_layer::Layer;

use super::{DestinationError, PolicyTable};
use crate::Pacer;
use crate::pacer::PacerService;

/// One live destination: its pacer, and whether it is in use.
pub(crate) struct Entry {
    pub(crate) pacer: Pacer,
    /// Nanoseconds since the registry's epoch.
    last_used: AtomicU64,
    in_flight: AtomicUsize,
    /// After this long unused, the destination's state is as good as new.
    forget_after: Duration,
}

pub(crate) struct Registry<S> {
    table: PolicyTable,
    inner: S,
    max_live: usize,
    min_idle: Duration,
    epoch: Instant,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
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
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The destination's entry, created on first use; marked in use until
    /// the returned guard drops.
    /// The destination's stack for one call, with a hold that marks the
    /// destination in use until it drops.
    pub(crate) fn route(&self, key: &str) -> Result<(PacerService<S>, InFlight), DestinationError> {
        let entry = self.existing(key).map_or_else(|| self.create(key), Ok)?;
        entry.in_flight.fetch_add(1, Ordering::AcqRel);
        entry.last_used.store(self.now(), Ordering::Release);
        // Building the stack only clones the pacer's shared handles.
        let stack = entry.pacer.layer().layer(self.inner.clone());
        Ok((stack, InFlight { entry }))
    }

    fn existing(&self, key: &str) -> Option<Arc<Entry>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).cloned()
    }

    fn create(&self, key: &str) -> Result<Arc<Entry>, DestinationError> {
        let policy = self
            .table
            .lookup(key)
            .ok_or_else(|| DestinationError::NoPolicy {
                key: key.to_owned(),
            })?;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        // Another caller may have created it meanwhile.
        if let Some(entry) = entries.get(key) {
            return Ok(entry.clone());
        }
        if entries.len() >= self.max_live {
            let now = self.now();
            entries.retain(|_, entry| !self.forgettable(entry, now));
            if entries.len() >= self.max_live {
                return Err(DestinationError::TooMany {
                    key: key.to_owned(),
                    max: self.max_live,
                });
            }
        }
        let config = |error| DestinationError::Config {
            key: key.to_owned(),
            error,
        };
        let mut policy = policy.clone();
        if policy.name == "default" {
            policy.name = key.to_owned();
        }
        let forget_after = policy
            .quotas()
            .map_err(config)?
            .iter()
            .map(|quota| quota.refill_time())
            .max()
            .unwrap_or_default()
            .max(self.min_idle);
        let pacer = Pacer::new(policy).map_err(config)?;
        let entry = Arc::new(Entry {
            pacer,
            last_used: AtomicU64::new(self.now()),
            in_flight: AtomicUsize::new(0),
            forget_after,
        });
        entries.insert(key.to_owned(), entry.clone());
        tracing::debug!(destination = key, live = entries.len(), "new destination");
        Ok(entry)
    }

    /// True if dropping `entry` loses nothing: unused for longer than its
    /// longest quota takes to refill, nothing in flight, not paused.
    fn forgettable(&self, entry: &Entry, now: u64) -> bool {
        let idle = now.saturating_sub(entry.last_used.load(Ordering::Acquire));
        entry.in_flight.load(Ordering::Acquire) == 0
            && Duration::from_nanos(idle) >= entry.forget_after
            && entry.pacer.limiter().paused_until().is_none()
    }

    /// Drop every destination that can be forgotten; returns how many.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.now();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let before = entries.len();
        entries.retain(|_, entry| !self.forgettable(entry, now));
        before - entries.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(crate) fn pacer(&self, key: &str) -> Option<Pacer> {
        self.existing(&key.to_ascii_lowercase())
            .map(|entry| entry.pacer.clone())
    }
}

/// A routed request's hold on its destination: keeps it from being
/// forgotten while the request runs.
pub(crate) struct InFlight {
    entry: Arc<Entry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.entry.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
