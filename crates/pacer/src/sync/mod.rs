//! `pacer sync`: the main job on real data. A file of records goes to an
//! API's batch endpoint over HTTPS, in fixed batches, at the policy's pace
//! (tower-pacer's `Pacer`: pacing, Retry-After-aware retries, concurrency);
//! the records the API refuses become dead letters; a checkpoint makes the
//! run resumable.
//!
//! - **Resumable.** Batch `k` is always records `k·N .. (k+1)·N` of the
//!   file, sent with `Idempotency-Key: pacer-FINGERPRINT-N-k`. A batch is
//!   marked finished in `--state` only after the API answered it and its
//!   refused records were stored. After `kill -9`, the same command sends
//!   only unfinished batches; a batch that was in flight at the kill is
//!   sent again with the same key, which an API that honours idempotency
//!   keys answers without processing twice, and whose refused records the
//!   dead-letter store keeps once (`put_many_once` under the batch's key).
//! - **Graceful stop.** Ctrl-C sends nothing new, lets the batches in
//!   flight finish, and says how to resume (exit status 130).
//! - **Errors a user can act on.** A bad input line is reported with its
//!   number before anything is sent; a 401 or 403 stops the run at once
//!   (no dead letters: the token is wrong, not the records).

mod checkpoint;
mod input;
mod policy;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::bulk::{Bulk, StopHandle};
use tower_pacer::dlq::{DeadLetter, FailureKind, Redaction};
use tower_pacer::retry::Attempts;
use tower_pacer::{BoxError, Pacer};

use self::checkpoint::{Checkpoint, RunKey, Tally};
use self::input::Format;
pub use self::policy::PolicyArgs;
use crate::chart::{Sampler, chart};
use crate::client::http_client;
use crate::dlq::open_store;
use crate::error::{CliError, Done};

/// Largest batch accepted (a body of 10 000 records is already large).
const MAX_BATCH: usize = 10_000;

/// `pacer sync`: send a file of records to a batch endpoint.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The records: JSON Lines (one object per line) or CSV (header row).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// The input's format (default: from the file name; .csv is CSV).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The batch endpoint: each call POSTs `{"inputs":[…]}`.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// The environment variable holding the API token (sent as
    /// `Authorization: Bearer`; never stored or printed).
    #[arg(long, value_name = "VAR", default_value = "PACER_TOKEN")]
    token_env: String,
    /// Records per call.
    #[arg(long, value_name = "N", default_value_t = 100)]
    batch: usize,
    /// Batches in flight at once (the policy's concurrency cap still applies).
    #[arg(long, value_name = "N", default_value_t = 8)]
    in_flight: usize,
    /// Where the checkpoint, the dead letters and the chart are kept.
    #[arg(long, value_name = "DIR", default_value = ".pacer")]
    state: PathBuf,
    /// The dead-letter store (default `sqlite:STATE/dead-letters.sqlite3`;
    /// `redis://…#NAME` with the `redis` feature).
    #[arg(long, value_name = "STORE")]
    dlq: Option<String>,
    /// Trust this PEM certificate too (a test server's).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
}

