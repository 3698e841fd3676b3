//! The server's shared state: per-key accounting, in-flight counts and the
//! statistics, behind one short-held mutex.
//!
//! One lock is taken to admit a request and one when it completes; the
//! critical sections are a hash lookup and a few integer updates, which the
//! benchmark shows is far from the bottleneck at the required throughput.
//!
//! A statistics snapshot does not hold that lock while it walks the keys:
//! each key's figures are atomics in a [`KeyCounters`] it shares with the
//! key [`Directory`], which the snapshot copies (pointers only) under a lock
//! of its own, then reads. Only the totals are copied under the main lock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::config::MockConfig;
use super::limits::{KeyLimits, Refusal, RejectReason};
use super::stats::{IdStats, KeyStats, MockStats, RejectedByReason, WindowStats};
use super::window::QuotaStatus;

use crate::fingerprint::{OVERFLOW_KEY, key_fingerprint};

/// Distinct keys tracked before new ones share one tenant: the key comes
/// from the request, so an unbounded map would let a client exhaust memory.
/// Keys idle for longer than every quota remembers are pruned to make room.
const MAX_KEYS: usize = 10_000;
/// Least time between two prunes of a full table: a stream of new keys
/// costs one sweep per interval, not one per request.
const PRUNE_EVERY: Duration = Duration::from_millis(100);
/// Idempotency answers kept; the oldest go first.
const MAX_ANSWERS: usize = 100_000;

#[derive(Debug)]
struct KeyState {
    limits: KeyLimits,
    in_flight: u64,
    /// The key's statistics, also listed in the [`Directory`].
    counters: Arc<KeyCounters>,
    last_seen: Instant,
}

/// One key's statistics, readable without the main lock: written under it
/// (so they move with the accounting), read by snapshots without it.
#[derive(Debug)]
struct KeyCounters {
    /// How the statistics name the key (computed once, never the key).
    fingerprint: String,
    accepted: AtomicU64,
    rejected: AtomicU64,
    /// `max_seen` of each window, in configuration order.
    max_seen: Box<[AtomicU64]>,
    /// Cleared when the key is pruned: a snapshot that copied the pointer
    /// before the prune skips it.
    live: AtomicBool,
}

impl KeyCounters {
    fn new(key: &str, windows: usize) -> Self {
        Self {
            fingerprint: key_fingerprint(key),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            max_seen: (0..windows).map(|_| AtomicU64::new(0)).collect(),
            live: AtomicBool::new(true),
        }
    }

    /// Copies the key's `max_seen` figures from its accounting.
    fn note_max_seen(&self, limits: &KeyLimits) {
        for (slot, seen) in self.max_seen.iter().zip(limits.max_seen()) {
            slot.store(seen, Ordering::Relaxed);
        }
    }
}

/// Every tracked key's counters, for snapshots. Changed under the main
/// lock (a key added or pruned) and copied by a snapshot under its own
/// lock, never both ways round: a snapshot never waits for traffic, and
/// traffic waits for a snapshot only when it adds or prunes a key, for as
/// long as copying the pointers takes.
type Directory = Mutex<Vec<Arc<KeyCounters>>>;

#[derive(Debug, Default)]
struct Inner {
    keys: HashMap<String, KeyState>,
    last_prune: Option<Instant>,
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
    /// The batch item ids answered `ok` at least once (`track_ids`).
    ids_acknowledged: HashSet<String>,
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
    /// How long a key's accounting matters: the longest scaled window, or
    /// a full GCRA burst. A key idle for longer is as good as new.
    memory: Duration,
    origin: Instant,
    next_id: AtomicU64,
    inner: Mutex<Inner>,
    directory: Directory,
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
        let windows = config.windows.iter().map(|w| config.scaled(w.window));
        let rate = config.rate.map(|r| {
            let burst = u32::try_from(r.burst).unwrap_or(u32::MAX);
            config.scaled(r.period.saturating_mul(burst))
        });
        let memory = windows.chain(rate).max().unwrap_or_default();
        Self {
            memory,
            config,
            origin: Instant::now(),
            next_id: AtomicU64::new(1),
            inner: Mutex::default(),
            directory: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the server down with it: the
        // counters stay usable even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn directory(&self) -> MutexGuard<'_, Vec<Arc<KeyCounters>>> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh request id (1, 2, …), also the fault generator's stream index.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn key_state<'a>(&self, inner: &'a mut Inner, key: &str) -> (&'a mut KeyState, String) {
        let now = Instant::now();
        if !inner.keys.contains_key(key) && inner.keys.len() >= MAX_KEYS {
            self.prune(inner, now);
        }
        let key = if inner.keys.contains_key(key) || inner.keys.len() < MAX_KEYS {
            key
        } else {
            OVERFLOW_KEY
        };
        let owned = key.to_owned();
        let entry = inner.keys.entry(owned.clone()).or_insert_with(|| {
            let counters = Arc::new(KeyCounters::new(key, self.config.windows.len()));
            self.directory().push(Arc::clone(&counters));
            KeyState {
                limits: KeyLimits::new(&self.config, self.origin),
                in_flight: 0,
                counters,
                last_seen: now,
            }
        });
        entry.last_seen = now;
        (entry, owned)
    }

