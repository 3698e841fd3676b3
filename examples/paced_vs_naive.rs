//! The same job, two clients, one rate-limited server.
//!
//! Starts `pacer-mock` in-process (preset `strict`: at most 50 calls in any
//! second, scaled by `--time-scale`), then sends the same number of calls
//! twice: once the naive way (16 workers, retry on 429 after Retry-After),
//! once through tower-pacer's `RateLimit` + `ConcurrencyLimit` layers. It
//! prints what the server saw.
//!
//! ```text
//! cargo run --release --example paced_vs_naive -- --calls 300
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer, Preset};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_pacer::BoxError;
use tower_pacer::concurrency::ConcurrencyLimitLayer;
use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};

const WORKERS: u64 = 16;

#[derive(Debug, Clone, Copy)]
struct Args {
    calls: u64,
    time_scale: f64,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        calls: 300,
        time_scale: 0.5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--calls" => args.calls = value.parse().map_err(|e| format!("--calls: {e}"))?,
            "--time-scale" => {
                args.time_scale = value.parse().map_err(|e| format!("--time-scale: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown flag {other} (use --calls N, --time-scale F)"
                ));
            }
        }
    }
    Ok(args)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

fn request(url: &str, key: &str) -> Request<Full<Bytes>> {
    Request::get(url)
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

/// A row of the report.
struct Run {
    name: &'static str,
    calls: u64,
    sent: u64,
    rejected: u64,
    wall: Duration,
}

/// What the workers of one run share: the next call to make, and counts.
#[derive(Default)]
struct Tally {
    next: AtomicU64,
    sent: AtomicU64,
    rejected: AtomicU64,
}

impl Tally {
    /// True while calls remain; takes one.
    fn take(&self, calls: u64) -> bool {
        self.next.fetch_add(1, Ordering::Relaxed) < calls
    }

    fn sent(&self, status: StatusCode) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `WORKERS` copies of `worker` until `calls` calls are done.
async fn run<F, Fut>(name: &'static str, calls: u64, worker: F) -> Result<Run, BoxError>
where
    F: Fn(Arc<Tally>) -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(worker(tally.clone())))
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(Run {
        name,
        calls,
        sent: tally.sent.load(Ordering::Relaxed),
        rejected: tally.rejected.load(Ordering::Relaxed),
        wall: start.elapsed(),
    })
}

/// The article's anti-pattern, without the recursion: on 429, sleep for
/// Retry-After and send again. Every worker that was refused wakes up at the
/// same moment as the others.
async fn naive(url: &str, calls: u64) -> Result<Run, BoxError> {
    run("naive (retry on 429)", calls, |tally| {
        let (client, url) = (client(), url.to_owned());
        async move {
            while tally.take(calls) {
                loop {
                    let response = client.request(request(&url, "naive")).await?;
                    tally.sent(response.status());
                    if response.status() != StatusCode::TOO_MANY_REQUESTS {
                        response.into_body().collect().await?;
                        break;
                    }
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .unwrap_or(1.0);
                    tokio::time::sleep(Duration::from_secs_f64(wait.clamp(0.0, 60.0))).await;
                }
            }
            Ok(())
        }
    })
    .await
}

/// The same work through tower-pacer: every call waits for its slot on one
/// shared limiter configured with the server's quota, so none is refused.
async fn paced(url: &str, calls: u64, window: Duration) -> Result<Run, BoxError> {
    let limiter = Limiter::builder()
        .quota(Quota::window(50, window)?)
        // The server counts arrivals, not sends: a few ms of margin.
        .margin(Duration::from_millis(5))
        .build()?;
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::with_limit(WORKERS as usize)?)
        .layer(RateLimitLayer::new(limiter))
        .service(client());
    run("tower-pacer (paced)", calls, |tally| {
        let (mut service, url) = (service.clone(), url.to_owned());
        async move {
            while tally.take(calls) {
                let response = service.ready().await?.call(request(&url, "paced")).await?;
                tally.sent(response.status());
                response.into_body().collect().await?;
            }
            Ok(())
        }
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let config = MockConfig::preset(Preset::Strict)
        .with_time_scale(args.time_scale)
        .with_port(0);
    config.validate()?;
    let server = MockServer::start(config).await?;
    let window = Duration::from_secs_f64(args.time_scale);
    let limit_per_s = 50.0 / args.time_scale;
    println!(
        "pacer-mock on {}: at most 50 calls in any {window:?} ({limit_per_s:.0}/s)",
        server.url()
    );
    println!("{} calls each, {WORKERS} workers\n", args.calls);

    let url = format!("{}/contacts", server.url());
    let runs = [
        naive(&url, args.calls).await?,
        paced(&url, args.calls, window).await?,
    ];
    let stats = server.stats();

    // The fastest any client may finish: the first 50 calls at once, then
    // 50 more each window.
    let ideal = window.mul_f64((args.calls.div_ceil(50).saturating_sub(1)) as f64);
    println!(
        "{:<24} {:>6} {:>6} {:>6} {:>7} {:>8} {:>9}",
        "client", "calls", "sent", "429s", "429 %", "wall", "vs ideal"
    );
    for run in &runs {
        println!(
            "{:<24} {:>6} {:>6} {:>6} {:>6.1}% {:>7.2}s {:>8.1}%",
            run.name,
            run.calls,
            run.sent,
            run.rejected,
            100.0 * run.rejected as f64 / run.sent.max(1) as f64,
            run.wall.as_secs_f64(),
            100.0 * ideal.as_secs_f64() / run.wall.as_secs_f64(),
        );
    }
    println!(
        "(ideal: {:.2}s, the first 50 calls at once, then 50 per window)",
        ideal.as_secs_f64()
    );
    println!(
        "\nserver: {} accepted, {} rejected; most calls seen in one window: {} (limit 50)",
        stats.accepted,
        stats.rejected,
        stats.windows.first().map_or(0, |w| w.max_seen)
    );
    server.shutdown().await;
    Ok(())
}
