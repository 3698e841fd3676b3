//! tower-pacer in a `reqwest_middleware` client.
//!
//! Starts `pacer-mock` in-process (strict preset: at most 50 calls in any
//! second, time-scaled), sends 300 GETs from 16 tasks through
//! `PacerMiddleware`, and prints what the server saw.
//!
//! ```text
//! cargo run --release --example reqwest_client --features reqwest
//! ```

use std::time::{Duration, Instant};

use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use reqwest_middleware::ClientBuilder;
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::reqwest::PacerMiddleware;
use tower_pacer::{BoxError, Pacer};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    const SCALE: f64 = 0.2;
    let server = MockServer::start(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(SCALE)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await?;
    let mut policy = Policy::default();
    policy.name = "strict-api".into();
    policy.quotas = vec![QuotaSpec::window(50, Duration::from_secs_f64(SCALE))];
    policy.headroom.margin = Duration::from_millis(20);
    policy.concurrency = Some(16);
    let pacer = Pacer::new(policy)?;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .build();

    let start = Instant::now();
    let url = format!("{}/contacts", server.url());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..300 / 16 + 1 {
                    if client.get(&url).send().await?.status().is_success() {
                        ok += 1;
                    }
                }
                Ok::<_, BoxError>(ok)
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += task.await??;
    }
    let stats = pacer.stats();
    let seen = server.stats();
    println!(
        "reqwest-middleware client through tower-pacer against {}",
        server.url()
    );
    println!("  {ok} GETs OK in {:.2}s", start.elapsed().as_secs_f64());
    println!(
        "  429s {} of {} attempts; waited for a slot {} times",
        stats.rate_limited, stats.attempts, stats.waited
    );
    println!(
        "  server: {} accepted, {} rejected; most calls in one window: {} (limit 50)",
        seen.accepted,
        seen.rejected,
        seen.windows.first().map_or(0, |w| w.max_seen)
    );
    server.shutdown().await;
    Ok(())
}
