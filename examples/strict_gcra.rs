//! Pacing against a strict server: a GCRA without burst.
//!
//! A server that counts "rate R, burst 1" (a leaky bucket without burst, or
//! `pacer-mock --rate R/1s --burst 1`) refuses every call that arrives less
//! than 1/R after the one before it. tokio's timer wakes sleepers on whole
//! milliseconds, later on a busy machine; calls sent at their exact slots
//! would still arrive too close whenever one before them left late. This
//! sends from 32 callers through a `Pacer` whose policy says the server's
//! own figures, and prints the share of R achieved and the 429s.
//!
//! ```text
//! cargo run --release --example strict_gcra -- --rate 100 --seconds 10
//! pacer-mock --rate 200/1s --burst 1 --port 18081 &
//! cargo run --release --example strict_gcra -- --url http://127.0.0.1:18081 --rate 200
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

struct Args {
    rate: u64,
    burst: u64,
    callers: usize,
    seconds: f64,
    fraction: f64,
    url: Option<String>,
    json: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        rate: 100,
        burst: 1,
        callers: 32,
        seconds: 10.0,
        fraction: 1.0,
        url: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            args.json = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |name: &str| format!("{name}: not a number");
        match flag.as_str() {
            "--rate" => args.rate = value.parse().map_err(|_| number("--rate"))?,
            "--burst" => args.burst = value.parse().map_err(|_| number("--burst"))?,
            "--callers" => args.callers = value.parse().map_err(|_| number("--callers"))?,
            "--seconds" => args.seconds = value.parse().map_err(|_| number("--seconds"))?,
            "--fraction" => args.fraction = value.parse().map_err(|_| number("--fraction"))?,
            "--url" => args.url = Some(value),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.rate == 0 || args.callers == 0 || args.seconds.is_nan() || args.seconds <= 0.0 {
        return Err("--rate, --callers and --seconds must be positive".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let server = match &args.url {
        Some(_) => None,
        None => Some(
            MockServer::start(
                MockConfig::default()
                    .with_rate(args.rate, Duration::from_secs(1), args.burst)
                    .with_port(0),
            )
            .await?,
        ),
    };
    let base = match (&args.url, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => server.url(),
        (None, None) => return Err("no server".into()),
    };
    let mut policy = Policy::default();
    policy.name = "strict".into();
    policy.quotas = vec![QuotaSpec::rate(
        args.rate,
        Duration::from_secs(1),
        args.burst,
    )];
    policy.headroom.fraction = args.fraction;
    policy.retry.max_attempts = 5;
    let pacer = Pacer::new(policy)?;
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.callers)
        .build_http();
    // Where each call leaves the stack for the client: the spacing the
    // server should see, before the network and the server add theirs.
    let sends = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let refusals = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let (log, refused) = (sends.clone(), refusals.clone());
    let client = tower::service_fn(move |request: http::Request<Full<Bytes>>| {
        let sent = Instant::now();
        log.lock().unwrap_or_else(|p| p.into_inner()).push(sent);
        let (call, refused) = (client.request(request), refused.clone());
        async move {
            let response = call.await?;
            if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
                refused.lock().unwrap_or_else(|p| p.into_inner()).push(sent);
            }
            Ok::<_, hyper_util::client::legacy::Error>(response)
        }
    });
    let stack = ServiceBuilder::new().layer(pacer.layer()).service(client);
    let url: http::Uri = format!("{base}/contacts").parse()?;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = (0..args.callers)
        .map(|_| {
            let (mut stack, url, ok, failed) =
                (stack.clone(), url.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                while tokio::time::Instant::now() < deadline {
                    let request = http::Request::get(url.clone())
                        .header("x-api-key", "strict")
                        .body(Full::new(Bytes::new()))?;
                    let response = stack.ready().await?.call(request).await;
                    match response {
                        Ok(response) if response.status().is_success() => {
                            response.into_body().collect().await?;
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let wall = start.elapsed().as_secs_f64();
    let mut sends = std::mem::take(&mut *sends.lock().unwrap_or_else(|p| p.into_inner()));
    sends.sort();
    let interval = Duration::from_secs(1).as_secs_f64() / args.rate as f64;
    let gaps: Vec<f64> = sends
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64())
        .collect();
    let short = gaps.iter().filter(|g| **g < interval * 0.999).count();
    let refused_at: Vec<String> = refusals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|t| format!("{:.3}s", (*t - start).as_secs_f64()))
        .collect();
    let min_gap = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let stats = pacer.stats();
    let ok = ok.load(Ordering::Relaxed);
    let achieved = ok as f64 / wall / args.rate as f64;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "rate": args.rate, "burst": args.burst, "callers": args.callers,
                "ok": ok, "failed": failed.load(Ordering::Relaxed), "wall_s": wall,
                "of_rate": achieved, "rate_limited": stats.rate_limited,
                "limit_mismatch": stats.limit_mismatch, "learned_factor": stats.learned_factor,
                "sends": sends.len(), "gaps_under_interval": short, "min_gap_s": min_gap,
            })
        );
    } else {
        println!(
            "sends: {} gaps under 1/R of {} (shortest {:.3} ms, 1/R = {:.3} ms); 429s for calls sent at {}",
            short,
            gaps.len(),
            min_gap * 1e3,
            interval * 1e3,
            refused_at.join(", ")
        );
        println!(
            "rate {}/s burst {}, {} callers: {ok} ok, {} failed in {wall:.1}s = {:.1} % of the rate; \
             {} 429s ({} limit mismatches, learned band {})",
            args.rate,
            args.burst,
            args.callers,
            failed.load(Ordering::Relaxed),
            achieved * 100.0,
            stats.rate_limited,
            stats.limit_mismatch,
            stats.learned_factor.map_or_else(
                || "as configured".to_owned(),
                |f| format!("{:.0} %", f * 100.0)
            ),
        );
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(())
}