/// `Authorization: Bearer TOKEN` from the environment variable `var`.
pub fn auth_header(var: &str) -> Result<HeaderValue, CliError> {
    let token = std::env::var(var).unwrap_or_default();
    if token.trim().is_empty() {
        return Err(CliError::usage(format!(
            "set {var} to the API token (or name another variable with --token-env)"
        )));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| CliError::usage(format!("{var} holds characters a header cannot carry")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// What the run did, for the report.
#[derive(Debug, Default)]
struct Counters {
    acked: AtomicU64,
    dead: AtomicU64,
    batches: AtomicU64,
}

/// Runs `pacer sync`.
pub async fn run(args: SyncArgs) -> Result<Done, CliError> {
    if !(1..=MAX_BATCH).contains(&args.batch) {
        return Err(CliError::usage(format!("--batch must be 1..={MAX_BATCH}")));
    }
    if args.in_flight == 0 {
        return Err(CliError::usage("--in-flight must be at least 1"));
    }
    let uri: Uri = args
        .url
        .parse()
        .map_err(|e| CliError::usage(format!("--url {}: {e}", args.url)))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(CliError::usage(format!(
            "--url {}: expected http(s)://HOST/PATH",
            args.url
        )));
    }
    // Cheap checks first: a wrong flag is reported before a large file is read.
    let policy = args.policy.policy()?;
    let auth = auth_header(&args.token_env)?;
    let format = args.format.unwrap_or_else(|| Format::of(&args.input));
    let input = input::read(&args.input, format)?;
    let key = RunKey {
        fingerprint: input.fingerprint.clone(),
        url: args.url.clone(),
        batch: args.batch,
        records: input.records.len(),
    };
    let (checkpoint, done, before) = Checkpoint::open(&args.state, &key)?;
    let dlq_spec = args.dlq.clone().unwrap_or_else(|| {
        format!(
            "sqlite:{}",
            args.state.join("dead-letters.sqlite3").display()
        )
    });
    let store = open_store(&dlq_spec)?;
    let destination = policy.name.clone();
    let pacer = Pacer::new(policy).map_err(|e| CliError::usage(format!("policy: {e}")))?;
    let client = http_client(args.ca_cert.as_deref())?;
    let paced = ServiceBuilder::new().layer(pacer.layer()).service(client);

    let total = input.records.len() as u64;
    let batch = args.batch as u64;
    let batches = total.div_ceil(batch);
    let todo: Vec<u64> = (0..batches).filter(|k| !done.contains(k)).collect();
    let todo_records: u64 = todo.iter().map(|&k| (total - k * batch).min(batch)).sum();
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    if before.acked + before.dead > 0 {
        say(format!(
            "resuming: {} records finished earlier ({} acknowledged, {} dead letters); {} to send",
            before.acked + before.dead,
            before.acked,
            before.dead,
            todo_records
        ));
    } else {
        say(format!(
            "{total} records from {} to {} in batches of {batch}, policy {destination}",
            args.input.display(),
            Redaction::default().uri(&uri)
        ));
    }

    let records = Arc::new(input.records);
    let counters = Arc::new(Counters::default());
    let refused_auth: Arc<Mutex<Option<String>>> = Arc::default();
    // Set once the run exists: a refused token stops it from inside a call.
    let stopper: Arc<OnceLock<StopHandle>> = Arc::default();
    let progress = progress_bar(todo_records, args.json);
    let url = args.url.clone();
    let stored_uri = Redaction::default().uri(&uri);
    let idempotency_prefix = format!("pacer-{}-{}", input.fingerprint, batch);

    let (bulk, submitter) = {
        let (records, counters, refused_auth, progress) = (
            records.clone(),
            counters.clone(),
            refused_auth.clone(),
            progress.clone(),
        );
        let (store, checkpoint, stopper) = (store.clone(), checkpoint.clone(), stopper.clone());
        let send_one = service_fn(move |k: u64| {
            let letters_key = format!("sync {stored_uri} {idempotency_prefix}-{k}");
            let call = BatchCall {
                k,
                records: records.clone(),
                batch,
                url: url.clone(),
                stored_uri: stored_uri.clone(),
                destination: destination.clone(),
                auth: auth.clone(),
                idempotency_key: format!("{idempotency_prefix}-{k}"),
            };
            let (paced, store, checkpoint) = (paced.clone(), store.clone(), checkpoint.clone());
            let (counters, refused_auth, progress, stopper) = (
                counters.clone(),
                refused_auth.clone(),
                progress.clone(),
                stopper.clone(),
            );
            async move {
                if stopper.get().is_some_and(StopHandle::is_stopped) {
                    // Stopped (Ctrl-C, refused token) while this batch was
                    // queued: not sent, left for the next run.
                    return Err::<(), BoxError>("stopped".into());
                }
                let outcome = call.send(paced).await;
                let (tally, letters) = match outcome {
                    Outcome::Refused(message) => {
                        refused_auth
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(message);
                        if let Some(stop) = stopper.get() {
                            stop.stop();
                        }
                        return Err::<(), BoxError>("credentials refused".into());
                    }
                    Outcome::Answered { tally, letters } => (tally, letters),
                };
                // One write for the batch's letters, kept under the batch's
                // key: after a kill between this and the mark below, the
                // resumed run sends the batch again (same idempotency key,
                // same answer) and the store keeps nothing twice.
                if !letters.is_empty() {
                    store.put_many_once(&letters_key, letters).await?;
                }
                checkpoint.mark(k, tally).await?;
                counters.acked.fetch_add(tally.acked, Ordering::Relaxed);
                counters.dead.fetch_add(tally.dead, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                progress.inc(tally.acked + tally.dead);
                Ok(())
            }
        });
        Bulk::new(send_one, 64, args.in_flight)
            .map_err(|e| CliError::usage(format!("--in-flight: {e}")))?
    };
    let bulk = bulk.observe(pacer.clone());
    let stop = bulk.stop_handle();
    let _ = stopper.set(stop.clone());
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::Relaxed);
                stop.stop();
            }
        });
    }
    tokio::spawn(async move {
        for k in todo {
            if submitter.submit(k).await.is_err() {
                break;
            }
        }
    });
    let sampler = {
        let pacer = pacer.clone();
        Sampler::start(move || {
            let s = pacer.stats();
            (s.attempts, s.rate_limited)
        })
    };
    let started = Instant::now();
    let finished = bulk.run().await;
    progress.finish_and_clear();
    let timeline = sampler.finish().await;
    let wall = started.elapsed();
    let stats = pacer.stats();

    let acked = counters.acked.load(Ordering::Relaxed);
    let dead = counters.dead.load(Ordering::Relaxed);
    let finished_all = before.acked + before.dead + acked + dead;
    let left = total - finished_all.min(total);
    let chart_path = args.state.join("sync.svg");
    chart(&chart_path, &[("pacer", timeline.as_slice())])?;
    let report = json!({
        "records": total, "acknowledged": acked, "dead_lettered": dead,
        "finished_earlier": before.acked + before.dead, "left": left,
        "calls": stats.attempts, "rate_limited": stats.rate_limited, "retries": stats.retries(),
        "limit_mismatch": stats.limit_mismatch, "wall_s": wall.as_secs_f64(),
        "records_per_s": (acked + dead) as f64 / wall.as_secs_f64().max(1e-9),
        "state": args.state.display().to_string(), "dead_letters": Redaction::default().url(&dlq_spec),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "\n{:>8} {:>12} {:>6} {:>7} {:>6} {:>8} {:>8} {:>10}",
            "records", "acknowledged", "dead", "calls", "429s", "retries", "wall", "records/s"
        );
        println!(
            "{:>8} {:>12} {:>6} {:>7} {:>6} {:>8} {:>7.1}s {:>10.0}",
            acked + dead,
            acked,
            dead,
            stats.attempts,
            stats.rate_limited,
            stats.retries(),
            wall.as_secs_f64(),
            (acked + dead) as f64 / wall.as_secs_f64().max(1e-9)
        );
        println!(
            "chart: {}; dead letters: {} ({} stored)",
            chart_path.display(),
            Redaction::default().url(&dlq_spec),
            store.len().await?
        );
    }
    if let Some(message) = refused_auth.lock().ok().and_then(|s| s.clone()) {
        return Err(CliError::auth(format!(
            "{message}: stopped; check ${} and run the same command again ({left} records left, nothing dead-lettered for it)",
            args.token_env
        )));
    }
    if let Some(error) = finished.service_error {
        return Err(CliError::failed(format!(
            "stopped: {error}; {left} records left — run the same command to resume"
        )));
    }
    if left > 0 {
        eprintln!(
            "{} stopped: {left} of {total} records not sent yet ({} batches queued). \
             Run the same command to resume.",
            if interrupted.load(Ordering::Relaxed) {
                "interrupted,"
            } else {
                ""
            },
            finished.unsent.len()
        );
        return Ok(Done::Interrupted);
    }
    Ok(Done::Finished)
}

