//! The checkpoint of a sync: which batches the API acknowledged (or whose
//! records became dead letters), in SQLite under `--state`.
//!
//! Batches are fixed slices of the input (batch `k` is records
//! `k·size .. (k+1)·size`), so a resumed run rebuilds exactly the batches
//! that were not finished, with the same `Idempotency-Key`. A batch is
//! marked only after the API answered it and its refused records were
//! stored: a `kill -9` at any moment leaves every record acknowledged,
//! dead-lettered, or still to send. A kill after the letters were stored
//! but before the mark sends the batch again on resume; its letters are
//! kept under the batch's key, so they are not stored twice.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::CliError;

/// What identifies a run: a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// The input's fingerprint.
    pub fingerprint: String,
    /// The endpoint.
    pub url: String,
    /// Records per batch.
    pub batch: usize,
    /// Records in the input.
    pub records: usize,
}

/// An open checkpoint; cheap to clone.
#[derive(Clone)]
pub struct Checkpoint {
    conn: Arc<Mutex<Connection>>,
}

/// The figures of finished batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records the API acknowledged.
    pub acked: u64,
    /// Records stored as dead letters.
    pub dead: u64,
}

impl Checkpoint {
    /// Opens (or creates) the checkpoint in `dir`, checks that it belongs
    /// to the same run, and returns the batches already finished.
    pub fn open(dir: &Path, key: &RunKey) -> Result<(Checkpoint, HashSet<u64>, Tally), CliError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("--state {}: {e}", dir.display())))?;
        let conn = Connection::open(dir.join("checkpoint.sqlite3"))?;
        // WAL with synchronous=NORMAL: a committed mark survives a crash of
        // the process (kill -9); only a power cut may lose the last marks,
        // which then resend batches the API answers by idempotency key.
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS batches (
                 batch INTEGER PRIMARY KEY, acked INTEGER NOT NULL, dead INTEGER NOT NULL,
                 at_ms INTEGER NOT NULL);",
        )?;
        let wanted = [
            ("fingerprint", key.fingerprint.clone()),
            ("url", key.url.clone()),
            ("batch", key.batch.to_string()),
            ("records", key.records.to_string()),
        ];
        for (name, value) in &wanted {
            let stored: Option<String> = conn
                .query_row("SELECT value FROM run WHERE key = ?1", [name], |r| r.get(0))
                .optional()?;
            match stored {
                None => {
                    conn.execute(
                        "INSERT INTO run (key, value) VALUES (?1, ?2)",
                        params![name, value],
                    )?;
                }
                Some(stored) if &stored == value => {}
                Some(stored) => {
                    let what = match *name {
                        "fingerprint" | "records" => "the input file changed".to_owned(),
                        "url" => format!("it was a sync to {stored}"),
                        _ => format!("it was made with --batch {stored}"),
                    };
                    return Err(CliError::usage(format!(
                        "--state {} holds another run ({what}): resume it with the same \
                         arguments, or give a new --state directory",
                        dir.display()
                    )));
                }
            }
        }
        let mut done = HashSet::new();
        let mut tally = Tally::default();
        {
            let mut rows = conn.prepare("SELECT batch, acked, dead FROM batches")?;
            let mut rows = rows.query([])?;
            while let Some(row) = rows.next()? {
                done.insert(row.get::<_, i64>(0)?.unsigned_abs());
                tally.acked += row.get::<_, i64>(1)?.unsigned_abs();
                tally.dead += row.get::<_, i64>(2)?.unsigned_abs();
            }
        }
        Ok((
            Checkpoint {
                conn: Arc::new(Mutex::new(conn)),
            },
            done,
            tally,
        ))
    }

    /// Marks `batch` finished (committed before this returns).
    pub async fn mark(&self, batch: u64, tally: Tally) -> Result<(), CliError> {
        let conn = Arc::clone(&self.conn);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            conn.execute(
                "INSERT OR REPLACE INTO batches (batch, acked, dead, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    i64::try_from(batch).unwrap_or(i64::MAX),
                    i64::try_from(tally.acked).unwrap_or(i64::MAX),
                    i64::try_from(tally.dead).unwrap_or(i64::MAX),
                    now
                ],
            )
            .map(drop)
            .map_err(CliError::from)
        })
        .await
        .map_err(|e| CliError::failed(format!("state: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RunKey {
        RunKey {
            fingerprint: "f".into(),
            url: "https://api/x".into(),
            batch: 10,
            records: 25,
        }
    }

    #[tokio::test]
    async fn marks_survive_reopening_and_other_runs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cp, done, _) = Checkpoint::open(dir.path(), &key()).unwrap();
        assert!(done.is_empty());
        cp.mark(1, Tally { acked: 9, dead: 1 }).await.unwrap();
        drop(cp);
        let (_, done, tally) = Checkpoint::open(dir.path(), &key()).unwrap();
        assert_eq!(done, HashSet::from([1]));
        assert_eq!(tally, Tally { acked: 9, dead: 1 });
        let other = RunKey { batch: 20, ..key() };
        let e = Checkpoint::open(dir.path(), &other).err().unwrap();
        assert!(e.to_string().contains("--batch 10"), "{e}");
    }
}
