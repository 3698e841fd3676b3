//! Reading a store's files once they are at rest.

use std::path::Path;
use std::time::Duration;

/// Every byte of every file in `dir`, read once no file vanishes mid-scan.
///
/// A SQLite store's group writer may still hold the connection for a moment
/// after the last put answered; when it closes, SQLite folds the write-ahead
/// log into the main file and deletes it. A file gone between listing and
/// reading means such a fold happened, so the scan starts over.
pub async fn bytes_at_rest(dir: &Path) -> Vec<u8> {
    loop {
        let mut bytes = Vec::new();
        let mut vanished = false;
        for entry in std::fs::read_dir(dir).unwrap() {
            match std::fs::read(entry.unwrap().path()) {
                Ok(file) => bytes.extend(file),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => vanished = true,
                Err(error) => panic!("reading {}: {error}", dir.display()),
            }
        }
        if !vanished {
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
