//! Where dead letters are kept: the store trait and its errors.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use super::DeadLetter;

/// A boxed store future (stores are used as `Arc<dyn DeadLetterStore>`;
/// their calls are on the failure path, not the hot one).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (disk full, file damaged, server down…).
    #[error("dead-letter store: {0}")]
    Backend(String),
}

/// A failed replay, to record on the letter put back by
/// [`release`](DeadLetterStore::release).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedAgain {
    /// What went wrong this time.
    pub message: String,
    /// When.
    pub at: SystemTime,
}

impl FailedAgain {
    /// A replay that failed now with `message`.
    pub fn now(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            at: SystemTime::now(),
        }
    }
}

/// Keeps dead letters until they are replayed.
///
/// Ids are strings chosen by the store. [`lease`](Self::lease) hands letters
/// out for a time during which no other lease sees them; a leased letter
/// is then [acked](Self::ack) (deleted) after a successful replay or
/// [released](Self::release) (attempts + 1) after a failed one, or
/// [unleased](Self::unlease) if it was not sent at all; if none of these
/// happens, it reappears when the lease expires, so a replayer that crashes
/// loses nothing.
pub trait DeadLetterStore: Send + Sync + 'static {
    /// Keep `letter`; its id. When the future resolves, the letter is as
    /// durable as the store can make it.
    fn put(&self, letter: DeadLetter) -> StoreFuture<'_, String>;
    /// Keep `letters` (a refused batch's items, say); their ids, in order.
    ///
    /// A store that can makes this one write, all the letters or none
    /// (`SqliteStore`: one transaction; `RedisStore`: one atomic
    /// pipeline). The default, for stores written before this method,
    /// puts them one after another and stops at the first error (the
    /// letters before it are kept).
    fn put_many(&self, letters: Vec<DeadLetter>) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut ids = Vec::with_capacity(letters.len());
            for letter in letters {
                ids.push(self.put(letter).await?);
            }
            Ok(ids)
        })
    }

    /// Keep `letters` unless letters were already kept under `key`: then
    /// store nothing and return the ids given then (those letters may
    /// since have been replayed and deleted). For work that may be
    /// reported twice: a batch sent again with the same idempotency key
    /// after a crash between storing its refused items and noting it
    /// done, whose letters must not be stored twice.
    ///
    /// The key and the letters are kept together (one transaction in
    /// `SqliteStore`, one script in `RedisStore`, one lock in
    /// [`MemoryStore`](super::MemoryStore)). Keys are remembered as long as
    /// the store is.
    ///
    /// The default, for stores written before this method, cannot remember
    /// keys: it is [`put_many`](Self::put_many), and a repeat is stored
    /// again.
    ///
    /// ```
    /// use tower_pacer::dlq::{DeadLetter, DeadLetterStore, MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_pacer::BoxError> {
    /// let store = MemoryStore::new();
    /// let refused = || vec![DeadLetter::new("crm", "POST", "https://crm.example/batch")];
    /// let first = store.put_many_once("batch-7", refused()).await?;
    /// let again = store.put_many_once("batch-7", refused()).await?;
    /// assert_eq!(first, again);
    /// assert_eq!(store.len().await?, 1);
    /// # Ok(()) }
    /// ```
    fn put_many_once<'a>(
        &'a self,
        key: &'a str,
        letters: Vec<DeadLetter>,
    ) -> StoreFuture<'a, Vec<String>> {
        let _ = key;
        self.put_many(letters)
    }

    /// Up to `limit` letters, oldest first, leased or not, without leasing.
    fn peek(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>>;
    /// Up to `limit` letters not leased by anyone, oldest first, leased for
    /// `lease_for`.
    fn lease(&self, limit: usize, lease_for: Duration) -> StoreFuture<'_, Vec<DeadLetter>>;
    /// Delete a letter (its replay succeeded); false if there was none.
    fn ack<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;
    /// End a lease after a failed replay: the letter stays, with one more
    /// attempt and `failure` recorded; false if there was none.
    fn release<'a>(&'a self, id: &'a str, failure: FailedAgain) -> StoreFuture<'a, bool>;
    /// End a lease on a letter that was not sent (the [`Replayer`](super::Replayer)
    /// skips one whose body was not captured): it is free again, its
    /// attempts and last failure unchanged; false if there was none.
    ///
    /// The default (for stores written before this method) changes nothing
    /// and returns false: the letter reappears when its lease expires.
    fn unlease<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let _ = id;
        Box::pin(async { Ok(false) })
    }
    /// How many letters the store holds.
    fn len(&self) -> StoreFuture<'_, u64>;

    /// True if the store holds no letter.
    fn is_empty(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move { Ok(self.len().await? == 0) })
    }
}
