//! tower-pacer over a hyper-util client: the everyday case.
//!
//! Starts `pacer-mock` in-process (strict preset: at most 50 calls in any
//! second, time-scaled), then sends 300 GETs and a few POSTs through a
//! `Pacer` wrapped around `hyper_util::client::legacy::Client`, and prints
//! what the server saw.
//!
//! ```text
//! cargo run --release --example hyper_client
//! ```
//!
//! Bodies: a `Full<Bytes>` body can be replayed, so a POST with an
//! `Idempotency-Key` is retried after a 429; a streaming body goes once.
//! One client carries both with `http_body_util::Either`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use tower::{ServiceBuilder, ServiceExt};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

/// Buffered (replayable) or streaming request bodies.
type Body = Either<Full<Bytes>, BoxBody<Bytes, BoxError>>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    const SCALE: f64 = 0.2; // 50 per second becomes 50 per 200 ms
    let server = MockServer::start(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(SCALE)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await?;

    // The server's quota, with a few milliseconds of margin.
    let mut policy = Policy::default();
    policy.name = "strict-api".into();
    policy.quotas = vec![QuotaSpec::window(50, Duration::from_secs_f64(SCALE))];
    policy.headroom.margin = Duration::from_millis(5);
    policy.concurrency = Some(16);
    let pacer = Pacer::new(policy)?;

    let hyper: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let client = ServiceBuilder::new().layer(pacer.layer()).service(hyper);

    let start = Instant::now();
    let url = format!("{}/contacts", server.url());
    let mut calls = Vec::new();
    for _ in 0..300 {
        let request: http::Request<Body> =
            http::Request::get(&url).body(Either::Left(Full::new(Bytes::new())))?;
        calls.push(tokio::spawn(client.clone().oneshot(request)));
    }
    let mut ok = 0;
    for call in calls {
        let response = call.await??;
        if response.status().is_success() {
            ok += 1;
        }
        response.into_body().collect().await?;
    }
    // A keyed POST with a buffered body: replayable.
    let post = http::Request::post(format!("{}/batch", server.url()))
        .header("idempotency-key", "import-1")
        .body(Either::Left(Full::new(Bytes::from_static(
            br#"{"inputs":[{"email":"a@example.com"}]}"#,
        ))))?;
    let posted = client.clone().oneshot(post).await?.status();

    let wall = start.elapsed();
    let stats = pacer.stats();
    let seen = server.stats();
    println!(
        "hyper-util client through tower-pacer against {}",
        server.url()
    );
    println!(
        "  {ok}/300 GETs OK, POST {posted}, in {:.2}s",
        wall.as_secs_f64()
    );
    println!(
        "  attempts {}, 429s {} ({:.1} %), waited for a slot {} times",
        stats.attempts,
        stats.rate_limited,
        100.0 * stats.rate_limited_ratio(),
        stats.waited
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
