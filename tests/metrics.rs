//! The `metrics` facade: a Pacer's stack reports labelled counters,
//! histograms and gauges.
#![cfg(feature = "metrics")]

use std::time::Duration;

use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

fn value<'a>(
    snapshot: &'a [(CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot
        .iter()
        .find(|(key, _)| {
            key.key().name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, value)| value)
}

#[tokio::test(start_paused = true)]
async fn a_pacer_reports_through_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut policy = Policy::default();
    policy.name = "crm".into();
    policy.quotas = vec![QuotaSpec::window(2, Duration::from_secs(1))];
    policy.retry.safety_margin = Duration::ZERO;
    // Handles are registered when the pacer is built.
    let pacer = metrics::with_local_recorder(&recorder, || Pacer::new(policy)).unwrap();

    // Shared across the clones `oneshot` makes: the second call gets a 429.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let api = service_fn(move |_: http::Request<String>| {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let status = if n == 2 { 429 } else { 200 };
        async move {
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(status)
                    .header("retry-after", "1")
                    .body(String::new())?,
            )
        }
    });
    let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
    for _ in 0..3 {
        client
            .clone()
            .oneshot(http::Request::new(String::new()))
            .await
            .unwrap();
    }

    let snapshot: Vec<(CompositeKey, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let crm = [("destination", "crm")];
    assert_eq!(
        value(
            &snapshot,
            "tower_pacer_requests_total",
            &[("destination", "crm"), ("outcome", "succeeded")]
        ),
        Some(&DebugValue::Counter(3))
    );
    assert_eq!(
        value(&snapshot, "tower_pacer_attempts_total", &crm),
        Some(&DebugValue::Counter(4))
    );
    assert_eq!(
        value(&snapshot, "tower_pacer_retries_total", &crm),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        value(&snapshot, "tower_pacer_rate_limited_total", &crm),
        Some(&DebugValue::Counter(1))
    );
    match value(&snapshot, "tower_pacer_wait_seconds", &crm) {
        Some(DebugValue::Histogram(waits)) => {
            assert!(!waits.is_empty() && waits.iter().all(|w| w.0 > 0.0))
        }
        other => panic!("no wait histogram: {other:?}"),
    }
    assert_eq!(
        value(&snapshot, "tower_pacer_in_flight", &crm),
        Some(&DebugValue::Gauge(0.0.into()))
    );
}
