//! The shared, resizable concurrency cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::time;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::concurrency::{ConcurrencyLimitLayer, ConcurrencyLimiter};

/// A service that takes 100 ms per call and records the peak in flight.
fn slow(
    peak: Arc<AtomicUsize>,
    now: Arc<AtomicUsize>,
) -> impl Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone + Send {
    service_fn(move |n: u32| {
        let (peak, now) = (peak.clone(), now.clone());
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            time::sleep(Duration::from_millis(100)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(n)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn clones_on_many_tasks_share_one_cap() {
    let (peak, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cap = ConcurrencyLimiter::new(3).unwrap();
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(cap.clone()))
        .service(slow(peak.clone(), now.clone()));
    let start = time::Instant::now();
    let tasks: Vec<_> = (0..12)
        .map(|n| tokio::spawn(service.clone().oneshot(n)))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    // 12 calls, 3 at a time, 100 ms each.
    assert_eq!(start.elapsed(), Duration::from_millis(400));
    assert_eq!(cap.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn resizing_while_calls_are_in_flight() {
    let (peak, now) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cap = ConcurrencyLimiter::new(4).unwrap();
    let service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(cap.clone()))
        .service(slow(peak.clone(), now.clone()));
    let first: Vec<_> = (0..4)
        .map(|n| tokio::spawn(service.clone().oneshot(n)))
        .collect();
    time::sleep(Duration::from_millis(10)).await;
    assert_eq!(cap.in_flight(), 4);
    // Shrink below what is in flight: nobody new starts until they drain.
    cap.resize(1).unwrap();
    assert_eq!(cap.limit(), 1);
    peak.store(0, Ordering::SeqCst);
    let second: Vec<_> = (10..14)
        .map(|n| tokio::spawn(service.clone().oneshot(n)))
        .collect();
    for task in first {
        task.await.unwrap().unwrap();
    }
    time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        now.load(Ordering::SeqCst),
        1,
        "one at a time after the shrink"
    );
    // Grow again: the waiting calls go out together.
    cap.resize(3).unwrap();
    time::sleep(Duration::from_millis(10)).await;
    assert_eq!(now.load(Ordering::SeqCst), 3);
    for task in second {
        task.await.unwrap().unwrap();
    }
    assert_eq!(cap.in_flight(), 0);
    assert!(cap.try_acquire().is_some());
}

#[tokio::test(start_paused = true)]
async fn growing_cancels_a_pending_shrink_first() {
    let cap = ConcurrencyLimiter::new(2).unwrap();
    let a = cap.try_acquire().unwrap();
    let b = cap.try_acquire().unwrap();
    cap.resize(1).unwrap(); // both held: one permit is owed
    cap.resize(2).unwrap(); // the debt is cancelled instead of adding a permit
    drop(a);
    drop(b);
    let held: Vec<_> = std::iter::from_fn(|| cap.try_acquire()).take(5).collect();
    assert_eq!(held.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn body_variant_holds_the_permit_until_the_body_ends() {
    let cap = ConcurrencyLimiter::new(1).unwrap();
    let mut service = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(cap.clone()).until_body_end())
        .service(service_fn(|_: ()| async {
            Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
        }));
    let response = service.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(cap.in_flight(), 1, "head arrived, body unread");
    assert!(cap.try_acquire().is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
    assert_eq!(cap.in_flight(), 0, "body read to its end");
    // A dropped body releases too.
    let response = service.ready().await.unwrap().call(()).await.unwrap();
    drop(response);
    assert_eq!(cap.in_flight(), 0);
}

#[tokio::test]
async fn bad_caps_are_config_errors() {
    assert_eq!(
        ConcurrencyLimiter::new(0).unwrap_err().field(),
        "concurrency.limit"
    );
    let cap = ConcurrencyLimiter::new(1).unwrap();
    assert_eq!(cap.resize(0).unwrap_err().field(), "concurrency.limit");
    assert_eq!(
        cap.resize(usize::MAX).unwrap_err().field(),
        "concurrency.limit"
    );
    assert_eq!(cap.limit(), 1);
}
