//! The server's shared state: per-key accounting, in-flight counts and the
//! statistics, behind one short-held mutex.
//!
//! One lock is taken to admit a request and one when it completes; the
//! critical sections are a hash lookup and a few integer updates, which the
//! benchmark shows is far from the bottleneck at the required throughput.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::config::MockConfig;
use super::limits::{KeyLimits, Refusal, RejectReason};
use super::stats::{IdStats, KeyStats, MockStats, RejectedByReason, WindowStats};
use super::window::QuotaStatus;

/// Distinct keys tracked before new ones share one tenant: the key comes
/// from the request, so an unbounded map would let a client exhaust memory.
const MAX_KEYS: usize = 10_000;
/// Tenant of the keys beyond [`MAX_KEYS`].
const OVERFLOW_KEY: &str = "~overflow~";
/// Idempotency answers kept; the oldest go first.
const MAX_ANSWERS: usize = 100_000;

#[derive(Debug)]
struct KeyState {
    limits: KeyLimits,
    in_flight: u64,
    stats: KeyStats,
}

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<String, KeyState>,
    accepted: u64,
    rejected: u64,
    by_reason: RejectedByReason,
    max_in_flight: u64,
    batch_items: u64,
    idempotent_replays: u64,
    unauthorized: u64,
    /// Times each batch item id was processed (`track_ids`).
    ids: HashMap<String, u32>,
    ids_received: u64,
    ids_repeated: u64,
    /// First answers by (API key, idempotency key), oldest first out.
    answers: HashMap<(String, String), Stored>,
    answer_order: VecDeque<(String, String)>,
}

/// A batch's first answer, kept for its idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) status: http::StatusCode,
    pub(crate) body: serde_json::Value,
}

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: MockConfig,
    origin: Instant,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

/// The outcome of admission.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Accepted; the guard keeps the request counted as in flight.
    Accepted(InFlight, Vec<QuotaStatus>),
    /// Refused by a quota or the concurrency cap.
    Refused(Refusal, Vec<QuotaStatus>),
}

/// Counts one accepted request as in flight until dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    state: Arc<State>,
    key: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        if let Some(k) = inner.keys.get_mut(&self.key) {
            k.in_flight = k.in_flight.saturating_sub(1);
        }
    }
}

impl State {
    pub(crate) fn new(config: MockConfig) -> Self {
        Self {
            config,
            origin: Instant::now(),
            next_id: AtomicU64::new(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the server down with it: the
        // counters stay usable even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh request id (1, 2, …), also the fault generator's stream index.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn key_state<'a>(&self, inner: &'a mut Inner, key: &str) -> (&'a mut KeyState, String) {
        let key = if inner.keys.contains_key(key) || inner.keys.len() < MAX_KEYS {
            key
        } else {
            OVERFLOW_KEY
        };
        let owned = key.to_owned();
        let entry = inner.keys.entry(owned.clone()).or_insert_with(|| KeyState {
            limits: KeyLimits::new(&self.config, self.origin),
            in_flight: 0,
            stats: KeyStats::default(),
        });
        (entry, owned)
    }

    /// Time a refused-for-concurrency client should wait: the longest an
    /// accepted request stays in flight (latency plus jitter, plus the
    /// slow-response delay when there are slow responses), at least 1 ms.
    fn concurrency_wait(&self) -> Duration {
        let l = self.config.latency;
        let mut longest = l.base.saturating_add(l.jitter);
        if self.config.faults.slow > 0.0 {
            longest = longest.saturating_add(self.config.faults.slow_delay);
        }
        self.config.scaled(longest).max(Duration::from_millis(1))
    }

    /// Admits or refuses one request of `key`, counting it.
    pub(crate) fn admit(self: &Arc<Self>, key: &str) -> Admission {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = Instant::now();
        let (ks, key) = self.key_state(inner, key);
        let refusal = match self.config.concurrency {
            Some(cap) if ks.in_flight >= u64::from(cap) => Some(Refusal {
                reason: RejectReason::Concurrency,
                wait: self.concurrency_wait(),
            }),
            _ => ks.limits.try_admit(now).err(),
        };
        let status = ks.limits.status(now);
        match refusal {
            Some(refusal) => {
                ks.stats.rejected += 1;
                inner.rejected += 1;
                inner.by_reason.add(refusal.reason);
                Admission::Refused(refusal, status)
            }
            None => {
                ks.stats.accepted += 1;
                ks.in_flight += 1;
                let in_flight = ks.in_flight;
                inner.accepted += 1;
                inner.max_in_flight = inner.max_in_flight.max(in_flight);
                Admission::Accepted(
                    InFlight {
                        state: Arc::clone(self),
                        key,
                    },
                    status,
                )
            }
        }
    }

    /// Counts a request answered by an injected fault; returns the key's
    /// quota standing for the response headers.
    pub(crate) fn record_fault(&self, key: &str) -> Vec<QuotaStatus> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let (ks, _) = self.key_state(inner, key);
        ks.stats.rejected += 1;
        let status = ks.limits.status(Instant::now());
        inner.rejected += 1;
        inner.by_reason.add(RejectReason::Fault);
        status
    }

    /// Counts the items of a valid batch.
    pub(crate) fn add_batch_items(&self, n: u64) {
        self.lock().batch_items += n;
    }

    /// The first answer given to `idempotency_key` of `key`, counted as a
    /// replay when there is one.
    pub(crate) fn stored_answer(&self, key: &str, idempotency_key: &str) -> Option<Stored> {
        let mut inner = self.lock();
        let found = inner
            .answers
            .get(&(key.to_owned(), idempotency_key.to_owned()))
            .cloned();
        if found.is_some() {
            inner.idempotent_replays += 1;
        }
        found
    }

    /// Keeps `answer` as the one for `idempotency_key` of `key`.
    pub(crate) fn store_answer(&self, key: &str, idempotency_key: &str, answer: Stored) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let slot = (key.to_owned(), idempotency_key.to_owned());
        if inner.answers.insert(slot.clone(), answer).is_none() {
            inner.answer_order.push_back(slot);
            while inner.answer_order.len() > MAX_ANSWERS {
                if let Some(old) = inner.answer_order.pop_front() {
                    inner.answers.remove(&old);
                }
            }
        }
    }