/// One batch's call.
struct BatchCall {
    k: u64,
    records: Arc<Vec<Value>>,
    batch: u64,
    url: String,
    stored_uri: String,
    destination: String,
    auth: HeaderValue,
    idempotency_key: String,
}

/// How a batch ended.
enum Outcome {
    /// The API refused the credentials (401/403): the run must stop.
    Refused(String),
    /// The API answered (or the attempts ran out): acknowledged records,
    /// and dead letters for the others.
    Answered {
        tally: Tally,
        letters: Vec<DeadLetter>,
    },
}

impl BatchCall {
    fn slice(&self) -> &[Value] {
        let start = usize::try_from(self.k * self.batch).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(self.batch).unwrap_or(usize::MAX));
        &self.records[start.min(self.records.len())..end.min(self.records.len())]
    }

    async fn send<S>(&self, paced: S) -> Outcome
    where
        S: tower::Service<
                http::Request<Full<Bytes>>,
                Response = http::Response<hyper::body::Incoming>,
            >,
        S::Error: Into<BoxError>,
    {
        let items = self.slice();
        let body = json!({ "inputs": items }).to_string();
        let request = http::Request::post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, self.auth.clone())
            .header("idempotency-key", &self.idempotency_key)
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(e) => return self.all_dead(FailureKind::Other, &e.to_string(), 0),
        };
        let response = match paced.oneshot(request).await {
            Ok(response) => response,
            Err(e) => {
                let e: BoxError = e.into();
                return self.all_dead(FailureKind::RetriesExhausted, &e.to_string(), 0);
            }
        };
        let attempts = response.extensions().get::<Attempts>().map_or(1, |a| a.0);
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                return self.all_dead(
                    FailureKind::Transport,
                    &format!("reading the answer: {e}"),
                    attempts,
                );
            }
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Outcome::Refused(format!("the API refused the credentials (HTTP {status})"));
        }
        if !status.is_success() {
            let kind = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                FailureKind::RetriesExhausted
            } else {
                FailureKind::Permanent
            };
            let message = format!("HTTP {status}: {}", excerpt(&body));
            return self.all_dead(kind, &message, attempts);
        }
        // Per-item failures: `"errors": [{"index": i, "message": …}]`.
        let failed: Vec<(usize, String)> = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("errors").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| {
                let index = usize::try_from(e.get("index")?.as_u64()?).ok()?;
                let message = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("refused by the API")
                    .to_owned();
                (index < items.len()).then_some((index, message))
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let letters: Vec<DeadLetter> = failed
            .into_iter()
            .filter(|(i, _)| seen.insert(*i))
            .map(|(i, message)| {
                self.letter(
                    &items[i],
                    FailureKind::Permanent,
                    &format!("HTTP {status}: {message}"),
                    attempts,
                )
            })
            .collect();
        Outcome::Answered {
            tally: Tally {
                acked: (items.len() - letters.len()) as u64,
                dead: letters.len() as u64,
            },
            letters,
        }
    }

    fn all_dead(&self, kind: FailureKind, message: &str, attempts: u32) -> Outcome {
        let letters: Vec<DeadLetter> = self
            .slice()
            .iter()
            .map(|item| self.letter(item, kind, message, attempts))
            .collect();
        Outcome::Answered {
            tally: Tally {
                acked: 0,
                dead: letters.len() as u64,
            },
            letters,
        }
    }

    /// A dead letter for one record: a batch of one, ready to replay.
    fn letter(&self, item: &Value, kind: FailureKind, message: &str, attempts: u32) -> DeadLetter {
        let mut letter = DeadLetter::new(self.destination.clone(), "POST", self.stored_uri.clone());
        letter.headers = vec![(
            "content-type".into(),
            Bytes::from_static(b"application/json"),
        )];
        letter.body = Bytes::from(json!({ "inputs": [item] }).to_string());
        letter.kind = kind;
        letter.message = Redaction::default().text(message);
        letter.attempts = attempts.max(1);
        letter
    }
}

/// The first 200 characters of a body, on one line, credentials hidden
/// (an API's error may repeat the request).
fn excerpt(body: &[u8]) -> String {
    let line: String = String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Redaction::default().text(&line)
}

fn progress_bar(records: u64, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(records);
    let style = ProgressStyle::with_template("[{bar:40}] {pos}/{len} records {per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
