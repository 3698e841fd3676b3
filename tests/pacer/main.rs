//! The `Pacer` stack and `Destinations`, in paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{self, Instant};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::destinations::{DestinationError, DestinationsLayer, PolicyTable};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

type Calls = Arc<Mutex<Vec<(String, Instant)>>>;

/// An API that answers 200 at once and records who it saw when; answers
/// 429 with `Retry-After: 1` to the first `reject` calls.
fn api(
    calls: Calls,
    reject: usize,
) -> impl Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = BoxError,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    service_fn(move |request: http::Request<String>| {
        let calls = calls.clone();
        async move {
            let mut calls = calls.lock().unwrap();
            let host = request.uri().host().unwrap_or_default().to_owned();
            calls.push((host, Instant::now()));
            let response = if calls.len() <= reject {
                http::Response::builder()
                    .status(429)
                    .header("retry-after", "1")
                    .body(String::new())?
            } else {
                http::Response::new(String::from("ok"))
            };
            Ok::<_, BoxError>(response)
        }
    })
}

fn get(url: &str) -> http::Request<String> {
    http::Request::get(url).body(String::new()).unwrap()
}

fn window_policy(limit: u64, window: Duration) -> Policy {
    let mut policy = Policy::default();
    policy.quotas = vec![QuotaSpec::window(limit, window)];
    policy
}