    /// Forgets keys with nothing in flight that were last seen longer ago
    /// than any quota remembers (forgetting them hands out no extra quota;
    /// their requests stay counted in the totals). At most once per
    /// [`PRUNE_EVERY`].
    fn prune(&self, inner: &mut Inner, now: Instant) {
        if inner
            .last_prune
            .is_some_and(|last| now.duration_since(last) < PRUNE_EVERY)
        {
            return;
        }
        inner.last_prune = Some(now);
        let memory = self.memory;
        let before = inner.keys.len();
        inner.keys.retain(|name, k| {
            let keep = name == OVERFLOW_KEY
                || k.in_flight > 0
                || now.duration_since(k.last_seen) <= memory;
            if !keep {
                k.counters.live.store(false, Ordering::Relaxed);
            }
            keep
        });
        if inner.keys.len() < before {
            self.directory()
                .retain(|counters| counters.live.load(Ordering::Relaxed));
        }
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
        let (ks, key) = self.key_state(inner, key);
        let now = Instant::now();
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
                ks.counters.rejected.fetch_add(1, Ordering::Relaxed);
                inner.rejected += 1;
                inner.by_reason.add(refusal.reason);
                Admission::Refused(refusal, status)
            }
            None => {
                ks.counters.accepted.fetch_add(1, Ordering::Relaxed);
                ks.counters.note_max_seen(&ks.limits);
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
        ks.counters.rejected.fetch_add(1, Ordering::Relaxed);
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

    /// Notes batch items answered `ok`, by id.
    pub(crate) fn count_acknowledged(&self, ids: impl Iterator<Item = String>) {
        self.lock().ids_acknowledged.extend(ids);
    }

    /// The batch item ids answered `ok` at least once.
    pub(crate) fn acknowledged_ids(&self) -> HashSet<String> {
        self.lock().ids_acknowledged.clone()
    }

    /// A snapshot of the statistics.
    ///
    /// The totals are copied under the main lock; the keys' figures are
    /// read after it is released (see the module docs), so while requests
    /// flow a key's figures may include a few requests the totals do not
    /// yet. Once traffic stops, the two agree exactly.
    pub(crate) fn stats(&self) -> MockStats {
        let totals = {
            let inner = self.lock();
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
                    acknowledged: inner.ids_acknowledged.len() as u64,
                },
                windows: Vec::new(),
                keys: BTreeMap::new(),
            }
        };
        let keys: Vec<Arc<KeyCounters>> = self.directory().clone();
        let keys: Vec<&KeyCounters> = keys
            .iter()
            .map(|counters| &**counters)
            .filter(|counters| counters.live.load(Ordering::Relaxed))
            .collect();
        let windows = self
            .config
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| WindowStats {
                limit: w.limit,
                window_ms: u64::try_from(self.config.scaled(w.window).as_millis())
                    .unwrap_or(u64::MAX),
                max_seen: keys
                    .iter()
                    .filter_map(|k| k.max_seen.get(i))
                    .map(|seen| seen.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0),
            })
            .collect();
        MockStats {
            windows,
            keys: keys
                .iter()
                .map(|k| {
                    let figures = KeyStats {
                        accepted: k.accepted.load(Ordering::Relaxed),
                        rejected: k.rejected.load(Ordering::Relaxed),
                    };
                    (k.fingerprint.clone(), figures)
                })
                .collect(),
            ..totals
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
        inner.ids_acknowledged.clear();
        // Requests in flight now are still in flight after the reset.
        inner.max_in_flight = inner.keys.values().map(|k| k.in_flight).max().unwrap_or(0);
        for k in inner.keys.values_mut() {
            k.counters.accepted.store(0, Ordering::Relaxed);
            k.counters.rejected.store(0, Ordering::Relaxed);
            k.limits.reset_stats(now);
            k.counters.note_max_seen(&k.limits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(state: &Arc<State>, key: &str) -> bool {
        matches!(state.admit(key), Admission::Accepted(..))
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_makes_room_by_forgetting_idle_keys_only() {
        let state = Arc::new(State::new(
            MockConfig::default().with_window(1, Duration::from_millis(10)),
        ));
        for n in 0..MAX_KEYS {
            assert!(accepted(&state, &format!("key-{n}")));
        }
        // Full, and every key is still inside its window: a new key shares
        // the overflow tenant (forgetting a key would hand out quota).
        assert!(accepted(&state, "late-1"));
        assert!(
            !accepted(&state, "late-2"),
            "the overflow tenant's one call is spent"
        );
        assert!(!state.stats().keys.contains_key(&key_fingerprint("late-1")));
        // Once the window has passed (and the last sweep is 100 ms old),
        // idle keys are pruned and a new key gets its own quota.
        tokio::time::advance(PRUNE_EVERY).await;
        assert!(accepted(&state, "late-3"));
        assert!(accepted(&state, "late-4"));
        let stats = state.stats();
        assert!(stats.keys.contains_key(&key_fingerprint("late-4")));
        assert!(stats.keys.len() < MAX_KEYS);
        assert_eq!(
            stats.accepted,
            MAX_KEYS as u64 + 3,
            "totals keep pruned keys' requests"
        );
    }

    /// A state whose table holds `keys` keys, and their names.
    fn admissions_per_second_state(keys: usize) -> (Arc<State>, Vec<String>) {
        let state = Arc::new(State::new(
            MockConfig::default()
                .with_window(10_000_000, Duration::from_secs(1))
                .with_fixed_window(100_000_000, Duration::from_secs(86_400)),
        ));
        let names: Vec<String> = (0..keys).map(|n| format!("key-{n}")).collect();
        for name in &names {
            assert!(accepted(&state, name));
        }
        (state, names)
    }

    /// Admissions per second on one thread, with another thread taking
    /// statistics snapshots back to back or not, over `keys` keys: what a
    /// `/__stats` poller costs traffic, without HTTP, JSON or the client.
    /// `cargo test --release -p pacer-mock --lib snapshot_cost -- --ignored --nocapture`
    fn admissions_per_second(keys: usize, snapshots: bool) -> (f64, Duration, u64) {
        let (state, names) = admissions_per_second_state(keys);
        let stop = Arc::new(AtomicBool::new(false));
        let snapshotter = snapshots.then(|| {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut taken = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(state.stats().keys.len(), keys);
                    taken += 1;
                }
                taken
            })
        });
        let start = std::time::Instant::now();
        let (mut admitted, mut slowest) = (0u64, Duration::ZERO);
        while start.elapsed() < Duration::from_secs(2) {
            let one = std::time::Instant::now();
            assert!(accepted(&state, &names[admitted as usize * 7919 % keys]));
            slowest = slowest.max(one.elapsed());
            admitted += 1;
        }
        let rate = admitted as f64 / start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let taken = snapshotter.map_or(0, |t| t.join().unwrap_or(0));
        (rate, slowest, taken)
    }

    #[test]
    #[ignore = "a measurement: run it in release, with --nocapture"]
    fn snapshot_cost() {
        let (state, _) = admissions_per_second_state(10_000);
        let start = std::time::Instant::now();
        for _ in 0..100 {
            assert_eq!(state.stats().keys.len(), 10_000);
        }
        println!("10 000 keys: a snapshot takes {:?}", start.elapsed() / 100);
        let start = std::time::Instant::now();
        for _ in 0..100 {
            drop(state.lock());
            assert_eq!(state.directory().clone().len(), 10_000);
        }
        println!(
            "  of which under the locks traffic takes: {:?}",
            start.elapsed() / 100
        );
        for snapshots in [false, true] {
            let (rate, slowest, taken) = admissions_per_second(10_000, snapshots);
            println!(
                "10 000 keys, snapshots {}: {rate:.0} admissions/s, slowest {slowest:?}, {taken} snapshots",
                if snapshots { "back to back" } else { "none" }
            );
        }
    }
}
