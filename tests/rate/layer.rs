//! The `RateLimit` layer and the limiter under concurrency: fairness,
//! sharing between clones, cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{self, Instant};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::rate::{Limiter, Quota, RateError, RateLimitLayer, WINDOW_GUARD};

const MS: Duration = Duration::from_millis(1);

type Log = Arc<Mutex<Vec<(u32, Instant)>>>;

/// A service that records the instant of every call it receives.
fn recorder() -> (
    impl Service<u32, Response = u32, Error = BoxError, Future = impl Send> + Clone + Send,
    Log,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let service = service_fn(move |n: u32| {
        sink.lock().unwrap().push((n, Instant::now()));
        async move { Ok::<_, BoxError>(n) }
    });
    (service, log)
}

#[tokio::test(start_paused = true)]
async fn a_thousand_waiters_are_served_in_order_at_distinct_instants() {
    let limiter = Limiter::new(Quota::per_second(100).unwrap());
    let start = Instant::now();
    let woke = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..1000u32 {
        let limiter = limiter.clone();
        let woke = woke.clone();
        tasks.push(tokio::spawn(async move {
            limiter.acquire(1).await.unwrap();
            woke.lock().unwrap().push((id, Instant::now() - start));
        }));
        // Each task reserves on its first poll; yield so they reserve in order.
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let woke = woke.lock().unwrap();
    assert_eq!(woke.len(), 1000);
    for (n, &(id, at)) in woke.iter().enumerate() {
        assert_eq!(id as usize, n, "served out of order");
        assert_eq!(at, n as u32 * 10 * MS, "waiter {id} woke at {at:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn sixteen_clones_on_sixteen_tasks_share_one_quota_exactly() {
    let limiter = Limiter::builder()
        .quota(Quota::window(20, Duration::from_secs(1)).unwrap())
        .build()
        .unwrap();
    let (inner, log) = recorder();
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(inner);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let mut service = service.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..10 {
                service
                    .ready()
                    .await
                    .unwrap()
                    .call(task * 100 + n)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut times: Vec<Duration> = log
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, at)| at - start)
        .collect();
    times.sort();
    assert_eq!(times.len(), 160);
    // 20 per second, exactly: 160 calls need 8 windows, each starting one
    // second and one timer tick after the last, and no 1 s interval ever
    // holds more than 20 calls, as sent.
    for (i, at) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|&&t| t - *at <= Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 20,
            "{in_window} calls in the second after {at:?}"
        );
    }
    let last = *times.last().unwrap();
    assert_eq!(
        last,
        7 * (Duration::from_secs(1) + WINDOW_GUARD),
        "last call at {last:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_layer_fails_fast_beyond_max_wait_and_for_oversized_costs() {
    let limiter = Limiter::builder()
        .quota(Quota::per_second(1).unwrap().with_burst(2).unwrap())
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let (inner, log) = recorder();
    let mut service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter).with_cost(|n: &u32| u64::from(*n)))
        .service(inner);
    let err = service.ready().await.unwrap().call(3).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<RateError>(),
        Some(RateError::CostTooLarge {
            cost: 3,
            capacity: 2,
            ..
        })
    ));
    service.ready().await.unwrap().call(2).await.unwrap();
    // Next unit slot is 1 s away (allowed); a cost of 2 would be 2 s away.
    let err = service.ready().await.unwrap().call(2).await.unwrap_err();
    match err.downcast_ref::<RateError>() {
        Some(RateError::QuotaExhausted { wait, .. }) => assert_eq!(*wait, Duration::from_secs(2)),
        other => panic!("expected QuotaExhausted, got {other:?}"),
    }
    let start = Instant::now();
    service.ready().await.unwrap().call(1).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(
        log.lock()
            .unwrap()
            .iter()
            .map(|&(n, _)| n)
            .collect::<Vec<_>>(),
        [2, 1]
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_trailing_waiters_give_their_slots_back() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap());
    let (inner, log) = recorder();
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(inner);
    let start = Instant::now();
    // Ten requests reserve slots 0, 100, …, 900 ms.
    let mut futures: Vec<_> = Vec::new();
    for n in 0..10 {
        let mut service = service.clone();
        futures.push(service.ready().await.unwrap().call(n));
    }
    // The last three callers give up (in any order among themselves).
    let dropped: Vec<_> = futures.drain(7..).collect();
    drop(dropped);
    for future in futures {
        future.await.unwrap();
    }
    // A new call takes the first freed slot, 700 ms.
    service.clone().oneshot(99).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        log.last().map(|&(n, at)| (n, at - start)),
        Some((99, 700 * MS))
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_in_the_middle_costs_at_most_its_own_slot() {
    let limiter = Limiter::builder()
        .quota(Quota::window(1, Duration::from_millis(100)).unwrap())
        .quota(Quota::window(100, Duration::from_secs(60)).unwrap())
        .build()
        .unwrap();
    let start = Instant::now();
    let reservations: Vec<_> = (0..5).map(|_| limiter.reserve(1).unwrap()).collect();
    let slots: Vec<Duration> = reservations.iter().map(|r| r.slot() - start).collect();
    let mut reservations = reservations.into_iter();
    let first = reservations.next().unwrap();
    let middle = reservations.next().unwrap();
    drop(middle); // not the newest: its slot (100 ms) stays spent
    let rest: Vec<_> = reservations.collect();
    // The others keep their slots; the next caller queues after them.
    assert_eq!(
        rest.iter().map(|r| r.slot() - start).collect::<Vec<_>>(),
        &slots[2..]
    );
    first.consume();
    let next = limiter.reserve(1).unwrap();
    assert!(next.slot() - start > slots[4]);
    // Dropping the newest two (in either order) returns both slots.
    drop(next);
    let mut rest = rest;
    let newest = rest.pop().unwrap();
    let second_newest = rest.pop().unwrap();
    drop(second_newest);
    drop(newest);
    assert_eq!(limiter.reserve(1).unwrap().slot() - start, slots[3]);
    // (That reservation was dropped at once and given back too.) The minute
    // band holds the first, the middle one (lost: the third still waits
    // after it) and the third.
    let held = 100 - limiter.snapshot().bands[1].remaining;
    assert_eq!(held, 3);
    drop(rest);
    // With the third given back, the orphaned middle one goes back as well.
    assert_eq!(100 - limiter.snapshot().bands[1].remaining, 1);
}

#[tokio::test(start_paused = true)]
async fn cancelled_acquire_gives_its_slot_back() {
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let start = Instant::now();
    limiter.acquire(1).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(200), limiter.acquire(1)).await;
    assert!(waiting.is_err(), "timed out while waiting");
    limiter.acquire(1).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "the cancelled slot was reused"
    );
}

#[tokio::test(start_paused = true)]
async fn the_gate_pauses_callers_of_the_layer() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap().with_burst(10).unwrap());
    let (inner, log) = recorder();
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(inner);
    let start = Instant::now();
    limiter.pause_until(start + Duration::from_secs(2));
    let calls: Vec<_> = (0..5).map(|n| service.clone().oneshot(n)).collect();
    for call in futures_util::future::join_all(calls).await {
        call.unwrap();
    }
    let times: Vec<Duration> = log
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, at)| at - start)
        .collect();
    assert_eq!(times, [2000, 2100, 2200, 2300, 2400].map(|ms| ms * MS));
    time::advance(Duration::from_secs(10)).await;
    assert_eq!(limiter.paused_until(), None);
}
