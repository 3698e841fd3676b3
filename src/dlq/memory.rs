//! Dead letters in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::letter::new_id;
use super::{DeadLetter, DeadLetterStore, FailedAgain, StoreFuture};

/// Dead letters in process memory: for tests, and for short jobs where a
/// crash losing them is acceptable. Leases run on `tokio::time`, so tests
/// can move them with a paused clock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    letters: Mutex<Letters>,
}

/// The letters and the keys of [`put_many_once`](DeadLetterStore::put_many_once).
#[derive(Debug, Default)]
struct Letters {
    /// By id (time-ordered), with their lease.
    by_id: BTreeMap<String, (DeadLetter, Lease)>,
    /// The ids given under each key.
    keys: HashMap<String, Vec<String>>,
}

impl Letters {
    fn insert(&mut self, mut letter: DeadLetter) -> String {
        let id = new_id();
        letter.id = id.clone();
        self.by_id.insert(id.clone(), (letter, Lease::Free));
        id
    }
}

/// A letter's lease.
#[derive(Debug, Clone, Copy, Default)]
enum Lease {
    #[default]
    Free,
    Until(Instant),
    /// Longer than an `Instant` can express (`Duration::MAX`, say): it
    /// ends only with an ack or a release.
    Endless,
}

impl Lease {
    fn is_free_at(self, now: Instant) -> bool {
        match self {
            Lease::Free => true,
            Lease::Until(until) => until <= now,
            Lease::Endless => false,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, (DeadLetter, Lease)>) -> T) -> T {
        self.with_all(|all| f(&mut all.by_id))
    }

    fn with_all<T>(&self, f: impl FnOnce(&mut Letters) -> T) -> T {
        f(&mut self.letters.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl DeadLetterStore for MemoryStore {
    fn put(&self, letter: DeadLetter) -> StoreFuture<'_, String> {
        let id = self.with_all(|all| all.insert(letter));
        Box::pin(async move { Ok(id) })
    }

    fn put_many(&self, letters: Vec<DeadLetter>) -> StoreFuture<'_, Vec<String>> {
        let ids = self.with_all(|all| letters.into_iter().map(|l| all.insert(l)).collect());
        Box::pin(async move { Ok(ids) })
    }

    fn put_many_once<'a>(
        &'a self,
        key: &'a str,
        letters: Vec<DeadLetter>,
    ) -> StoreFuture<'a, Vec<String>> {
        let ids = self.with_all(|all| {
            if let Some(ids) = all.keys.get(key) {
                return ids.clone();
            }
            let ids: Vec<String> = letters.into_iter().map(|l| all.insert(l)).collect();
            all.keys.insert(key.to_owned(), ids.clone());
            ids
        });
        Box::pin(async move { Ok(ids) })
    }

    fn peek(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>> {
        let letters = self.with(|letters| {
            letters
                .values()
                .take(limit)
                .map(|(l, _)| l.clone())
                .collect()
        });
        Box::pin(async move { Ok(letters) })
    }

    fn lease(&self, limit: usize, lease_for: Duration) -> StoreFuture<'_, Vec<DeadLetter>> {
        let now = Instant::now();
        let lease = now
            .checked_add(lease_for)
            .map_or(Lease::Endless, Lease::Until);
        let leased = self.with(|letters| {
            letters
                .values_mut()
                .filter(|(_, held)| held.is_free_at(now))
                .take(limit)
                .map(|(letter, held)| {
                    *held = lease;
                    letter.clone()
                })
                .collect()
        });
        Box::pin(async move { Ok(leased) })
    }

    fn ack<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let removed = self.with(|letters| letters.remove(id).is_some());
        Box::pin(async move { Ok(removed) })
    }

    fn release<'a>(&'a self, id: &'a str, failure: FailedAgain) -> StoreFuture<'a, bool> {
        let found = self.with(|letters| match letters.get_mut(id) {
            Some((letter, held)) => {
                letter.attempts = letter.attempts.saturating_add(1);
                letter.last_attempt = failure.at;
                letter.message = failure.message;
                *held = Lease::Free;
                true
            }
            None => false,
        });
        Box::pin(async move { Ok(found) })
    }

    fn unlease<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let found = self.with(|letters| match letters.get_mut(id) {
            Some((_, held)) => {
                *held = Lease::Free;
                true
            }
            None => false,
        });
        Box::pin(async move { Ok(found) })
    }

    fn len(&self) -> StoreFuture<'_, u64> {
        let len = self.with(|letters| letters.len() as u64);
        Box::pin(async move { Ok(len) })
    }
}
