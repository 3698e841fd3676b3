//! A quota shared through Redis: two `Limiter` handles with their own
//! connections stand for two processes. Needs Redis (see `tests/support/redis.rs`).

#[path = "../support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::redis::{connection, unique_key, url, url_db};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::rate::{Fallback, Limiter, Quota, RateError, RateLimitLayer, RedisLimiter};

/// Two "processes": two limiters on one key, each with its own connection.
async fn pair(key: &str, quotas: &[Quota]) -> (Limiter, Limiter) {
    connection().await; // fails clearly if Redis is not there
    let build = || {
        quotas
            .iter()
            .fold(RedisLimiter::builder(url(), key), |b, q| b.quota(*q))
            .build()
            .expect("valid limiter")
    };
    (build(), build())
}

#[tokio::test]
async fn two_handles_share_one_rate() {
    let key = unique_key("share-rate");
    // 20 per second, evenly spaced: 40 calls take about 2 s whoever makes them.
    let (a, b) = pair(&key, &[Quota::per_second(20).unwrap()]).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { limiter.acquire(1).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let elapsed = start.elapsed();
    // 39 intervals of 50 ms after the first call.
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
}

#[tokio::test]
async fn bands_are_charged_all_or_nothing() {
    let key = unique_key("all-or-nothing");
    connection().await;
    let wide = Quota::window(10, Duration::from_secs(60)).unwrap();
    let narrow = Quota::window(2, Duration::from_secs(60)).unwrap();
    let both = RedisLimiter::builder(url(), &key)
        .quota(wide)
        .quota(narrow)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    both.acquire(1).await.unwrap();
    both.acquire(1).await.unwrap();
    for _ in 0..5 {
        let refused = both.acquire(1).await.unwrap_err();
        assert!(
            matches!(refused, RateError::QuotaExhausted { .. }),
            "{refused:?}"
        );
    }
    // The wide band (band 0, the same key) saw only the two grants: 8 left.
    let wide_only = RedisLimiter::builder(url(), &key)
        .quota(wide)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    for n in 0..8 {
        wide_only
            .acquire(1)
            .await
            .unwrap_or_else(|e| panic!("grant {n}: {e}"));
    }
    assert!(matches!(
        wide_only.acquire(1).await,
        Err(RateError::QuotaExhausted { .. })
    ));
}

#[tokio::test]
async fn a_refused_rate_band_is_not_charged() {
    let key = unique_key("rate-not-charged");
    connection().await;
    let rate = Quota::per_second(1).unwrap().with_burst(5).unwrap();
    let narrow = Quota::window(2, Duration::from_secs(60)).unwrap();
    let both = RedisLimiter::builder(url(), &key)
        .quota(rate)
        .quota(narrow)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    both.acquire(1).await.unwrap();
    both.acquire(1).await.unwrap();
    for _ in 0..5 {
        assert!(both.acquire(1).await.is_err());
    }
    let rate_only = RedisLimiter::builder(url(), &key)
        .quota(rate)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    // Burst 5, two spent: three more at once, then the rate.
    for _ in 0..3 {
        rate_only.acquire(1).await.unwrap();
    }
    assert!(rate_only.acquire(1).await.is_err());
}

#[tokio::test]
async fn a_window_is_shared_across_handles() {
    // The exact invariant (never more than 5 grants in any 300 ms of
    // Redis time) is checked on the grants themselves by the unit tests of
    // `rate::redis`; here, the calls' own pace.
    let key = unique_key("window");
    let window = Duration::from_millis(300);
    connection().await;
    // Calls due at once go out when their reply arrives, late by its trip
    // back (a batch of replies comes back together); the margin the docs
    // advise for a shared limiter absorbs that.
    let build = || {
        RedisLimiter::builder(url(), &key)
            .quota(Quota::window(5, window).unwrap())
            .margin(Duration::from_millis(10))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            limiter.acquire(1).await.unwrap();
            Instant::now()
        }));
    }
    let mut granted = Vec::new();
    for task in tasks {
        granted.push(task.await.unwrap());
    }
    granted.sort();
    // 30 calls, 5 per window: the last five went at least 5 windows in.
    let elapsed = start.elapsed();
    assert!(elapsed >= 5 * window, "{elapsed:?}");
    assert!(elapsed < 8 * window, "{elapsed:?}");
    // Woken calls are never early: six of them span more than a window.
    for (i, six) in granted.windows(6).enumerate() {
        assert!(
            six[5] - six[0] >= window,
            "calls {i}..{}: {:?}; all: {:?}",
            i + 5,
            six[5] - six[0],
            granted.iter().map(|t| *t - start).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_pause_seen_by_one_process_holds_the_other() {
    let key = unique_key("pause");
    let (a, b) = pair(&key, &[Quota::per_second(100).unwrap()]).await;
    a.acquire(1).await.unwrap();
    b.acquire(1).await.unwrap();
    let start = Instant::now();
    a.pause_until(start + Duration::from_secs(1));
    assert!(a.paused_until().is_some(), "the local gate closes at once");
    // The pause reaches Redis in the background.
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.acquire(1).await.unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
}

#[tokio::test]
async fn the_layer_paces_through_redis() {
    let key = unique_key("layer");
    let (a, b) = pair(
        &key,
        &[Quota::window(5, Duration::from_millis(300)).unwrap()],
    )
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let make = |limiter: Limiter| {
        let calls = calls.clone();
        ServiceBuilder::new()
            .layer(RateLimitLayer::new(limiter))
            .service(service_fn(move |n: u32| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, BoxError>(n) }
            }))
    };
    let (one, two) = (make(a), make(b));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..15 {
        let service = if n % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(service.oneshot(n)));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 15);
    // 15 calls, 5 per 300 ms: the last five waited two windows.
    assert!(start.elapsed() >= Duration::from_millis(600));
}

