//! Reading the records to sync: JSON Lines (one object per line) or CSV
//! (a header row, then one record per row; values are strings).
//!
//! The whole file is read and checked before anything is sent, so a bad
//! line stops the run with its number instead of half a sync.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::CliError;

/// The file formats `pacer sync` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line; blank lines are skipped.
    Jsonl,
    /// A header row of field names, then one record per row.
    Csv,
}

impl Format {
    /// The format a file name suggests (`.csv`, else JSON Lines).
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// The records of a file, and a fingerprint of its bytes (a resumed run
/// must read the same file).
#[derive(Debug)]
pub struct Input {
    /// The records, in file order.
    pub records: Vec<Value>,
    /// FNV-1a 64 of the file's bytes, in hex.
    pub fingerprint: String,
}

/// Reads and checks every record of `path`.
pub fn read(path: &Path, format: Format) -> Result<Input, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("--input {}: {e}", path.display())))?;
    let fingerprint = format!("{:016x}", fnv1a(&bytes));
    let name = path.display().to_string();
    let records = match format {
        Format::Jsonl => jsonl(&name, &bytes)?,
        Format::Csv => csv(&name, &bytes)?,
    };
    Ok(Input {
        records,
        fingerprint,
    })
}

fn jsonl(name: &str, bytes: &[u8]) -> Result<Vec<Value>, CliError> {
    let mut records = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |why: String| CliError::usage(format!("{name} line {}: {why}", n + 1));
        match serde_json::from_slice::<Value>(line) {
            Ok(record @ Value::Object(_)) => records.push(record),
            Ok(_) => return Err(bad("expected a JSON object".into())),
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(records)
}

fn csv(name: &str, bytes: &[u8]) -> Result<Vec<Value>, CliError> {
    let mut reader = ::csv::ReaderBuilder::new().from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| CliError::usage(format!("{name} line 1: {e}")))?
        .clone();
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            CliError::usage(format!("{name} line {line}: {e}"))
        })?;
        let record: Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        records.push(Value::Object(record));
    }
    Ok(records)
}

/// FNV-1a, 64 bits: stable across builds (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_names_the_bad_line() {
        let e = jsonl("f", b"{\"a\":1}\n\n{\"a\":2}\r\n{oops\n").unwrap_err();
        assert!(e.to_string().starts_with("f line 4:"), "{e}");
        let e = jsonl("f", b"{\"a\":1}\n[1]\n").unwrap_err();
        assert!(
            e.to_string().contains("line 2: expected a JSON object"),
            "{e}"
        );
        assert_eq!(jsonl("f", b"{\"a\":1}\n\n{\"a\":2}\r\n").unwrap().len(), 2);
    }

    #[test]
    fn csv_rows_become_objects() {
        let records = csv("f", b"id,email\n1,a@x\n2,\"b,c\"\n").unwrap();
        assert_eq!(records[1]["email"], "b,c");
        let e = csv("f", b"id,email\n1,a@x\n2\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
