//! `pacer demo`: sync 100 000 made-up contacts to a HubSpot-like API, twice.
//!
//! Zero setup: starts `pacer-mock` in-process with the HubSpot preset (100
//! calls in any 10 s per key, batch endpoint of 100), time-scaled so the
//! demo takes about half a minute. Then:
//!
//! 1. **naive** — the article's anti-pattern: 16 workers, one call per
//!    record, on a 429 sleep for `Retry-After` and send again (3 tries,
//!    then an in-memory dead letter); no pacing, no batching. It runs for
//!    as long as the paced run's best time, and stops.
//! 2. **pacer** — tower-pacer: a `Bulk` run through the batch layer (100
//!    records per call) over the HubSpot preset's `Pacer`; records the API
//!    refuses go to `dead-letters.sqlite3`.
//!
//! It prints a table (or `--json`), and writes `bulk-sync.svg`, calls/s and
//! 429s over time for both runs, under `--out` (default `target/pacer-demo`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use indicatif::{ProgressBar, ProgressStyle};
use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::batch::{BatchConfig, BatchError, BatchLayer, BatchStatusError, JsonBatch};
use tower_pacer::bulk::Bulk;
use tower_pacer::dlq::{DeadLetter, DeadLetterStore, FailureKind, SqliteStore};

use crate::chart::{Sampler, Timeline, chart};
use crate::client::{HttpClient, http_client};
use crate::error::{CliError, Done};
use tower_pacer::presets::{self, HubSpotTier};
use tower_pacer::{BoxError, Pacer};

/// HubSpot's window, and how much faster the demo runs than real time.
const WINDOW: Duration = Duration::from_secs(10);
const PER_WINDOW: u64 = 100;
const BATCH: u64 = 100;

/// `pacer demo`: the naive client against a paced one, on the built-in mock.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Records to sync.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Skip the naive run.
    #[arg(long = "no-naive")]
    no_naive: bool,
    /// Pretend the limit is unknown: let the adaptive rate find it.
    #[arg(long)]
    adaptive: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit non-zero unless the run meets its acceptance criteria.
    #[arg(long)]
    check: bool,
    /// Run against this batch endpoint instead of the built-in mock (a
    /// separately started, time-scaled `pacer mock`; the naive run is off).
    #[arg(long)]
    url: Option<String>,
    /// The API key sent as `Authorization: Bearer`.
    #[arg(long, default_value = "demo-portal")]
    token: String,
    /// Multiply every window and delay (0.2: a 10 s window lasts 2 s).
    /// Default 0.2 on the built-in mock, 1 with --url.
    #[arg(long)]
    time_scale: Option<f64>,
    /// The server's calls per window, if it is not the preset's (100): a
    /// server stricter than the policy, to measure against its best.
    #[arg(long, default_value_t = PER_WINDOW)]
    server_limit: u64,
    /// Where the chart and the dead letters go.
    #[arg(long, default_value = "target/pacer-demo")]
    out: PathBuf,
}

/// The arguments once checked.
struct Args {
    records: u64,
    naive: bool,
    adaptive: bool,
    json: bool,
    check: bool,
    url: Option<String>,
    token: String,
    time_scale: f64,
    server_limit: u64,
    out: PathBuf,
}

fn args(given: DemoArgs) -> Result<Args, CliError> {
    let scaled = given.time_scale.is_some();
    let mut args = Args {
        records: given.records,
        naive: !given.no_naive,
        adaptive: given.adaptive,
        json: given.json,
        check: given.check,
        url: given.url,
        token: given.token,
        time_scale: given.time_scale.unwrap_or(0.2),
        server_limit: given.server_limit,
        out: given.out,
    };
    if !(args.time_scale > 0.0 && args.time_scale <= 1.0) {
        return Err(CliError::usage("--time-scale must be in (0, 1]"));
    }
    if args.records == 0 {
        return Err(CliError::usage("--records must be at least 1"));
    }
    if args.server_limit == 0 {
        return Err(CliError::usage("--server-limit must be at least 1"));
    }
    if args.url.is_some() {
        // Never aim the anti-pattern at a real API; a real API runs in
        // real time, unless told otherwise (a time-scaled `pacer mock`).
        args.naive = false;
        if !scaled {
            args.time_scale = 1.0;
        }
    }
    Ok(args)
}