    /// Counts a request refused for its key.
    pub(crate) fn count_unauthorized(&self) {
        self.lock().unauthorized += 1;
    }

    /// Counts processed batch items by id.
    pub(crate) fn count_ids<'a>(&self, ids: impl Iterator<Item = String> + 'a) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        for id in ids {
            inner.ids_received += 1;
            let seen = inner.ids.entry(id).or_insert(0);
            *seen += 1;
            if *seen == 2 {
                inner.ids_repeated += 1;
            }
        }
    }

    /// A snapshot of the statistics.
    pub(crate) fn stats(&self) -> MockStats {
        let inner = self.lock();
        let windows = self
            .config
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| WindowStats {
                limit: w.limit,
                window_ms: u64::try_from(self.config.scaled(w.window).as_millis())
                    .unwrap_or(u64::MAX),
                max_seen: inner
                    .keys
                    .values()
                    .filter_map(|k| k.limits.max_seen().nth(i))
                    .max()
                    .unwrap_or(0),
            })
            .collect();
        MockStats {
            accepted: inner.accepted,
            rejected: inner.rejected,
            rejected_by_reason: inner.by_reason.clone(),
            max_in_flight: inner.max_in_flight,
            batch_items: inner.batch_items,
            idempotent_replays: inner.idempotent_replays,
            unauthorized: inner.unauthorized,
            ids: IdStats {
                received: inner.ids_received,
                distinct: inner.ids.len() as u64,
                repeated: inner.ids_repeated,
            },
            windows,
            keys: inner
                .keys
                .iter()
                .map(|(k, v)| (k.clone(), v.stats.clone()))
                .collect(),
        }
    }

    /// Zeroes the statistics. Quota accounting (what the server enforces)
    /// is untouched, so a reset never hands out extra quota.
    pub(crate) fn reset_stats(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let now = Instant::now();
        inner.accepted = 0;
        inner.rejected = 0;
        inner.by_reason = RejectedByReason::default();
        inner.batch_items = 0;
        inner.idempotent_replays = 0;
        inner.unauthorized = 0;
        inner.ids.clear();
        inner.ids_received = 0;
        inner.ids_repeated = 0;
        // Requests in flight now are still in flight after the reset.
        inner.max_in_flight = inner.keys.values().map(|k| k.in_flight).max().unwrap_or(0);
        for k in inner.keys.values_mut() {
            k.stats = KeyStats::default();
            k.limits.reset_stats(now);
        }
    }
}
