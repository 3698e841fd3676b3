//! The bulk runner: backpressure, progress, graceful stop, nothing lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::{self, Instant};
use tower::service_fn;
use tower_pacer::BoxError;
use tower_pacer::bulk::{Bulk, HttpSuccess};
use tower_pacer::retry::Attempts;

/// 100 ms per item; items divisible by 7 fail.
fn slow_api(
    peak: Arc<AtomicUsize>,
    now: Arc<AtomicUsize>,
) -> impl tower::Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Send {
    service_fn(move |n: u32| {
        let (peak, now) = (peak.clone(), now.clone());
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            time::sleep(Duration::from_millis(100)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            if n.is_multiple_of(7) {
                Err(BoxError::from("refused"))
            } else {
                Ok(n)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn keeps_the_set_number_in_flight_and_accounts_for_every_item() {
    let (peak, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (bulk, submitter) = Bulk::new(slow_api(peak.clone(), now), 10, 4).unwrap();
    let mut progress = bulk.progress();
    let producer = tokio::spawn(async move {
        for n in 1..=100 {
            submitter.submit(n).await.unwrap();
        }
    });
    let run = tokio::spawn(bulk.run());
    // Midway, progress shows the work.
    time::sleep(Duration::from_millis(1_050)).await;
    progress.changed().await.unwrap();
    let midway = *progress.borrow();
    assert_eq!(midway.in_flight, 4);
    assert_eq!(midway.done(), 40);
    assert!(midway.queued <= 10);
    assert!(
        !producer.is_finished(),
        "the bounded queue holds the producer back"
    );
    let finished = run.await.unwrap();
    producer.await.unwrap();
    let report = finished.report;
    assert_eq!(peak.load(Ordering::SeqCst), 4);
    assert_eq!(
        (report.submitted, report.succeeded, report.failed),
        (100, 86, 14)
    );
    assert!(report.nothing_lost());
    assert!(finished.unsent.is_empty());
    assert_eq!(report.wall, Duration::from_millis(2_500));
    assert_eq!(report.records_per_second(), 86.0 / 2.5);
}

#[tokio::test(start_paused = true)]
async fn a_stop_lets_calls_in_flight_finish_and_hands_back_the_queue() {
    let (peak, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (bulk, submitter) = Bulk::new(slow_api(peak, now.clone()), 50, 5).unwrap();
    let stop = bulk.stop_handle();
    let producer = tokio::spawn(async move {
        let mut refused = 0;
        for n in 1..=200 {
            if submitter.submit(n).await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    let run = tokio::spawn(bulk.run());
    time::sleep(Duration::from_millis(250)).await;
    stop.stop();
    let start = Instant::now();
    let finished = run.await.unwrap();
    // The five calls in flight finished; nothing new was sent.
    assert!(start.elapsed() <= Duration::from_millis(100));
    assert_eq!(now.load(Ordering::SeqCst), 0);
    let report = &finished.report;
    assert_eq!(report.submitted, 15);
    assert!(report.nothing_lost());
    assert_eq!(report.not_started, finished.unsent.len() as u64);
    let refused = producer.await.unwrap();
    // Every item is either done, handed back, or refused at the door.
    assert_eq!(report.submitted + report.not_started + refused, 200);
    assert_eq!(finished.unsent.first(), Some(&16), "queue order kept");
}

#[tokio::test(start_paused = true)]
async fn http_results_count_final_statuses_and_attempts() {
    let api = service_fn(|n: u32| async move {
        let status = if n.is_multiple_of(4) { 429 } else { 200 };
        let mut response = http::Response::builder().status(status).body(())?;
        response.extensions_mut().insert(Attempts(1 + n % 3));
        Ok::<_, BoxError>(response)
    });
    let (bulk, submitter) = Bulk::new(api, 8, 2).unwrap();
    let bulk = bulk.judge(HttpSuccess);
    tokio::spawn(async move {
        for n in 0..12 {
            submitter.submit(n).await.unwrap();
        }
    });
    let report = bulk.run().await.report;
    assert_eq!((report.succeeded, report.failed), (9, 3));
    assert_eq!(report.attempts.values().sum::<u64>(), 12);
    assert_eq!(report.attempts.get(&3), Some(&4));
    // Four items took 2 attempts (1 retry each), four took 3 (2 each).
    assert_eq!(report.retries(), 4 + 8);
}

#[tokio::test(start_paused = true)]
async fn wall_time_runs_from_the_first_item_taken_to_the_last_one_finished() {
    let (peak, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (bulk, submitter) = Bulk::new(slow_api(peak, now), 10, 10).unwrap();
    // The producer starts late and lingers after its last item.
    tokio::spawn(async move {
        time::sleep(Duration::from_secs(5)).await;
        for n in 1..=10 {
            submitter.submit(n).await.unwrap();
        }
        time::sleep(Duration::from_secs(5)).await;
    });
    let report = bulk.run().await.report;
    assert_eq!(report.submitted, 10);
    // Ten at once, 100 ms each.
    assert_eq!(report.wall, Duration::from_millis(100));
    assert_eq!(report.records_per_second(), 9.0 / 0.1);

    // No item: no wall time.
    let api = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    let (bulk, submitter) = Bulk::<_, u32>::new(api, 1, 1).unwrap();
    tokio::spawn(async move {
        time::sleep(Duration::from_secs(3)).await;
        drop(submitter);
    });
    let report = bulk.run().await.report;
    assert_eq!((report.submitted, report.wall), (0, Duration::ZERO));
}

#[test]
fn bad_sizes_are_config_errors() {
    let api = service_fn(|n: u32| async move { Ok::<_, BoxError>(n) });
    assert_eq!(
        Bulk::<_, u32>::new(api, 0, 1).unwrap_err().field(),
        "bulk.queue"
    );
    assert_eq!(
        Bulk::<_, u32>::new(api, 1, 0).unwrap_err().field(),
        "bulk.in_flight"
    );
}

/// A run whose every item fails, with dead letters in SQLite: the slots'
/// puts share transactions (group commit), and every item is a letter,
/// stored once, before the run counts it failed.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_failing_is_dead_lettered_once_through_sqlite() {
    use bytes::Bytes;
    use http_body_util::Full;
    use tower::ServiceBuilder;
    use tower_pacer::dlq::{DeadLetterLayer, DeadLetterStore, SqliteStore};

    const ITEMS: u32 = 600;
    let dir = std::env::temp_dir().join(format!("pacer-bulk-dlq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("letters.sqlite3")).unwrap());
    let refusing = service_fn(|_: http::Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(http::Response::builder().status(422).body(())?)
    });
    let api = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm"))
        .service(refusing);
    let (bulk, submitter) = Bulk::new(api, 64, 32).unwrap();
    tokio::spawn(async move {
        for n in 0..ITEMS {
            let request = http::Request::post("https://crm.test/contacts")
                .body(Full::new(Bytes::from(format!("{{\"id\":\"r{n}\"}}"))))
                .unwrap();
            if submitter.submit(request).await.is_err() {
                break;
            }
        }
    });
    let finished = bulk.judge(HttpSuccess).run().await;
    assert_eq!(finished.report.failed, u64::from(ITEMS));
    assert!(finished.report.nothing_lost());
    let mut bodies: Vec<Bytes> = store
        .peek(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.body)
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), ITEMS as usize, "one letter per item");
    let _ = std::fs::remove_dir_all(&dir);
}
