//! Dead letters in an embedded SQLite file (feature `sqlite`).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::letter::{decode_headers, encode_headers, from_unix_millis, new_id, unix_millis};
use super::{DeadLetter, DeadLetterStore, FailedAgain, FailureKind, StoreError, StoreFuture};

/// Dead letters in a SQLite file: the embedded default.
///
/// The file is in WAL mode with `synchronous = FULL`: when
/// [`put`](DeadLetterStore::put) returns, the letter has been written and
/// synced, so it survives the process being killed (and, as far as the
/// disk keeps its promises, a power cut) before its caller even sees the
/// failure. SQLite calls block, so they run on tokio's blocking pool
/// (`spawn_blocking`); one connection serialises them. Leases are wall-clock
/// times stored in the file, so they hold across processes sharing it.
///
/// **Group commit.** Puts ([`put`](DeadLetterStore::put),
/// [`put_many`](DeadLetterStore::put_many),
/// [`put_many_once`](DeadLetterStore::put_many_once)) that arrive while a
/// transaction is being written wait and are written together in the next
/// one: one sync for all of them, so many failing calls at once are not
/// limited to one sync each. Every put still resolves only once the
/// transaction holding its letters has committed; if the commit fails, every
/// put in it gets the error. Each put is all-or-nothing on its own (a
/// savepoint): one that fails does not take the others of its transaction
/// with it.
///
/// ```no_run
/// use tower_pacer::dlq::{DeadLetterStore, SqliteStore};
///
/// # async fn demo() -> Result<(), tower_pacer::BoxError> {
/// let store = SqliteStore::open("dead-letters.sqlite3")?;
/// println!("{} letters waiting", store.len().await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// Puts waiting for the next transaction.
    queue: Arc<Mutex<Queue>>,
}

/// The puts waiting for the group writer, and whether it runs.
#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// A writer is running: it takes what waits once its transaction
    /// is done, so a new put needs no writer of its own.
    writing: bool,
}

/// One put: its letters (under its key, if any) and where its ids go.
#[derive(Debug)]
struct Pending {
    key: Option<String>,
    letters: Vec<DeadLetter>,
    reply: oneshot::Sender<Result<Vec<String>, StoreError>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl SqliteStore {
    /// Open (or create) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(backend)?;
        // First, so that even the set-up waits for another process's lock
        // instead of failing with SQLITE_BUSY.
        connection.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS dead_letters (
                     id TEXT PRIMARY KEY,
                     destination TEXT NOT NULL,
                     method TEXT NOT NULL,
                     uri TEXT NOT NULL,
                     headers BLOB NOT NULL,
                     body BLOB NOT NULL,
                     kind TEXT NOT NULL,
                     message TEXT NOT NULL,
                     attempts INTEGER NOT NULL,
                     first_attempt_ms INTEGER NOT NULL,
                     last_attempt_ms INTEGER NOT NULL,
                     leased_until_ms INTEGER NOT NULL DEFAULT 0
                 );
                 CREATE TABLE IF NOT EXISTS dead_letter_keys (
                     key TEXT PRIMARY KEY,
                     ids TEXT NOT NULL
                 );",
            )
            .map_err(backend)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            queue: Arc::default(),
        })
    }

    /// Queue one put for the group writer (starting it if none runs) and
    /// wait until the transaction holding it has committed.
    fn group_put(
        &self,
        key: Option<String>,
        letters: Vec<DeadLetter>,
    ) -> StoreFuture<'_, Vec<String>> {
        let (connection, queue) = (self.connection.clone(), self.queue.clone());
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let start = {
                let mut queue = locked(&queue);
                queue.waiting.push(Pending {
                    key,
                    letters,
                    reply,
                });
                !std::mem::replace(&mut queue.writing, true)
            };
            if start {
                tokio::task::spawn_blocking(move || write_groups(&connection, &queue));
            }
            answer
                .await
                .map_err(|_| StoreError::Backend("the dead-letter writer stopped".into()))?
        })
    }

    /// Run `f` on the connection, off the async threads.
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let connection = self.connection.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection = locked(&connection);
                f(&mut connection)
            })
            .await
            .map_err(backend)?
            .map_err(backend)
        })
    }
}

/// How long a call waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const COLUMNS: &str = "id, destination, method, uri, headers, body, kind, message, attempts, first_attempt_ms, last_attempt_ms";

fn letter(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    let headers: Vec<u8> = row.get(4)?;
    let body: Vec<u8> = row.get(5)?;
    let kind: String = row.get(6)?;
    Ok(DeadLetter {
        id: row.get(0)?,
        destination: row.get(1)?,
        method: row.get(2)?,
        uri: row.get(3)?,
        headers: decode_headers(&headers),
        body: Bytes::from(body),
        kind: FailureKind::parse(&kind),
        message: row.get(7)?,
        attempts: row.get(8)?,
        first_attempt: from_unix_millis(row.get(9)?),
        last_attempt: from_unix_millis(row.get(10)?),
    })
}

