//! The `metrics` facade: a Pacer's stack reports labelled counters,
//! histograms and gauges.
#![cfg(feature = "metrics")]

use std::time::Duration;

use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
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

/// What the recorder holds now. A snapshot drains what it reads: take one
/// per check.
fn snapshot(snapshotter: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// The gauge `name` of `destination` in `snapshot`.
fn gauge(snapshot: &[(CompositeKey, DebugValue)], name: &str, destination: &str) -> Option<f64> {
    match value(snapshot, name, &[("destination", destination)]) {
        Some(DebugValue::Gauge(gauge)) => Some(gauge.into_inner()),
        _ => None,
    }
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

    let snapshot = snapshot(&snapshotter);
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
    // The 429 came while the books had room: a limit mismatch.
    assert_eq!(
        value(&snapshot, "tower_pacer_limit_mismatch_total", &crm),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(pacer.stats().limit_mismatch, 1);
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

/// The adaptive rate and concurrency in force are gauges, moved by the
/// controllers: AIMD halves its rate on a 429.
#[tokio::test(start_paused = true)]
async fn adaptive_values_are_gauges() {
    use tower_pacer::policy::{AdaptiveConcurrencySpec, AdaptiveRateSpec, StrategySpec};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut policy = Policy::default();
    policy.name = "mail".into();
    let mut rate = AdaptiveRateSpec::default();
    rate.strategy = StrategySpec::Aimd;
    rate.initial_rate = Some(10.0);
    rate.min_rate = Some(1.0);
    policy.adaptive_rate = Some(rate);
    let mut concurrency = AdaptiveConcurrencySpec::default();
    concurrency.initial = 4;
    policy.adaptive_concurrency = Some(concurrency);
    policy.retry.max_attempts = 1;
    let pacer = metrics::with_local_recorder(&recorder, || Pacer::new(policy)).unwrap();
    let gauges = || {
        let snapshot = snapshot(&snapshotter);
        (
            gauge(&snapshot, "tower_pacer_adaptive_rate", "mail"),
            gauge(&snapshot, "tower_pacer_adaptive_concurrency", "mail"),
        )
    };
    assert_eq!(gauges(), (Some(10.0), Some(4.0)));

    let api = service_fn(|_: http::Request<String>| async {
        Ok::<_, BoxError>(http::Response::builder().status(429).body(String::new())?)
    });
    let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
    let response = client
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(pacer.stats().adaptive_rate, Some(5.0));
    assert_eq!(gauges().0, Some(5.0));
}

/// An attempt dropped before its answer (a caller's timeout) is no longer
/// in flight.
#[tokio::test(start_paused = true)]
async fn a_cancelled_attempt_leaves_the_in_flight_gauge() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut policy = Policy::default();
    policy.name = "slow".into();
    let pacer = metrics::with_local_recorder(&recorder, || Pacer::new(policy)).unwrap();
    let api = service_fn(|_: http::Request<String>| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, BoxError>(http::Response::new(String::new()))
    });
    let client = ServiceBuilder::new().layer(pacer.layer()).service(api);
    let call = client.oneshot(http::Request::new(String::new()));
    let timed_out = tokio::time::timeout(Duration::from_secs(1), call).await;
    assert!(timed_out.is_err());
    let snapshot = snapshot(&snapshotter);
    assert_eq!(gauge(&snapshot, "tower_pacer_in_flight", "slow"), Some(0.0));
    let stats = pacer.stats();
    assert_eq!((stats.requests, stats.attempts), (1, 1));
    assert_eq!((stats.succeeded, stats.failed), (0, 0));
}

/// A store that refuses everything (a full disk, a Redis that is down).
struct BrokenStore;

impl tower_pacer::dlq::DeadLetterStore for BrokenStore {
    fn put(&self, _: tower_pacer::dlq::DeadLetter) -> tower_pacer::dlq::StoreFuture<'_, String> {
        Box::pin(async { Err(tower_pacer::dlq::StoreError::Backend("disk full".into())) })
    }
    fn peek(
        &self,
        _: usize,
    ) -> tower_pacer::dlq::StoreFuture<'_, Vec<tower_pacer::dlq::DeadLetter>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn lease(
        &self,
        _: usize,
        _: Duration,
    ) -> tower_pacer::dlq::StoreFuture<'_, Vec<tower_pacer::dlq::DeadLetter>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn ack<'a>(&'a self, _: &'a str) -> tower_pacer::dlq::StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn release<'a>(
        &'a self,
        _: &'a str,
        _: tower_pacer::dlq::FailedAgain,
    ) -> tower_pacer::dlq::StoreFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn len(&self) -> tower_pacer::dlq::StoreFuture<'_, u64> {
        Box::pin(async { Ok(0) })
    }
}