/// One client per worker, as independent clients would be.
fn client() -> Result<HttpClient, BoxError> {
    Ok(http_client(None)?)
}

fn contact(n: u64) -> Value {
    json!({"properties": {"email": format!("contact-{n}@example.com"), "firstname": format!("Contact {n}")}})
}

/// One run's row of the report, and its timeline.
#[derive(Debug, Default)]
struct Run {
    name: &'static str,
    records: u64,
    succeeded: u64,
    dead_lettered: u64,
    calls: u64,
    rate_limited: u64,
    retries: u64,
    /// Records dead-lettered because their batch call was refused (429).
    dead_refused: u64,
    /// Refusals the pacer's books did not expect, and the share of the
    /// binding band it grants after learning from them.
    limit_mismatch: u64,
    learned_factor: Option<f64>,
    wall: Duration,
    /// `None` when the run fits in the quota's first burst: the quota
    /// then sets no pace to compare with.
    best_records_per_s: Option<f64>,
    /// (seconds since start, calls/s, 429s/s)
    timeline: Vec<(f64, f64, f64)>,
}

impl Run {
    fn records_per_s(&self) -> f64 {
        self.succeeded as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name, "records": self.records, "succeeded": self.succeeded,
            "dead_lettered": self.dead_lettered, "calls": self.calls, "rate_limited": self.rate_limited,
            "retries": self.retries, "wall_s": self.wall.as_secs_f64(),
            "dead_refused": self.dead_refused, "limit_mismatch": self.limit_mismatch,
            "learned_factor": self.learned_factor,
            "records_per_s": self.records_per_s(), "best_records_per_s": self.best_records_per_s,
        })
    }
}

/// Samples the server's counters for `key` (none without a server).
fn sample(server: Option<&Arc<MockServer>>, key: String) -> Option<Sampler> {
    let server = Arc::clone(server?);
    Some(Sampler::start(move || {
        server
            .stats()
            .keys
            .get(&pacer_mock::key_fingerprint(&key))
            .map_or((0, 0), |k| (k.accepted + k.rejected, k.rejected))
    }))
}

/// Stops a sampler and takes its timeline (empty without one).
async fn timeline_of(sampler: Option<Sampler>) -> Timeline {
    match sampler {
        Some(sampler) => sampler.finish().await,
        None => Vec::new(),
    }
}