/// The group writer (on the blocking pool): while puts wait, take them
/// all and write them in one transaction, then answer each.
fn write_groups(connection: &Mutex<Connection>, queue: &Mutex<Queue>) {
    // If this thread panics, the puts it holds get an error (their senders
    // are dropped) and the next put starts a new writer.
    struct Done<'a>(&'a Mutex<Queue>);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut queue = locked(self.0);
                queue.writing = false;
                queue.waiting.clear();
            }
        }
    }
    let _done = Done(queue);
    loop {
        let group = {
            let mut queue = locked(queue);
            if queue.waiting.is_empty() {
                queue.writing = false;
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        let (puts, replies): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|p| ((p.key, p.letters), p.reply))
            .unzip();
        let outcomes = write_group(&mut locked(connection), puts);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that went away still had its letters stored.
            let _ = reply.send(outcome);
        }
    }
}

/// Writes `puts` in one transaction, each in a savepoint of its own; the
/// outcome of each, in order. If the transaction cannot begin or commit,
/// every put gets that error.
fn write_group(
    connection: &mut Connection,
    puts: Vec<(Option<String>, Vec<DeadLetter>)>,
) -> Vec<Result<Vec<String>, StoreError>> {
    let count = puts.len();
    let every = |error: rusqlite::Error| (0..count).map(|_| Err(backend(&error))).collect();
    // IMMEDIATE: take the write lock (waiting for another process's) before
    // writing, rather than failing on a write after a read.
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(error) => return every(error),
    };
    let mut outcomes = Vec::with_capacity(count);
    for (key, letters) in puts {
        let outcome = tx.savepoint().and_then(|mut savepoint| {
            let ids = insert(&mut savepoint, key.as_deref(), letters)?;
            savepoint.commit()?;
            Ok(ids)
        });
        // A failed savepoint was rolled back when dropped.
        outcomes.push(outcome.map_err(backend));
    }
    match tx.commit() {
        Ok(()) => outcomes,
        Err(error) => every(error),
    }
}