/// Dead letters are counted, stored or not: a store that refuses them
/// must show on a dashboard, since the caller only sees its own error.
#[tokio::test]
async fn dead_letters_are_counted_stored_or_not() {
    use std::sync::Arc;
    use tower_pacer::dlq::{DeadLetterLayer, DeadLetterStore, MemoryStore};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let stored = Arc::new(MemoryStore::new());
    let (good, broken) = metrics::with_local_recorder(&recorder, || {
        (
            DeadLetterLayer::new(stored.clone(), "crm"),
            DeadLetterLayer::new(Arc::new(BrokenStore), "crm"),
        )
    });
    let refused = || {
        service_fn(|_: http::Request<String>| async {
            Ok::<_, BoxError>(http::Response::builder().status(400).body(String::new())?)
        })
    };
    for layer in [good.clone(), good, broken] {
        let client = ServiceBuilder::new().layer(layer).service(refused());
        let response = client
            .oneshot(http::Request::new(String::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    assert_eq!(stored.len().await.unwrap(), 2);
    let snapshot = snapshot(&snapshotter);
    let count = |stored: &str| {
        value(
            &snapshot,
            "tower_pacer_dead_letters_total",
            &[("destination", "crm"), ("stored", stored)],
        )
        .map(|v| format!("{v:?}"))
    };
    assert_eq!(count("true").as_deref(), Some("Counter(2)"));
    assert_eq!(count("false").as_deref(), Some("Counter(1)"));
}

#[tokio::test(start_paused = true)]
async fn every_metric_has_a_unit_and_help_text() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut policy = Policy::default();
    policy.name = "described".into();
    let _pacer = metrics::with_local_recorder(&recorder, || Pacer::new(policy)).unwrap();
    let described: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, help, _)| (key.key().name().to_owned(), unit, help))
        .collect();
    assert!(described.len() >= 8, "{described:?}");
    for (name, unit, help) in &described {
        assert!(
            help.as_ref().is_some_and(|h| !h.is_empty()),
            "{name} has no help text"
        );
        assert!(unit.is_some(), "{name} has no unit");
    }
    let wait = described
        .iter()
        .find(|(n, _, _)| n == "tower_pacer_wait_seconds");
    assert_eq!(wait.and_then(|w| w.1), Some(metrics::Unit::Seconds));
}

/// Per-destination stacks are labelled by their destination, not by the
/// policy they share: two hosts under one `*.suffix` policy are two
/// series, and the policy keeps its name.
#[test]
fn destinations_sharing_a_policy_are_labelled_apart() {
    use tower_pacer::destinations::{DestinationsLayer, PolicyTable};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut policy = Policy::default();
    policy.name = "crm".into();
    let table = PolicyTable::new().with("*.crm.test", policy).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(table))
        .service(service_fn(|_: http::Request<String>| async {
            Ok::<_, BoxError>(http::Response::new(String::new()))
        }));
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            for host in ["a.crm.test", "b.crm.test", "b.crm.test"] {
                let request = http::Request::get(format!("https://{host}/x"))
                    .body(String::new())
                    .unwrap();
                client.clone().oneshot(request).await.unwrap();
            }
        })
    });
    let snapshot = snapshot(&snapshotter);
    let requests = |destination: &str| match value(
        &snapshot,
        "tower_pacer_requests_total",
        &[("destination", destination), ("outcome", "succeeded")],
    ) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{destination}: {other:?}"),
    };
    assert_eq!((requests("a.crm.test"), requests("b.crm.test")), (1, 2));
    assert!(
        value(
            &snapshot,
            "tower_pacer_requests_total",
            &[("destination", "crm")]
        )
        .is_none()
    );
    assert_eq!(client.pacer("a.crm.test").unwrap().policy().name, "crm");
}
