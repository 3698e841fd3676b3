//! The batch layer: every item answered once, limits held, failures
//! routed, backpressure, shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::{self, Instant};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::batch::{Batch, BatchCodec, BatchConfig, BatchError, BatchLayer};

/// Passes the items through as the request; the inner service answers a
/// result per item.
struct Pass;

impl BatchCodec<u32> for Pass {
    type Request = Vec<u32>;
    type Response = Vec<Result<u32, BatchError>>;
    type Output = u32;
    type Decode = std::future::Ready<Result<Vec<Result<u32, BatchError>>, BoxError>>;

    fn encode(&self, items: Vec<u32>) -> Result<Vec<u32>, BoxError> {
        Ok(items)
    }

    fn decode(&self, response: Self::Response, _: usize) -> Self::Decode {
        std::future::ready(Ok(response))
    }
}

type Batches = Arc<Mutex<Vec<(Instant, Vec<u32>)>>>;

/// Doubles each item after `latency`; items divisible by 13 are refused;
/// a batch containing 666 fails as a whole.
fn api(
    batches: Batches,
    latency: Duration,
) -> impl Service<
    Vec<u32>,
    Response = Vec<Result<u32, BatchError>>,
    Error = BoxError,
    Future = impl Send,
> + Send
+ 'static {
    service_fn(move |items: Vec<u32>| {
        let batches = batches.clone();
        async move {
            batches
                .lock()
                .unwrap()
                .push((Instant::now(), items.clone()));
            time::sleep(latency).await;
            if items.contains(&666) {
                return Err(BoxError::from("batch rejected"));
            }
            Ok(items
                .iter()
                .map(|&n| {
                    if n % 13 == 0 {
                        Err(BatchError::Item(format!("{n} refused")))
                    } else {
                        Ok(n * 2)
                    }
                })
                .collect())
        }
    })
}

fn batcher(batches: &Batches, config: BatchConfig<u32>, latency: Duration) -> Batch<u32, u32> {
    ServiceBuilder::new()
        .layer(BatchLayer::new(Pass, config))
        .service(api(batches.clone(), latency))
}