/// Inserts one put's letters (unless its key was seen: then the ids kept
/// under it); their ids.
fn insert(
    tx: &mut rusqlite::Savepoint<'_>,
    key: Option<&str>,
    letters: Vec<DeadLetter>,
) -> rusqlite::Result<Vec<String>> {
    if let Some(key) = key {
        let seen: Option<String> = tx
            .query_row(
                "SELECT ids FROM dead_letter_keys WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(ids) = seen {
            return Ok(ids.split_whitespace().map(str::to_owned).collect());
        }
    }
    let mut ids = Vec::with_capacity(letters.len());
    {
        let mut statement = tx.prepare_cached(&format!(
            "INSERT INTO dead_letters ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))?;
        for letter in letters {
            let id = new_id();
            statement.execute(params![
                id,
                letter.destination,
                letter.method,
                letter.uri,
                encode_headers(&letter.headers),
                letter.body.as_ref(),
                letter.kind.as_str(),
                letter.message,
                letter.attempts,
                unix_millis(letter.first_attempt),
                unix_millis(letter.last_attempt),
            ])?;
            ids.push(id);
        }
    }
    if let Some(key) = key {
        tx.execute(
            "INSERT INTO dead_letter_keys (key, ids) VALUES (?1, ?2)",
            params![key, ids.join(" ")],
        )?;
    }
    Ok(ids)
}

impl DeadLetterStore for SqliteStore {
    fn put(&self, letter: DeadLetter) -> StoreFuture<'_, String> {
        let ids = self.group_put(None, vec![letter]);
        Box::pin(async move {
            ids.await?
                .pop()
                .ok_or_else(|| StoreError::Backend("the letter got no id".into()))
        })
    }

    fn put_many(&self, letters: Vec<DeadLetter>) -> StoreFuture<'_, Vec<String>> {
        self.group_put(None, letters)
    }

    fn put_many_once<'a>(
        &'a self,
        key: &'a str,
        letters: Vec<DeadLetter>,
    ) -> StoreFuture<'a, Vec<String>> {
        self.group_put(Some(key.to_owned()), letters)
    }

    fn peek(&self, limit: usize) -> StoreFuture<'_, Vec<DeadLetter>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |c| {
            let mut statement = c.prepare(&format!(
                "SELECT {COLUMNS} FROM dead_letters ORDER BY id LIMIT ?1"
            ))?;
            statement.query_map([limit], letter)?.collect()
        })
    }

    fn lease(&self, limit: usize, lease_for: Duration) -> StoreFuture<'_, Vec<DeadLetter>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease_ms = i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX);
        self.blocking(move |c| {
            // Select and mark in one transaction, so two leases never share a
            // letter. IMMEDIATE takes the write lock first: a deferred one
            // would read, then fail with SQLITE_BUSY on its write if another
            // process wrote since (no busy wait can fix a stale read).
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Read the clock once the lock is ours, not before waiting for it.
            let now = unix_millis(SystemTime::now());
            let until = now.saturating_add(lease_ms);
            let letters: Vec<DeadLetter> = {
                let mut statement = tx.prepare(&format!(
                    "SELECT {COLUMNS} FROM dead_letters WHERE leased_until_ms <= ?1 ORDER BY id LIMIT ?2"
                ))?;
                statement.query_map(params![now, limit], letter)?.collect::<Result<_, _>>()?
            };
            for l in &letters {
                tx.execute(
                    "UPDATE dead_letters SET leased_until_ms = ?1 WHERE id = ?2",
                    params![until, l.id],
                )?;
            }
            tx.commit()?;
            Ok(letters)
        })
    }

    fn ack<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.blocking(move |c| Ok(c.execute("DELETE FROM dead_letters WHERE id = ?1", [id])? > 0))
    }

    fn release<'a>(&'a self, id: &'a str, failure: FailedAgain) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.blocking(move |c| {
            let changed = c.execute(
                "UPDATE dead_letters SET attempts = attempts + 1, last_attempt_ms = ?1, message = ?2,
                 leased_until_ms = 0 WHERE id = ?3",
                params![unix_millis(failure.at), failure.message, id],
            )?;
            Ok(changed > 0)
        })
    }

    fn unlease<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        self.blocking(move |c| {
            let changed = c.execute(
                "UPDATE dead_letters SET leased_until_ms = 0 WHERE id = ?1",
                [id],
            )?;
            Ok(changed > 0)
        })
    }

    fn len(&self) -> StoreFuture<'_, u64> {
        self.blocking(|c| {
            let n: Option<i64> = c
                .query_row("SELECT COUNT(*) FROM dead_letters", [], |row| row.get(0))
                .optional()?;
            Ok(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(n: usize) -> DeadLetter {
        let mut letter = DeadLetter::new("crm", "POST", "https://crm.test/batch");
        letter.body = Bytes::from(format!("record-{n}"));
        letter
    }

    fn file(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("pacer-sqlite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("letters.sqlite3");
        (dir, path)
    }

    /// Puts that arrive while a transaction is being written resolve only
    /// once the next transaction, holding all of them, has committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn puts_waiting_on_a_transaction_commit_together_then_resolve() {
        let (dir, path) = file("group");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        store.put(letter(0)).await.unwrap();

        // A transaction "being written": the writer holds the connection.
        let held = store.connection.clone();
        let (holding, held_now) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _guard = locked(&held);
            holding.send(()).unwrap();
            released.recv().unwrap();
        });
        held_now.recv().unwrap();
        // The first put starts a writer, which waits for the connection;
        // the others queue behind it.
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.put(letter(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rest: Vec<_> = (2..=40)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.put(letter(n)).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!first.is_finished(), "resolved before its commit");
        assert!(rest.iter().all(|p| !p.is_finished()));
        assert_eq!(locked(&store.queue).waiting.len(), 39, "queued together");

        release.send(()).unwrap();
        holder.join().unwrap();
        let mut ids = vec![first.await.unwrap().unwrap()];
        for put in rest {
            ids.push(put.await.unwrap().unwrap());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
        // Committed: another connection sees every letter.
        let other = SqliteStore::open(&path).unwrap();
        assert_eq!(other.len().await.unwrap(), 41);
        // The writer answers the puts, then looks for more and ends: give
        // it the moment between the two (it was seen still running under
        // load), bounded.
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        while locked(&store.queue).writing && std::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!locked(&store.queue).writing, "the writer ended");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// If the transaction cannot be written, every put queued in it gets
    /// the error, and nothing of theirs is kept; the next puts work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_transaction_fails_every_put_in_it() {
        let (dir, path) = file("fail");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        // Another process holds the write lock past the busy timeout.
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let puts: Vec<_> = (0..10)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move { store.put_many(vec![letter(n), letter(n + 100)]).await })
            })
            .collect();
        for put in puts {
            let error = put.await.unwrap().unwrap_err();
            assert!(error.to_string().contains("locked"), "{error}");
        }
        blocker.execute_batch("ROLLBACK").unwrap();
        assert_eq!(store.len().await.unwrap(), 0);
        let ids = store.put_many(vec![letter(1), letter(2)]).await.unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(store.len().await.unwrap(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A key seen before stores nothing and returns the first ids, across
    /// reopening.
    #[tokio::test]
    async fn put_many_once_keeps_a_keys_letters_once() {
        let (dir, path) = file("once");
        let store = SqliteStore::open(&path).unwrap();
        let first = store
            .put_many_once("k-1", vec![letter(1), letter(2)])
            .await
            .unwrap();
        assert_eq!(first.len(), 2);
        let again = store
            .put_many_once("k-1", vec![letter(1), letter(2)])
            .await
            .unwrap();
        assert_eq!(again, first);
        let reopened = SqliteStore::open(&path).unwrap();
        let later = reopened
            .put_many_once("k-1", vec![letter(3)])
            .await
            .unwrap();
        assert_eq!(later, first);
        assert_eq!(
            reopened.put_many_once("k-2", vec![]).await.unwrap(),
            Vec::<String>::new()
        );
        assert!(
            reopened
                .put_many_once("k-2", vec![letter(4)])
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(reopened.len().await.unwrap(), 2);
        let stored: Vec<String> = reopened
            .peek(10)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        assert_eq!(stored, first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