/// The most calls the API saw in any closed interval of length `window`.
fn busiest(calls: &Calls, window: Duration) -> usize {
    let mut times: Vec<Instant> = calls.lock().unwrap().iter().map(|(_, at)| *at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] <= window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn services_built_from_one_pacer_share_its_quota() {
    let calls = Calls::default();
    let pacer = Pacer::new(window_policy(10, Duration::from_secs(1))).unwrap();
    let a = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(api(calls.clone(), 0));
    let b = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(api(calls.clone(), 0));
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let service = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(service.oneshot(get("http://api.test/x")))
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Three windows' worth through two stacks: still 10 per second.
    assert_eq!(busiest(&calls, Duration::from_secs(1)), 10);
    let stats = pacer.stats();
    assert_eq!(
        (stats.requests, stats.succeeded, stats.attempts),
        (30, 30, 30)
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_caller_and_counts_in_the_stats() {
    let calls = Calls::default();
    let mut policy = window_policy(100, Duration::from_secs(1));
    policy.retry.safety_margin = Duration::ZERO;
    let pacer = Pacer::new(policy).unwrap();
    let client = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(api(calls.clone(), 1));
    let start = Instant::now();
    let first = tokio::spawn(client.clone().oneshot(get("http://api.test/a")));
    time::sleep(Duration::from_millis(10)).await;
    // The first call's 429 paused the destination for 1 s: this one waits too.
    let second = client
        .clone()
        .oneshot(get("http://api.test/b"))
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert!(first.await.unwrap().unwrap().status() == 200);
    let times: Vec<Duration> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, at)| *at - start)
        .collect();
    assert_eq!(times[0], Duration::ZERO);
    assert!(
        times[1..].iter().all(|t| *t >= Duration::from_secs(1)),
        "{times:?}"
    );
    let stats = pacer.stats();
    assert_eq!(
        (
            stats.requests,
            stats.attempts,
            stats.rate_limited,
            stats.retries()
        ),
        (2, 3, 1, 1)
    );
    assert!((stats.rate_limited_ratio() - 1.0 / 3.0).abs() < 1e-9);
}

#[tokio::test(start_paused = true)]
async fn one_throttled_destination_never_slows_another() {
    let calls = Calls::default();
    let table = PolicyTable::new()
        .with("slow.test", window_policy(1, Duration::from_secs(60)))
        .unwrap()
        .with_default(window_policy(1_000, Duration::from_secs(1)));
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(table))
        .service(api(calls.clone(), 0));
    let start = Instant::now();
    // The slow destination: one call a minute, five callers queued.
    let slow: Vec<_> = (0..5)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://slow.test/"))))
        .collect();
    time::sleep(Duration::from_millis(1)).await;
    // The fast one: 500 calls, all at once, while slow.test is throttled.
    let fast: Vec<_> = (0..500)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://fast.test/"))))
        .collect();
    for task in fast {
        task.await.unwrap().unwrap();
    }
    let fast_done = start.elapsed();
    assert!(
        fast_done <= Duration::from_millis(2),
        "fast.test took {fast_done:?}"
    );
    assert_eq!(
        client.pacer("slow.test").unwrap().stats().succeeded,
        1,
        "slow.test still waiting"
    );
    for task in slow {
        task.await.unwrap().unwrap();
    }
    assert!(start.elapsed() >= Duration::from_secs(4 * 60));
    assert_eq!(client.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_table_of_live_destinations_is_bounded() {
    let calls = Calls::default();
    let table = PolicyTable::new().with_default(window_policy(5, Duration::from_secs(10)));
    let layer = DestinationsLayer::new(table)
        .max_live(2)
        .unwrap()
        .min_idle(Duration::from_secs(1));
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(api(calls.clone(), 0));
    for host in ["a.test", "b.test"] {
        client
            .clone()
            .oneshot(get(&format!("http://{host}/")))
            .await
            .unwrap();
    }
    // Full, and both still hold quota state (their 10 s windows are recent).
    let err = client
        .clone()
        .oneshot(get("http://c.test/"))
        .await
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<DestinationError>(),
        Some(&DestinationError::TooMany {
            key: "c.test".into(),
            max: 2
        })
    );
    // Once a window has passed unused, their state is as good as new.
    time::advance(Duration::from_secs(11)).await;
    client.clone().oneshot(get("http://c.test/")).await.unwrap();
    assert!(client.len() <= 2);
    assert!(client.pacer("c.test").is_some());
    // Hostile input cannot grow the table.
    for n in 0..1_000 {
        let _ = client
            .clone()
            .oneshot(get(&format!("http://h{n}.test/")))
            .await;
    }
    assert!(client.len() <= 2);
}

/// Made-up host names against a full table: refused at once (the table is
/// swept at most every 100 ms, not on every refusal), and known
/// destinations keep working. Prints the cost per refusal.
#[tokio::test(start_paused = true)]
async fn a_stream_of_new_hosts_against_a_full_table_is_cheap() {
    const LIVE: usize = 1_024;
    let table = PolicyTable::new().with_default(window_policy(5, Duration::from_secs(10)));
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(table).max_live(LIVE).unwrap())
        .service(api(Calls::default(), 0));
    for n in 0..LIVE {
        client
            .clone()
            .oneshot(get(&format!("http://live{n}.test/")))
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    for n in 0..10_000 {
        let err = client
            .clone()
            .oneshot(get(&format!("http://made-up{n}.test/")))
            .await
            .unwrap_err();
        assert!(matches!(
            err.downcast_ref::<DestinationError>(),
            Some(DestinationError::TooMany { .. })
        ));
    }
    let per_refusal = started.elapsed() / 10_000;
    println!("{LIVE} live destinations: {per_refusal:?} per refused new host");
    client
        .clone()
        .oneshot(get("http://live7.test/"))
        .await
        .unwrap();
    assert_eq!(client.len(), LIVE);
}

/// Calls that waited in the queue went out late, and count in the window
/// from then: their destination is in use until they are done, not since
/// they were routed.
#[tokio::test(start_paused = true)]
async fn a_destination_is_kept_while_its_last_calls_still_count() {
    let calls = Calls::default();
    let table = PolicyTable::new().with_default(window_policy(100, Duration::from_secs(10)));
    let layer = DestinationsLayer::new(table)
        .max_live(1)
        .unwrap()
        .min_idle(Duration::from_secs(1));
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(api(calls.clone(), 0));
    let start = Instant::now();
    // Three windows' worth at once: they drain over 20 s, twice the window.
    let tasks: Vec<_> = (0..300)
        .map(|_| tokio::spawn(client.clone().oneshot(get("http://a.test/"))))
        .collect();
    time::sleep(Duration::from_millis(1)).await;
    let pacer = client.pacer("a.test").unwrap();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(start.elapsed() >= Duration::from_secs(20));
    // The last hundred went out just now: their window is full.
    assert_eq!(client.sweep(), 0);
    let err = client
        .clone()
        .oneshot(get("http://b.test/"))
        .await
        .unwrap_err();
    assert!(matches!(
        err.downcast_ref::<DestinationError>(),
        Some(DestinationError::TooMany { .. })
    ));
    client.clone().oneshot(get("http://a.test/")).await.unwrap();
    assert!(client.pacer("a.test").unwrap().same_as(&pacer));
    assert_eq!(busiest(&calls, Duration::from_secs(10)), 100);
}

/// A response body still streaming holds a concurrency permit: its
/// destination is in use until the permit is released.
#[tokio::test(start_paused = true)]
async fn a_destination_is_kept_while_a_permit_is_held() {
    let mut policy = window_policy(5, Duration::from_secs(1));
    policy.concurrency = Some(2);
    let layer = DestinationsLayer::new(PolicyTable::new().with_default(policy))
        .min_idle(Duration::from_secs(1));
    let client = ServiceBuilder::new()
        .layer(layer)
        .service(api(Calls::default(), 0));
    client.clone().oneshot(get("http://a.test/")).await.unwrap();
    let permit = client.pacer("a.test").unwrap().concurrency().try_acquire();
    assert!(permit.is_some());
    time::advance(Duration::from_secs(60)).await;
    assert_eq!(client.sweep(), 0);
    drop(permit);
    assert_eq!(client.sweep(), 1);
}

/// One server is one destination, with one quota, however its URIs spell
/// it; other ports are other services.
#[tokio::test(start_paused = true)]
async fn spellings_of_one_authority_share_one_destination() {
    let calls = Calls::default();
    let table = PolicyTable::new().with_default(window_policy(1, Duration::from_secs(1)));
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(table))
        .service(api(calls.clone(), 0));
    let start = Instant::now();
    for url in [
        "https://api.x.test/",
        "https://api.x.test:443/",
        "https://user@API.x.test./",
        "http://api.x.test:80/",
    ] {
        client.clone().oneshot(get(url)).await.unwrap();
    }
    assert_eq!(client.len(), 1);
    // One call per second between them all.
    assert!(start.elapsed() >= Duration::from_secs(3));
    for url in [
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8081/",
        "https://api.x.test:8443/",
    ] {
        client.clone().oneshot(get(url)).await.unwrap();
    }
    assert_eq!(client.len(), 4);
    let api = client.pacer("api.x.test").unwrap();
    for key in [
        "API.x.test",
        "api.x.test:443",
        "api.x.test.",
        "user@api.x.test:80",
    ] {
        assert!(client.pacer(key).unwrap().same_as(&api), "{key}");
    }
    let (a, b) = (
        client.pacer("127.0.0.1:8080"),
        client.pacer("127.0.0.1:8081"),
    );
    assert!(!a.unwrap().same_as(&b.unwrap()));
    assert!(!client.pacer("api.x.test:8443").unwrap().same_as(&api));
}

