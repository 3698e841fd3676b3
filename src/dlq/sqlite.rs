//! Dead letters in an embedded SQLite file (feature `sqlite`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

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
                 );",
            )
            .map_err(backend)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
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
                let mut connection = connection.lock().unwrap_or_else(|p| p.into_inner());
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

impl DeadLetterStore for SqliteStore {
    fn put(&self, mut letter: DeadLetter) -> StoreFuture<'_, String> {
        letter.id = new_id();
        self.blocking(move |c| {
            c.execute(
                &format!("INSERT INTO dead_letters ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    letter.id,
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
                ],
            )?;
            Ok(letter.id)
        })
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
