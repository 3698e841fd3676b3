//! `pacer dlq`: operate the dead letters of a run — list, show, replay
//! (through the same policy, at its pace), purge, export as JSONL.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::dlq::{DeadLetter, DeadLetterStore, Replayer, SqliteStore};
use tower_pacer::{BoxError, Pacer};

use crate::client::http_client;
use crate::error::{CliError, Done};
use crate::sync::{PolicyArgs, auth_header};

/// Most letters a listing reads at once.
const PAGE: usize = 100_000;

/// `pacer dlq`: the dead letters in `--store`.
#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    /// The store: `sqlite:FILE` (or a plain file path), or `redis://HOST[:PORT]/[DB]#NAME`
    /// (feature `redis`).
    #[arg(long, default_value = "sqlite:.pacer/dead-letters.sqlite3")]
    store: String,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// One line per letter: id, kind, attempts, target, message.
    List {
        /// Show at most N letters.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Everything stored for one letter, body included.
    Show {
        /// The letter's id (from `list`).
        id: String,
    },
    /// Send every letter again through the policy, at its pace: those that
    /// succeed are deleted, the others kept with one more attempt.
    Replay {
        #[command(flatten)]
        policy: PolicyArgs,
        /// Where the token is read from (sent as `Authorization: Bearer`).
        #[arg(long, default_value = "PACER_TOKEN")]
        token_env: String,
        /// Trust this PEM certificate too (a test server's).
        #[arg(long, value_name = "FILE")]
        ca_cert: Option<PathBuf>,
    },
    /// Delete every letter (asks for --yes).
    Purge {
        /// Really delete them.
        #[arg(long)]
        yes: bool,
    },
    /// Every letter as one JSON object per line (to stdout, or --out).
    Export {
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Opens the store a `--dlq`/`--store` flag names.
pub fn open_store(spec: &str) -> Result<Arc<dyn DeadLetterStore>, CliError> {
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        return open_redis(spec);
    }
    let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("dead-letter store {path}: {e}")))?;
    }
    let store = SqliteStore::open(path)
        .map_err(|e| CliError::usage(format!("dead-letter store {path}: {e}")))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "redis")]
fn open_redis(spec: &str) -> Result<Arc<dyn DeadLetterStore>, CliError> {
    let (url, name) = spec.split_once('#').unwrap_or((spec, "pacer"));
    let store = tower_pacer::dlq::RedisStore::open(url, name).map_err(|e| {
        CliError::usage(format!(
            "dead-letter store {}: {e}",
            tower_pacer::redact::Redaction::default().url(url)
        ))
    })?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
fn open_redis(_: &str) -> Result<Arc<dyn DeadLetterStore>, CliError> {
    Err(CliError::usage(
        "a redis:// store needs pacer built with `--features redis`",
    ))
}

/// Runs a `pacer dlq` action.
pub async fn run(args: DlqArgs) -> Result<Done, CliError> {
    let store = open_store(&args.store)?;
    match args.action {
        Action::List { limit } => {
            let letters = store.peek(limit).await?;
            let total = store.len().await?;
            println!(
                "{:<26} {:<18} {:>8}  {:<40} message",
                "id", "kind", "attempts", "target"
            );
            for l in &letters {
                println!(
                    "{:<26} {:<18} {:>8}  {:<40} {}",
                    l.id,
                    l.kind.as_str(),
                    l.attempts,
                    format!("{} {}", l.method, l.uri),
                    one_line(&l.message, 80)
                );
            }
            println!("{} of {total} letters shown", letters.len());
        }
        Action::Show { id } => {
            let letter = store
                .peek(PAGE)
                .await?
                .into_iter()
                .find(|l| l.id == id)
                .ok_or_else(|| {
                    CliError::usage(format!(
                        "no letter {id} in {}",
                        tower_pacer::redact::Redaction::default().url(&args.store)
                    ))
                })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&as_json(&letter)).unwrap_or_default()
            );
        }
        Action::Replay {
            policy,
            token_env,
            ca_cert,
        } => {
            let pacer = Pacer::new(policy.policy()?)
                .map_err(|e| CliError::usage(format!("policy: {e}")))?;
            let auth = auth_header(&token_env)?;
            let client = http_client(ca_cert.as_deref())?;
            let paced = ServiceBuilder::new().layer(pacer.layer()).service(client);
            // Credentials were never stored: put them back. A 2xx whose body
            // lists failed items is a failure, not a success.
            let service = service_fn(move |mut request: http::Request<Full<Bytes>>| {
                let paced = paced.clone();
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, auth.clone());
                async move {
                    let response = paced.oneshot(request).await?;
                    let (mut parts, body) = response.into_parts();
                    let body = body.collect().await?.to_bytes();
                    if parts.status.is_success() && items_failed(&body) {
                        parts.status = http::StatusCode::UNPROCESSABLE_ENTITY;
                    }
                    Ok::<_, BoxError>(http::Response::from_parts(parts, Full::new(body)))
                }
            });
            let before = store.len().await?;
            let report = Replayer::new(store.clone())
                .leases(100, Duration::from_secs(3_600))
                .run(service)
                .await?;
            let stats = pacer.stats();
            println!(
                "replayed {} of {before} letters: {} succeeded (deleted), {} failed again (kept), {} skipped; \
                 {} calls, {} 429s; {} letters left",
                report.replayed,
                report.succeeded,
                report.failed_again,
                report.skipped,
                stats.attempts,
                stats.rate_limited,
                store.len().await?
            );
        }
        Action::Purge { yes } => {
            let total = store.len().await?;
            if !yes {
                return Err(CliError::usage(format!(
                    "{total} letters would be deleted: add --yes"
                )));
            }
            let mut deleted = 0u64;
            loop {
                let batch = store.lease(1_000, Duration::from_secs(600)).await?;
                if batch.is_empty() {
                    break;
                }
                for letter in batch {
                    deleted += u64::from(store.ack(&letter.id).await?);
                }
            }
            println!("deleted {deleted} letters");
        }
        Action::Export { out } => {
            let letters = store.peek(PAGE).await?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            for letter in &letters {
                writeln!(sink, "{}", as_json(letter))?;
            }
            sink.flush()?;
            if let Some(path) = out {
                eprintln!("{} letters written to {}", letters.len(), path.display());
            }
        }
    }
    Ok(Done::Finished)
}

/// True when a batch answer lists failed items (`"errors": [ … ]`).
pub fn items_failed(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")
                .and_then(Value::as_array)
                .map(|e| !e.is_empty())
        })
        .unwrap_or(false)
}

fn one_line(text: &str, max: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() > max {
        line.chars()
            .take(max - 1)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        line
    }
}

fn millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A letter as JSON: the body as JSON when it is, else as text.
fn as_json(l: &DeadLetter) -> Value {
    let body = serde_json::from_slice::<Value>(&l.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&l.body).into_owned()));
    let headers: Vec<Value> = l
        .headers
        .iter()
        .map(|(k, v)| json!([k, String::from_utf8_lossy(v)]))
        .collect();
    json!({
        "id": l.id, "destination": l.destination, "method": l.method, "uri": l.uri,
        "headers": headers, "body": body, "kind": l.kind.as_str(), "message": l.message,
        "attempts": l.attempts, "first_attempt_ms": millis(l.first_attempt),
        "last_attempt_ms": millis(l.last_attempt),
    })
}