fn bar(records: u64, name: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(records);
    let style =
        ProgressStyle::with_template("{prefix:>6} [{bar:40}] {pos}/{len} records {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(name.to_owned());
    bar
}

/// The naive run: one call per record, retry on 429 after Retry-After.
async fn naive(
    url: &str,
    token: &str,
    records: u64,
    budget: Duration,
    server: Option<&Arc<MockServer>>,
    quiet: bool,
) -> Result<Run, BoxError> {
    let sampler = sample(server, token.to_owned());
    let next = Arc::new(AtomicU64::new(0));
    let [ok, dead, calls, limited, retries] = std::array::from_fn(|_| Arc::new(AtomicU64::new(0)));
    let progress = bar(records, "naive", quiet);
    let deadline = tokio::time::Instant::now() + budget;
    let start = Instant::now();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (next, ok, dead, calls, limited, retries) = (
                next.clone(),
                ok.clone(),
                dead.clone(),
                calls.clone(),
                limited.clone(),
                retries.clone(),
            );
            let (url, token, progress, client) =
                (url.to_owned(), token.to_owned(), progress.clone(), client());
            tokio::spawn(async move {
                let client = client?;
                while tokio::time::Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= records {
                        break;
                    }
                    let body = Bytes::from(contact(n).to_string());
                    let mut done = false;
                    for attempt in 0..3 {
                        if attempt > 0 {
                            retries.fetch_add(1, Ordering::Relaxed);
                        }
                        let request = http::Request::post(&url)
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/json")
                            .body(Full::new(body.clone()))?;
                        calls.fetch_add(1, Ordering::Relaxed);
                        let response = client.request(request).await?;
                        let status = response.status();
                        let wait = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<f64>().ok());
                        response.into_body().collect().await?;
                        if status.is_success() {
                            done = true;
                            break;
                        }
                        if status == 429 {
                            limited.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::time::sleep(Duration::from_secs_f64(
                            wait.unwrap_or(1.0).clamp(0.0, 60.0),
                        ))
                        .await;
                    }
                    if done { &ok } else { &dead }.fetch_add(1, Ordering::Relaxed);
                    progress.inc(1);
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    progress.finish_with_message("(stopped at the time budget)");
    let timeline = timeline_of(sampler).await;
    Ok(Run {
        name: "naive",
        records,
        succeeded: ok.load(Ordering::Relaxed),
        dead_lettered: dead.load(Ordering::Relaxed),
        calls: calls.load(Ordering::Relaxed),
        rate_limited: limited.load(Ordering::Relaxed),
        retries: retries.load(Ordering::Relaxed),
        wall: start.elapsed(),
        timeline,
        ..Run::default()
    })
}

/// The paced run: records → batches of 100 → the HubSpot pacer → the API;
/// records the API refuses become dead letters.
async fn paced(
    args: &Args,
    url: &str,
    store: Arc<SqliteStore>,
    server: Option<&Arc<MockServer>>,
) -> Result<Run, BoxError> {
    let sampler = sample(server, args.token.clone());
    let mut policy = presets::hubspot(HubSpotTier::Starter).time_scaled(args.time_scale);
    if args.adaptive {
        // Pretend the limit is unknown: let the adaptive rate find it.
        policy.quotas.clear();
        policy.adaptive_rate = Some(Default::default());
    }
    let pacer = Pacer::new(policy)?;
    let codec = JsonBatch::new(url.parse()?).header(
        http::header::AUTHORIZATION,
        format!("Bearer {}", args.token).parse()?,
    );
    let config = BatchConfig::new(BATCH as usize, Duration::from_millis(50))?
        .queue(4_000)?
        .max_in_flight(8)?;
    let batches = ServiceBuilder::new()
        .layer(BatchLayer::new(codec, config))
        .layer(pacer.layer())
        .service(client()?);
    // Per record: a refused record (or a failed batch) becomes a dead letter.
    let destination = url.to_owned();
    let dead_refused = Arc::new(AtomicU64::new(0));
    let refused_count = dead_refused.clone();
    let records = service_fn(move |(n, record): (u64, Value)| {
        let (batches, store, destination) = (batches.clone(), store.clone(), destination.clone());
        let refused_count = refused_count.clone();
        async move {
            let body = Bytes::from(record.to_string());
            match batches.oneshot(record).await {
                Ok(result) => Ok(result),
                Err(error) => {
                    let mut letter = DeadLetter::new(destination, "POST", format!("record:{n}"));
                    letter.body = body;
                    letter.kind = match error {
                        BatchError::Item(_) => FailureKind::Permanent,
                        _ => FailureKind::RetriesExhausted,
                    };
                    // The batch call's attempts, not 1: the record was
                    // tried as often as its batch was.
                    letter.attempts = error.attempts().unwrap_or(1);
                    if let BatchError::Batch(cause) = &error
                        && cause
                            .downcast_ref::<BatchStatusError>()
                            .is_some_and(|e| e.status == http::StatusCode::TOO_MANY_REQUESTS)
                    {
                        refused_count.fetch_add(1, Ordering::Relaxed);
                    }
                    letter.message = error.to_string();
                    store.put(letter).await?;
                    Err::<Value, BoxError>(error.into())
                }
            }
        }
    });
    let (bulk, submitter) = Bulk::new(records, 4_000, 2_000)?;
    let bulk = bulk.observe(pacer.clone());
    let mut progress_rx = bulk.progress();
    let stop = bulk.stop_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.stop();
        }
    });
    let total = args.records;
    tokio::spawn(async move {
        for n in 0..total {
            if submitter.submit((n, contact(n))).await.is_err() {
                break;
            }
        }
    });
    let progress = bar(total, "pacer", args.json);
    let shown = progress.clone();
    tokio::spawn(async move {
        while progress_rx.changed().await.is_ok() {
            let p = *progress_rx.borrow();
            shown.set_position(p.done());
        }
    });
    let finished = bulk.run().await;
    progress.finish();
    let report = finished.report;
    let stats = report.stats.unwrap_or_default();
    let timeline = timeline_of(sampler).await;
    Ok(Run {
        name: "pacer",
        records: total,
        succeeded: report.succeeded,
        dead_lettered: report.failed,
        calls: stats.attempts,
        rate_limited: stats.rate_limited,
        retries: stats.retries(),
        dead_refused: dead_refused.load(Ordering::Relaxed),
        limit_mismatch: stats.limit_mismatch,
        learned_factor: stats.learned_factor,
        wall: report.wall,
        timeline,
        ..Run::default()
    })
}

