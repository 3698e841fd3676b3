//! The full `Pacer` stack against `pacer-mock` presets over loopback (real
//! time, time-scaled windows).

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use pacer_mock::{MockConfig, Preset};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_pacer::Pacer;
use tower_pacer::presets::{self, HubSpotTier};

use support::TIMING;

/// Sends `calls` GETs through `client` from `workers` tasks; returns the
/// statuses seen.
async fn drive<S>(client: S, url: String, calls: usize, workers: usize) -> Vec<StatusCode>
where
    S: Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<hyper::body::Incoming>,
        > + Clone
        + Send
        + 'static,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (mut client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < calls {
                    let request = support::request(Method::GET, &url, Some("portal-1"), "");
                    let response = client.ready().await.unwrap().call(request).await.unwrap();
                    seen.push(response.status());
                }
                seen
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_preset_syncs_without_a_single_429() {
    let _serial = TIMING.lock().await;
    const SCALE: f64 = 0.05; // 100 per 10 s becomes 100 per 500 ms
    let server = support::spawn(MockConfig::preset(Preset::Hubspot).with_time_scale(SCALE)).await;
    let mut policy = presets::hubspot(HubSpotTier::Starter).time_scaled(SCALE);
    // The preset's 20 ms margin is for a quiet network; a loaded 2-core CI
    // machine delays first-window arrivals (new connections) by more.
    policy.headroom.margin = std::time::Duration::from_millis(60);
    policy.concurrency = Some(16);
    let pacer = Pacer::new(policy).unwrap();
    let client = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(support::client());
    let start = std::time::Instant::now();
    let statuses = drive(
        client,
        format!("{}/crm/v3/objects/contacts", server.url()),
        350,
        16,
    )
    .await;
    let wall = start.elapsed();
    assert_eq!(statuses.len(), 350);
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let stats = server.stats();
    assert!(stats.windows[0].max_seen <= 100);
    let ours = pacer.stats();
    // The server counts arrivals: on a busy machine one can come later than
    // any fixed margin covers, and the server refuses a call the books had
    // room for. The product keeps that from the callers (the refusal is
    // retried after the server's delay) and learns from it (a limit
    // mismatch narrows the band), so refusals stay rare.
    assert_eq!(ours.rate_limited, stats.rejected, "{stats:?}");
    assert!(stats.rejected == 0 || ours.limit_mismatch >= 1, "{stats:?}");
    assert!(stats.rejected <= 7, "{stats:?}");
    assert_eq!(
        (ours.requests, ours.attempts),
        (350, 350 + ours.rate_limited)
    );
    // 350 calls need 4 windows: 100 at once, then 100 per 500 ms.
    assert!(
        wall >= Duration::from_millis(1_500),
        "too fast to be paced: {wall:?}"
    );
    assert!(
        wall < Duration::from_millis(1_500 + 300),
        "pacing wasted time: {wall:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailchimp_preset_never_has_more_than_ten_in_flight() {
    let _serial = TIMING.lock().await;
    let server = support::spawn(
        MockConfig::preset(Preset::Mailchimp)
            .with_latency(Duration::from_millis(20), Duration::from_millis(10)),
    )
    .await;
    let pacer = Pacer::new(presets::mailchimp()).unwrap();
    let client = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(support::client());
    let statuses = drive(client, format!("{}/3.0/lists", server.url()), 300, 40).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.rejected, 0, "{stats:?}");
    assert!(
        stats.max_in_flight <= 10,
        "server saw {} in flight",
        stats.max_in_flight
    );
    assert_eq!(stats.max_in_flight, 10, "and the cap was used to the full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adaptive_pacer_finds_an_undocumented_limit() {
    let _serial = TIMING.lock().await;
    // 50 per 250 ms (200/s), which the client is not told.
    // Decimal Retry-After: whole seconds would turn every 429 into a 1 s
    // pause at this time scale.
    let server = support::spawn(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(0.25)
            .with_retry_after(pacer_mock::RetryAfterForm::Decimal),
    )
    .await;
    let mut policy = tower_pacer::policy::Policy::default();
    let mut adaptive = tower_pacer::policy::AdaptiveRateSpec::default();
    // The mock's headers round time-scaled windows up to whole seconds, so
    // they would understate the rate 4×: CUBIC alone here.
    adaptive.header_pacing = false;
    policy.adaptive_rate = Some(adaptive);
    policy.retry.max_attempts = 6;
    let pacer = Pacer::new(policy).unwrap();
    let client = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(support::client());
    let start = std::time::Instant::now();
    let statuses = drive(client, format!("{}/contacts", server.url()), 1_000, 16).await;
    let wall = start.elapsed();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stats = pacer.stats();
    let achieved = ok as f64 / wall.as_secs_f64() / 200.0;
    eprintln!(
        "adaptive: {ok} ok in {wall:?} ({:.0} % of 200/s), {} 429s of {} attempts ({:.1} %), rate now {:?}",
        achieved * 100.0,
        stats.rate_limited,
        stats.attempts,
        stats.rate_limited_ratio() * 100.0,
        stats.adaptive_rate
    );
    assert_eq!(ok, 1_000, "every call got through, retries included");
    assert!(
        stats.adaptive_rate.is_some_and(f64::is_finite),
        "the controller found a finite rate"
    );
    // Over the whole run, including the first second, when CUBIC is still
    // unthrottled and probing (measured 4.3–4.8 % here; the simulation
    // harness in tests/adaptive holds the steady state under 1 %). A real
    // network adds noise, so the bound sits above the measurement.
    assert!(
        stats.rate_limited_ratio() <= 0.08,
        "429 ratio {:.3}",
        stats.rate_limited_ratio()
    );
    // Averaged over the run, the learning included. A pause now holds the
    // calls already given a slot instead of sending them into the refusal:
    // measured 76–85 % of the limit with 1.3–1.8 % 429s (three runs each,
    // quiet), against 86–89 % with 4.3–4.8 % 429s before. The runs fall in
    // two groups, by whether CUBIC makes one more cut; the floor sits under
    // the lower one, knowingly: the trade is left visible in the README.
    assert!(
        achieved > 0.72,
        "only {:.0} % of the limit",
        achieved * 100.0
    );
}