#[tokio::test]
async fn sync_methods_refuse_with_a_typed_error() {
    let limiter = RedisLimiter::builder(url(), unique_key("sync"))
        .quota(Quota::per_second(10).unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        limiter.try_acquire(1),
        Err(RateError::Unavailable { .. })
    ));
    assert!(matches!(
        limiter.reserve(1),
        Err(RateError::Unavailable { .. })
    ));
    // A cost no band can hold is refused without a round trip.
    assert!(matches!(
        limiter.acquire(11).await,
        Err(RateError::CostTooLarge { capacity: 1, .. })
    ));
}

/// A port nothing listens on.
async fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("redis://127.0.0.1:{port}")
}

#[tokio::test]
async fn unreachable_redis_fails_closed() {
    let limiter = RedisLimiter::builder(closed_port().await, "nowhere")
        .quota(Quota::per_second(10).unwrap())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let error = limiter.acquire(1).await.unwrap_err();
        assert!(matches!(error, RateError::Unavailable { .. }), "{error:?}");
        assert!(start.elapsed() < Duration::from_millis(400));
    }
    // Through the layer, the call never reaches the service.
    let service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .service(service_fn(|_: ()| async {
            panic!("must not be called");
            #[allow(unreachable_code)]
            Ok::<(), BoxError>(())
        }));
    let error: BoxError = service.oneshot(()).await.unwrap_err();
    assert!(matches!(
        error.downcast_ref::<RateError>(),
        Some(RateError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_a_local_share() {
    let limiter = RedisLimiter::builder(closed_port().await, "nowhere")
        .quota(Quota::window(10, Duration::from_secs(60)).unwrap())
        .max_wait(Duration::from_millis(100))
        .fallback(Fallback::Local { share: 0.5 })
        .build()
        .unwrap();
    // Half of 10: five calls, then the local window is full.
    for _ in 0..5 {
        limiter.acquire(1).await.unwrap();
    }
    let error = limiter.acquire(1).await.unwrap_err();
    assert!(
        matches!(error, RateError::QuotaExhausted { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_silent_redis_never_holds_a_caller_past_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let limiter = RedisLimiter::builder(format!("redis://127.0.0.1:{port}"), "silent")
        .quota(Quota::per_second(10).unwrap())
        .timeout(Duration::from_millis(200))
        .max_wait(Duration::from_millis(500))
        .build()
        .unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let error = limiter.acquire(1).await.unwrap_err();
        assert!(matches!(error, RateError::Unavailable { .. }), "{error:?}");
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
    }
    held.abort();
}

/// A wrong password is an answer, not silence: the error says so.
#[tokio::test]
async fn a_wrong_password_is_reported_as_such() {
    let wrong = url().replacen("redis://", "redis://:not-the-password@", 1);
    let limiter = RedisLimiter::builder(wrong, unique_key("auth"))
        .quota(Quota::per_second(10).unwrap())
        .build()
        .unwrap();
    let error = limiter.acquire(1).await.unwrap_err();
    let RateError::Unavailable { reason, .. } = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    let reason = reason.to_lowercase();
    assert!(
        reason.contains("auth") || reason.contains("password"),
        "{error}"
    );
    assert!(!reason.contains("did not answer"), "{error}");
    assert!(!error.to_string().contains("not-the-password"), "{error}");
}

#[tokio::test]
async fn connect_reports_an_unreachable_redis() {
    let result = RedisLimiter::builder(closed_port().await, "nowhere")
        .quota(Quota::per_second(10).unwrap())
        .timeout(Duration::from_millis(300))
        .connect()
        .await;
    let error = result.unwrap_err();
    assert!(matches!(
        error.downcast_ref::<RateError>(),
        Some(RateError::Unavailable { .. })
    ));
    let limiter = RedisLimiter::builder(url(), unique_key("connect"))
        .quota(Quota::per_second(10).unwrap())
        .connect()
        .await
        .unwrap();
    limiter.acquire(1).await.unwrap();
}

#[tokio::test]
async fn a_killed_connection_reconnects_by_itself() {
    // A database of its own, to find this test's connections and no other.
    const DB: u8 = 9;
    let mut admin = connection().await;
    let limiter = RedisLimiter::builder(url_db(DB), unique_key("reconnect"))
        .quota(Quota::per_second(1000).unwrap())
        .retry_after(Duration::from_millis(100))
        .build()
        .unwrap();
    limiter.acquire(1).await.unwrap();
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    let mut killed = 0;
    for line in clients
        .lines()
        .filter(|l| l.contains(&format!(" db={DB} ")))
    {
        let Some(id) = line.split(' ').find_map(|f| f.strip_prefix("id=")) else {
            continue;
        };
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .unwrap();
        killed += n;
    }
    assert!(killed >= 1, "the limiter's connection was not found");
    let start = Instant::now();
    let mut failures = 0;
    loop {
        match limiter.acquire(1).await {
            Ok(()) => break,
            Err(RateError::Unavailable { .. }) => failures += 1,
            Err(other) => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no reconnection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it keeps working.
    for _ in 0..10 {
        limiter.acquire(1).await.unwrap();
    }
    eprintln!(
        "reconnected after {failures} refused calls, {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_bucketed_window_may_change_its_limit_not_its_window() {
    // Above 4 096 a window is counted in buckets numbered by the window's
    // width: a new width would misread the buckets every process shares.
    let key = unique_key("bucketed-set-quota");
    let (limiter, _) = pair(
        &key,
        &[Quota::window(10_000, Duration::from_secs(60)).unwrap()],
    )
    .await;
    limiter
        .set_quota(0, Quota::window(20_000, Duration::from_secs(60)).unwrap())
        .unwrap();
    let error = limiter
        .set_quota(0, Quota::window(20_000, Duration::from_secs(30)).unwrap())
        .unwrap_err();
    assert_eq!(error.field(), "quotas[0]", "{error}");
    assert_eq!(
        limiter.quotas(),
        [Quota::window(20_000, Duration::from_secs(60)).unwrap()]
    );
}