fn paused<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_item_is_answered_once_within_the_limits(
        max_items in 1usize..12,
        max_latency_ms in 1u64..40,
        gaps in prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 0u64..60], 1..80),
    ) {
        let inner = Duration::from_millis(7);
        let (answers, batches, waits) = paused(async {
            let batches = Batches::default();
            let config = BatchConfig::new(max_items, Duration::from_millis(max_latency_ms))
                .unwrap()
                .queue(1_000)
                .unwrap()
                .max_in_flight(100)
                .unwrap();
            let client = batcher(&batches, config, inner);
            let mut calls = Vec::new();
            for (n, gap) in gaps.iter().enumerate() {
                // sleep, not advance: timers due meanwhile fire on time.
                time::sleep(Duration::from_millis(*gap)).await;
                let client = client.clone();
                let n = n as u32 + 1;
                calls.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let answer = client.oneshot(n).await;
                    (n, answer, start.elapsed())
                }));
            }
            let mut answers = Vec::new();
            let mut waits = Vec::new();
            for call in calls {
                let (n, answer, waited) = call.await.unwrap();
                answers.push((n, answer));
                waits.push(waited);
            }
            let batches = batches.lock().unwrap().clone();
            (answers, batches, waits)
        });
        // Each item: its own answer.
        for (n, answer) in &answers {
            match answer {
                Ok(doubled) => prop_assert_eq!(*doubled, n * 2),
                Err(BatchError::Item(message)) => prop_assert_eq!(message, &format!("{n} refused")),
                Err(other) => prop_assert!(false, "item {} got {:?}", n, other),
            }
        }
        // Sent exactly once, in batches within the limit.
        let mut sent: Vec<u32> = batches.iter().flat_map(|(_, items)| items.clone()).collect();
        sent.sort();
        prop_assert_eq!(sent, (1..=gaps.len() as u32).collect::<Vec<_>>());
        prop_assert!(batches.iter().all(|(_, items)| items.len() <= max_items));
        // Nobody waits longer than max_latency plus the call (and a timer tick).
        let bound = Duration::from_millis(max_latency_ms) + inner + Duration::from_millis(1);
        for waited in waits {
            prop_assert!(waited <= bound, "waited {:?} > {:?}", waited, bound);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_batch_fails_each_of_its_items_and_no_other() {
    let batches = Batches::default();
    let client = batcher(
        &batches,
        BatchConfig::new(3, Duration::from_millis(5)).unwrap(),
        Duration::from_millis(1),
    );
    let calls: Vec<_> = [1, 2, 666, 4, 13, 6]
        .into_iter()
        .map(|n| tokio::spawn(client.clone().oneshot(n)))
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    for answer in &answers[..3] {
        assert!(
            matches!(answer, Err(BatchError::Batch(e)) if e.to_string() == "batch rejected"),
            "{answer:?}"
        );
    }
    assert_eq!(answers[3].as_ref().ok(), Some(&8));
    assert!(matches!(&answers[4], Err(BatchError::Item(m)) if m == "13 refused"));
    assert_eq!(answers[5].as_ref().ok(), Some(&12));
    assert_eq!(batches.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_response_that_forgets_an_item_answers_it_missing() {
    struct Forgetful;
    impl BatchCodec<u32> for Forgetful {
        type Request = Vec<u32>;
        type Response = Vec<u32>;
        type Output = u32;
        type Decode = std::future::Ready<Result<Vec<Result<u32, BatchError>>, BoxError>>;
        fn encode(&self, items: Vec<u32>) -> Result<Vec<u32>, BoxError> {
            Ok(items)
        }
        fn decode(&self, response: Vec<u32>, _: usize) -> Self::Decode {
            // Only the first result comes back.
            std::future::ready(Ok(response.into_iter().take(1).map(Ok).collect()))
        }
    }
    let api = service_fn(|items: Vec<u32>| async move { Ok::<_, BoxError>(items) });
    let client = ServiceBuilder::new()
        .layer(BatchLayer::new(
            Forgetful,
            BatchConfig::new(2, Duration::from_millis(5)).unwrap(),
        ))
        .service(api);
    let (a, b) = tokio::join!(client.clone().oneshot(1), client.clone().oneshot(2));
    assert_eq!(a.unwrap(), 1);
    assert!(matches!(b, Err(BatchError::Missing)));
}

#[tokio::test(start_paused = true)]
async fn weight_limits_a_batch_too() {
    let batches = Batches::default();
    let config = BatchConfig::new(100, Duration::from_millis(5))
        .unwrap()
        .max_weight(10, |n: &u32| u64::from(*n))
        .unwrap();
    let client = batcher(&batches, config, Duration::from_millis(1));
    let calls: Vec<_> = [4, 5, 3, 9, 1]
        .into_iter()
        .map(|n| tokio::spawn(client.clone().oneshot(n)))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    let sizes: Vec<Vec<u32>> = batches
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(sizes, vec![vec![4, 5], vec![3], vec![9, 1]]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_holds_callers_back_and_dropped_callers_break_nothing() {
    let batches = Batches::default();
    let config = BatchConfig::new(1, Duration::from_millis(5))
        .unwrap()
        .queue(2)
        .unwrap()
        .max_in_flight(1)
        .unwrap();
    let mut client = batcher(&batches, config, Duration::from_secs(10));
    // Item 1 goes out (and takes 10 s); item 2 waits for the batch slot,
    // item 3 in the queue: the queue of 2 is full.
    let first = client.ready().await.unwrap().call(1);
    let second = client.ready().await.unwrap().call(2);
    let third = client.ready().await.unwrap().call(3);
    time::sleep(Duration::from_millis(1)).await;
    let mut ready = tokio_test::task::spawn(client.ready());
    tokio_test::assert_pending!(ready.poll());
    drop(ready);
    // The caller of item 3 gives up before its batch is sent.
    drop(third);
    let (first, second) = tokio::join!(first, second);
    assert_eq!((first.unwrap(), second.unwrap()), (2, 4));
    // The queue has room again, and the worker still works.
    assert_eq!(client.ready().await.unwrap().call(5).await.unwrap(), 10);
    let sent: Vec<Vec<u32>> = batches
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(sent, vec![vec![1], vec![2], vec![5]], "item 3 was left out");
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_drains_the_queue() {
    let batches = Batches::default();
    let client = batcher(
        &batches,
        BatchConfig::new(50, Duration::from_secs(60)).unwrap(),
        Duration::from_millis(1),
    );
    let start = Instant::now();
    let calls: Vec<_> = (1..=7)
        .map(|n| tokio::spawn(client.clone().oneshot(n)))
        .collect();
    tokio::task::yield_now().await;
    drop(client);
    for call in calls {
        call.await.unwrap().ok();
    }
    // Sent long before the 60 s latency: the closed queue flushed the batch.
    let batches = batches.lock().unwrap();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].1, (1..=7).collect::<Vec<_>>());
    assert!(
        batches[0].0 - start < Duration::from_secs(1),
        "sent at {:?}",
        batches[0].0 - start
    );
}

#[tokio::test(start_paused = true)]
async fn an_endless_max_latency_sends_full_batches_only() {
    let batches = Batches::default();
    let client = batcher(
        &batches,
        BatchConfig::new(2, Duration::MAX).unwrap(),
        Duration::from_millis(1),
    );
    let first = tokio::spawn(client.clone().oneshot(1));
    time::sleep(Duration::from_secs(24 * 3600)).await;
    assert!(batches.lock().unwrap().is_empty(), "half a batch waits");
    assert_eq!(client.clone().oneshot(2).await.unwrap(), 4);
    assert_eq!(first.await.unwrap().unwrap(), 2);
    // With every handle gone, a part batch is still sent.
    let last = tokio::spawn(client.oneshot(3));
    assert_eq!(last.await.unwrap().unwrap(), 6);
    assert_eq!(batches.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_without_poll_ready_on_a_full_queue_is_refused_and_the_worker_goes_on() {
    let batches = Batches::default();
    let config = BatchConfig::new(10, Duration::from_secs(1))
        .unwrap()
        .queue(1)
        .unwrap();
    let mut client = batcher(&batches, config, Duration::from_millis(1));
    let first = client.ready().await.unwrap().call(1);
    // A clone holds no place in the queue, and the only one is taken.
    let refused = client.clone().call(2).await;
    assert!(matches!(refused, Err(BatchError::QueueFull)), "{refused:?}");
    assert_eq!(first.await.unwrap(), 2);
    assert_eq!(client.ready().await.unwrap().call(3).await.unwrap(), 6);
}

#[test]
fn bad_batch_configs_name_their_field() {
    let field = |e: tower_pacer::ConfigError| e.field().to_owned();
    assert_eq!(
        field(BatchConfig::<u32>::new(0, Duration::from_secs(1)).unwrap_err()),
        "batch.max_items"
    );
    assert_eq!(
        field(BatchConfig::<u32>::new(1, Duration::ZERO).unwrap_err()),
        "batch.max_latency"
    );
    let ok = BatchConfig::<u32>::new(1, Duration::from_secs(1)).unwrap();
    assert_eq!(field(ok.clone().queue(0).unwrap_err()), "batch.queue");
    assert_eq!(
        field(ok.clone().max_in_flight(0).unwrap_err()),
        "batch.max_in_flight"
    );
    // More than a tokio semaphore holds: refused here, not a panic later.
    assert_eq!(
        field(ok.clone().max_in_flight(usize::MAX).unwrap_err()),
        "batch.max_in_flight"
    );
    assert!(
        ok.clone()
            .max_in_flight(tokio::sync::Semaphore::MAX_PERMITS)
            .is_ok()
    );
    assert_eq!(
        field(ok.max_weight(0, |_| 1).unwrap_err()),
        "batch.max_weight"
    );
}

#[cfg(feature = "serde")]
#[test]
fn json_batches_can_carry_their_own_idempotency_keys() {
    use tower_pacer::batch::JsonBatch;
    let codec: JsonBatch<http_body_util::Full<bytes::Bytes>> =
        JsonBatch::new("http://api.test/batch".parse().unwrap()).idempotent();
    let key = |request: &http::Request<http_body_util::Full<bytes::Bytes>>| {
        request.headers()["idempotency-key"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = codec.encode(vec![serde_json::json!({"n": 1})]).unwrap();
    let second = codec.encode(vec![serde_json::json!({"n": 2})]).unwrap();
    assert_eq!(first.method(), http::Method::POST);
    assert_ne!(key(&first), key(&second), "each batch has its own key");
    let plain: JsonBatch<http_body_util::Full<bytes::Bytes>> =
        JsonBatch::new("http://api.test/batch".parse().unwrap());
    assert!(
        plain
            .encode(vec![])
            .unwrap()
            .headers()
            .get("idempotency-key")
            .is_none()
    );
}

/// A batch API that refuses (429, `Retry-After: 1`) its first `refusals`
/// calls, then echoes each input as a result.
#[cfg(feature = "serde")]
fn refusing_api(
    refusals: usize,
    calls: Arc<Mutex<Vec<Instant>>>,
) -> impl Service<
    http::Request<http_body_util::Full<bytes::Bytes>>,
    Response = http::Response<http_body_util::Full<bytes::Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    use http_body_util::BodyExt;
    service_fn(
        move |request: http::Request<http_body_util::Full<bytes::Bytes>>| {
            let calls = calls.clone();
            async move {
                let n = {
                    let mut calls = calls.lock().unwrap();
                    calls.push(Instant::now());
                    calls.len()
                };
                let body = request.into_body().collect().await?.to_bytes();
                let inputs: serde_json::Value = serde_json::from_slice(&body)?;
                let response = if n <= refusals {
                    http::Response::builder()
                        .status(429)
                        .header("retry-after", "1")
                        .body(http_body_util::Full::new(bytes::Bytes::new()))?
                } else {
                    let results = serde_json::json!({ "results": inputs["inputs"] });
                    http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
                        results.to_string(),
                    )))
                };
                Ok::<_, BoxError>(response)
            }
        },
    )
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_refused_batch_is_retried_and_its_records_dead_only_when_attempts_run_out() {
    use tower_pacer::batch::JsonBatch;
    use tower_pacer::retry::{Backoff, Jitter, RetryLayer};
    let stack = |refusals: usize, calls: Arc<Mutex<Vec<Instant>>>| {
        let retry = RetryLayer::builder()
            .max_attempts(3)
            .backoff(
                Backoff::new(
                    Duration::from_millis(10),
                    Duration::from_millis(10),
                    Jitter::None,
                )
                .unwrap(),
            )
            .no_budget()
            .build()
            .unwrap();
        let codec = JsonBatch::new("http://api.test/batch".parse().unwrap());
        ServiceBuilder::new()
            .layer(BatchLayer::new(
                codec,
                BatchConfig::new(10, Duration::from_millis(5)).unwrap(),
            ))
            .layer(retry)
            .service(refusing_api(refusals, calls))
    };

    // Refused twice (a POST, no key), then taken: every record succeeds.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let batches = stack(2, calls.clone());
    let start = Instant::now();
    let records: Vec<_> = (0..10)
        .map(|n| tokio::spawn(batches.clone().oneshot(serde_json::json!({ "n": n }))))
        .collect();
    for (n, record) in records.into_iter().enumerate() {
        assert_eq!(
            record.await.unwrap().unwrap(),
            serde_json::json!({ "n": n })
        );
    }
    let offsets: Vec<Duration> = calls.lock().unwrap().iter().map(|t| *t - start).collect();
    assert_eq!(offsets.len(), 3, "one batch call, two retries");
    assert!(
        offsets[1] - offsets[0] >= Duration::from_secs(1),
        "after Retry-After"
    );

    // Refused every time: each record fails with the batch's status and
    // the attempts really made, for its dead letter.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let batches = stack(usize::MAX, calls.clone());
    let error = batches
        .oneshot(serde_json::json!({ "n": 0 }))
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), Some(3));
    assert_eq!(calls.lock().unwrap().len(), 3);
}
