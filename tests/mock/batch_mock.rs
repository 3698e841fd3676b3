//! HubSpot-style JSON batches through the Pacer against `pacer-mock`: 100
//! records cost one call of the quota, and no 429.

use std::time::Duration;

use pacer_mock::{MockConfig, Preset};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_pacer::Pacer;
use tower_pacer::batch::{BatchConfig, BatchError, BatchLayer, JsonBatch};
use tower_pacer::presets::{self, HubSpotTier};

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_records_cost_ten_calls_and_no_429() {
    const SCALE: f64 = 0.02; // 100 per 10 s becomes 100 per 200 ms
    let mut mock = MockConfig::preset(Preset::Hubspot).with_time_scale(SCALE);
    mock.batch_item_failure = 0.05;
    let server = support::spawn(mock.with_seed(7)).await;
    let mut policy = presets::hubspot(HubSpotTier::Starter).time_scaled(SCALE);
    // Fewer calls than the window allows, to see the cost: limit 5 per window.
    policy.quotas[0].limit = Some(5);
    let pacer = Pacer::new(policy).unwrap();
    let uri: http::Uri = format!("{}/batch", server.url()).parse().unwrap();
    let codec = JsonBatch::new(uri).header(
        http::header::AUTHORIZATION,
        "Bearer portal-1".parse().unwrap(),
    );
    let config = BatchConfig::new(100, Duration::from_millis(20))
        .unwrap()
        .queue(2_000)
        .unwrap()
        .max_in_flight(4)
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(BatchLayer::new(codec, config))
        .layer(pacer.layer())
        .service(support::client());

    let start = std::time::Instant::now();
    let calls: Vec<_> = (0..1_000)
        .map(|n| {
            tokio::spawn(
                client
                    .clone()
                    .oneshot(json!({"email": format!("c{n}@example.com")})),
            )
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(result) => {
                assert_eq!(result["status"], "ok");
                ok += 1;
            }
            Err(BatchError::Item(_)) => refused += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let wall = start.elapsed();
    let stats = pacer.stats();
    let server_stats = server.stats();
    eprintln!(
        "{ok} ok, {refused} refused by the API, {} calls, {wall:?}",
        stats.attempts
    );
    assert_eq!(ok + refused, 1_000, "every record answered");
    assert!(
        refused > 0,
        "the mock's per-item failures reached their callers"
    );
    assert_eq!(stats.attempts, 10, "1 000 records, 10 calls");
    assert_eq!(stats.rate_limited, 0);
    assert_eq!(server_stats.rejected, 0);
    assert_eq!(server_stats.batch_items, 1_000);
    // 10 calls at 5 per 200 ms: the second five wait one window.
    assert!(wall >= Duration::from_millis(200), "{wall:?}");
}