#[tokio::test]
async fn requests_without_a_destination_or_policy_fail_typed() {
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(
            PolicyTable::new()
                .with("known.test", Policy::default())
                .unwrap(),
        ))
        .service(api(Calls::default(), 0));
    let err = client.clone().oneshot(get("/relative")).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<DestinationError>(),
        Some(&DestinationError::NoKey)
    );
    let err = client
        .clone()
        .oneshot(get("http://other.test/"))
        .await
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<DestinationError>(),
        Some(&DestinationError::NoPolicy {
            key: "other.test".into()
        })
    );
    assert_eq!(
        DestinationsLayer::new(PolicyTable::new())
            .max_live(0)
            .unwrap_err()
            .field(),
        "destinations.max_live"
    );
    assert_eq!(
        PolicyTable::new()
            .with("*.", Policy::default())
            .unwrap_err()
            .field(),
        "destinations[\"*.\"]"
    );
    let mut bad = Policy::default();
    bad.concurrency = Some(0);
    assert_eq!(
        PolicyTable::new().with("x.test", bad).unwrap_err().field(),
        "destinations[\"x.test\"].concurrency"
    );
}

#[tokio::test(start_paused = true)]
async fn destinations_can_be_keyed_by_anything() {
    let calls = Calls::default();
    let table = PolicyTable::new().with_default(window_policy(1, Duration::from_secs(1)));
    let by_tenant = |request: &http::Request<String>| {
        request
            .headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let client = ServiceBuilder::new()
        .layer(DestinationsLayer::new(table).key(by_tenant))
        .service(api(calls.clone(), 0));
    let start = Instant::now();
    let request = |tenant: &str| {
        let mut request = get("http://shared.test/");
        request
            .headers_mut()
            .insert("x-tenant", tenant.parse().unwrap());
        request
    };
    // Same host, two tenants: each has its own quota of one per second.
    client.clone().oneshot(request("Acme")).await.unwrap();
    client.clone().oneshot(request("globex")).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    client.clone().oneshot(request("Acme")).await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1));
    // A key is found as the key function gave it, case and all.
    assert_eq!(client.pacer("Acme").unwrap().stats().requests, 2);
}

/// Stacks go into shared state (an axum router's, say): they must be
/// `Send + Sync + Clone`, whatever the policy turns on.
#[test]
fn pacer_stacks_can_live_in_shared_state() {
    fn shareable<T: Send + Sync + Clone + 'static>(_: &T) {}
    let mut policy = Policy::default();
    policy.concurrency = Some(4);
    policy.adaptive_rate = Some(Default::default());
    let pacer = Pacer::new(policy).unwrap();
    let stack = ServiceBuilder::new()
        .layer(pacer.layer())
        .service(api(Calls::default(), 0));
    shareable(&stack);
    let destinations = ServiceBuilder::new()
        .layer(DestinationsLayer::new(
            PolicyTable::new().with_default(Policy::default()),
        ))
        .service(api(Calls::default(), 0));
    shareable(&destinations);
}