/// The best any client may do: 100 records a call, the first 100 calls at
/// once, then 100 calls per window. `None` if every call fits in the first
/// burst (only latency limits such a run).
fn best_records_per_s(records: u64, window: Duration, per_window: u64) -> Option<f64> {
    let calls = records.div_ceil(BATCH);
    let windows = calls.div_ceil(per_window).saturating_sub(1);
    if windows == 0 {
        return None;
    }
    Some(records as f64 / (window.as_secs_f64() * windows as f64))
}

/// `run`'s records/s as a percentage of `best`, for the table.
fn of_best(run: &Run) -> String {
    match run.best_records_per_s {
        Some(best) => format!("{:.1}%", 100.0 * run.records_per_s() / best),
        None => String::from("n/a"),
    }
}

/// Runs the demo.
pub async fn run(given: DemoArgs) -> Result<Done, CliError> {
    let args = args(given)?;
    let window = WINDOW.mul_f64(args.time_scale);
    let server = match &args.url {
        Some(_) => None,
        None => {
            let config = MockConfig::preset(Preset::Hubspot)
                .with_time_scale(args.time_scale)
                // Scaled windows are shorter than a second: say so exactly.
                .with_retry_after(RetryAfterForm::Decimal)
                .with_port(0);
            let mut config = config;
            config.batch_item_failure = 0.001;
            Some(Arc::new(MockServer::start(config).await?))
        }
    };
    let (batch_url, single_url) = match (&args.url, &server) {
        (Some(url), _) => (url.clone(), url.clone()),
        (None, Some(server)) => (
            format!("{}/batch", server.url()),
            format!("{}/crm/v3/objects/contacts", server.url()),
        ),
        (None, None) => return Err(CliError::failed("no server")),
    };
    let best = best_records_per_s(args.records, window, args.server_limit);
    std::fs::create_dir_all(&args.out)?;
    let dlq_path = args.out.join("dead-letters.sqlite3");
    let store = Arc::new(SqliteStore::open(&dlq_path)?);
    if !args.json {
        match &server {
            Some(server) => println!(
                "pacer-mock (HubSpot preset) on {}: 100 calls per {window:?} per key, batches of 100; {} records",
                server.url(),
                args.records
            ),
            None => println!("{batch_url}: {} records", args.records),
        }
    }

    let mut runs = Vec::new();
    if args.naive {
        // As long as the paced run needs at best, then stop.
        let budget = best
            .map_or(window, |best| {
                Duration::from_secs_f64(args.records as f64 / best)
            })
            .max(window);
        let mut run = naive(
            &single_url,
            "naive",
            args.records,
            budget,
            server.as_ref(),
            args.json,
        )
        .await?;
        run.best_records_per_s = best;
        runs.push(run);
    }
    let mut run = paced(&args, &batch_url, store.clone(), server.as_ref()).await?;
    run.best_records_per_s = best;
    runs.push(run);

    let chart_path = args.out.join("bulk-sync.svg");
    let series: Vec<_> = runs
        .iter()
        .map(|r| (r.name, r.timeline.as_slice()))
        .collect();
    chart(&chart_path, &series)?;
    if args.json {
        println!(
            "{}",
            json!({ "runs": runs.iter().map(Run::json).collect::<Vec<_>>() })
        );
    } else {
        println!();
        println!(
            "{:<6} {:>8} {:>9} {:>6} {:>7} {:>6} {:>7} {:>8} {:>8} {:>10} {:>9}",
            "run",
            "records",
            "succeeded",
            "dead",
            "calls",
            "429s",
            "429 %",
            "retries",
            "wall",
            "records/s",
            "of best"
        );
        for run in &runs {
            println!(
                "{:<6} {:>8} {:>9} {:>6} {:>7} {:>6} {:>6.1}% {:>8} {:>7.1}s {:>10.0} {:>9}",
                run.name,
                run.records,
                run.succeeded,
                run.dead_lettered,
                run.calls,
                run.rate_limited,
                100.0 * run.rate_limited as f64 / run.calls.max(1) as f64,
                run.retries,
                run.wall.as_secs_f64(),
                run.records_per_s(),
                of_best(run),
            );
        }
        match best {
            Some(best) => println!(
                "\nbest possible for the server's quota: {best:.0} records/s (100 per call, {} calls per {window:?})",
                args.server_limit
            ),
            None => println!(
                "\nevery call fits in the quota's first burst (100 calls): the quota sets no pace to compare with"
            ),
        }
        if let Some(pacer) = runs.iter().find(|r| r.name == "pacer") {
            println!(
                "refusals the pacer's books did not expect: {} (learned band now {}); records dead-lettered for 429s: {}",
                pacer.limit_mismatch,
                pacer.learned_factor.map_or_else(
                    || "as configured".to_owned(),
                    |f| format!("{:.0} % of the policy's", f * 100.0)
                ),
                pacer.dead_refused
            );
        }
        println!("chart: {}", chart_path.display());
        println!(
            "dead letters: {} ({} in the file)",
            dlq_path.display(),
            store.len().await?
        );
    }
    if let Some(server) = server.and_then(|server| Arc::try_unwrap(server).ok()) {
        server.shutdown().await;
    }
    if args.check {
        check(&runs, args.server_limit < PER_WINDOW)
            .map_err(|e| CliError::failed(format!("check failed: {e}")))?;
    }
    Ok(Done::Finished)
}

/// `--check`: the demo's acceptance criteria, as an exit status. Against a
/// server stricter than the policy (`stricter`), 429s are expected (they
/// teach the pacer the real limit): no record may be lost to them, and the
/// run must reach 85 % of the *server's* best.
fn check(runs: &[Run], stricter: bool) -> Result<(), BoxError> {
    let mut failures = Vec::new();
    let pacer = runs
        .iter()
        .find(|r| r.name == "pacer")
        .ok_or("no pacer run")?;
    if pacer.succeeded + pacer.dead_lettered != pacer.records {
        failures.push(format!(
            "pacer lost records: {} + {} != {}",
            pacer.succeeded, pacer.dead_lettered, pacer.records
        ));
    }
    if pacer.dead_refused != 0 {
        failures.push(format!(
            "{} records were dead-lettered for 429s",
            pacer.dead_refused
        ));
    }
    if pacer.rate_limited != 0 && !stricter {
        failures.push(format!("pacer saw {} 429s", pacer.rate_limited));
    }
    let floor = if stricter { 0.85 } else { 0.95 };
    if let Some(best) = pacer.best_records_per_s
        && pacer.records_per_s() < floor * best
    {
        failures.push(format!(
            "pacer reached {:.1} % of the best records/s",
            100.0 * pacer.records_per_s() / best
        ));
    }
    if let Some(naive) = runs.iter().find(|r| r.name == "naive") {
        if naive.rate_limited as f64 / naive.calls.max(1) as f64 <= 0.05 {
            failures.push("the naive run stayed under the 5 % 429 line".into());
        }
        if naive.records_per_s() >= pacer.records_per_s() {
            failures.push("the naive run was not slower".into());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}
