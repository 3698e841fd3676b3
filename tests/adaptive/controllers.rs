//! The controllers and layers over real services: what reaches the
//! limiter and the concurrency cap, and how they compose with retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::adaptive::{
    AdaptiveConcurrencyLayer, AdaptiveRateLayer, Aimd, ConcurrencyController, Cubic, Rate,
    RateController,
};
use tower_pacer::classify::{BoxErrors, HttpClassifier, Outcome};
use tower_pacer::concurrency::ConcurrencyLimiter;
use tower_pacer::rate::{Limiter, Quota, QuotaKind, RateLimitLayer};
use tower_pacer::retry::RetryLayer;

fn response(status: u16, headers: &[(&str, &str)]) -> Result<http::Response<()>, BoxError> {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Ok(builder.body(())?)
}

fn band(limiter: &Limiter) -> (f64, u64) {
    let quota = limiter.quotas()[0];
    match quota.kind() {
        QuotaKind::Rate { burst, .. } => (quota.per_second_rate(), burst),
        other => panic!("not a rate: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_throttle_sets_the_limiter_with_a_small_burst() {
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let aimd = Aimd::builder(200.0).build().unwrap();
    let controller = RateController::builder(limiter.clone(), aimd)
        .build()
        .unwrap();
    assert_eq!(band(&limiter), (200.0, 20), "100 ms of 200/s");
    let api = service_fn(|_: http::Request<()>| async { response(429, &[]) });
    let client = ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    let answer = client.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(answer.status(), 429, "results pass through");
    assert_eq!(controller.rate(), Rate::PerSecond(100.0));
    assert_eq!(band(&limiter), (100.0, 10));
    assert_eq!(controller.stats().throttles, 1);
    // The retry layer pauses on a 429; the controller does not (by default).
    assert_eq!(limiter.paused_until(), None);
}

#[tokio::test(start_paused = true)]
async fn under_retry_each_attempt_is_seen_and_the_pause_is_retrys() {
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let controller =
        RateController::builder(limiter.clone(), Aimd::builder(100.0).build().unwrap())
            .build()
            .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    // Two 429s with Retry-After: 1, then a success.
    let api = service_fn(move |_: http::Request<String>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                response(429, &[("retry-after", "1")])
            } else {
                response(200, &[])
            }
        }
    });
    let retry = RetryLayer::builder()
        .max_attempts(4)
        .limiter(limiter.clone())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(retry)
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    let start = Instant::now();
    let answer = client
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stats = controller.stats();
    assert_eq!(
        (stats.throttles, stats.successes),
        (2, 1),
        "every attempt reported"
    );
    // Each retry was sent after the previous cut: two cuts, 100 → 25.
    assert_eq!(stats.strategy_rate, Rate::PerSecond(25.0));
    // Two pauses of 1 s + 50 ms margin, not more: nothing doubled them.
    assert!(
        start.elapsed() < Duration::from_millis(2200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn header_pacing_spreads_what_is_left_and_pauses_at_zero() {
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let controller = RateController::builder(limiter.clone(), Cubic::builder().build().unwrap())
        .header_pacing(true)
        .build()
        .unwrap();
    let remaining = Arc::new(AtomicU32::new(20));
    let left = remaining.clone();
    let api = service_fn(move |_: http::Request<()>| {
        let r = left.load(Ordering::SeqCst).to_string();
        async move {
            response(
                200,
                &[
                    ("x-ratelimit-remaining", r.as_str()),
                    ("x-ratelimit-reset", "10"),
                ],
            )
        }
    });
    let client = ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    client
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(controller.rate(), Rate::PerSecond(2.0), "20 left over 10 s");
    assert_eq!(
        controller.stats().strategy_rate,
        Rate::Unlimited,
        "the strategy is untouched"
    );
    assert_eq!(limiter.paused_until(), None);
    remaining.store(0, Ordering::SeqCst);
    client.oneshot(http::Request::new(())).await.unwrap();
    let paused = limiter.paused_until().expect("paused until the reset");
    let wait = paused - Instant::now();
    assert!(
        wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_increase_reaches_callers_already_waiting() {
    // At 1/s, 20 callers would hold slots up to 20 s ahead in the limiter;
    // the gate keeps them out, so a higher rate applies to them at once.
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let aimd = Aimd::builder(1.0)
        .successes_to_increase(1)
        .increase_factor(10.0)
        .max_rate(100.0)
        .build()
        .unwrap();
    let controller = RateController::builder(limiter.clone(), aimd)
        .build()
        .unwrap();
    let api = service_fn(|_: http::Request<()>| async { response(200, &[]) });
    let client = ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter))
        .service(api);
    let start = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| tokio::spawn(client.clone().oneshot(http::Request::new(()))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // The first success lifts the rate to 10/s, the second to 100/s. The
    // limiter keeps the one slot it spaced at the old rate (1 s; see
    // `Limiter::set_quota`), then the rest go at the new rates: about
    // 1.3 s in all. Without the gate the last caller's slot was 19 s away.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn rate_controller_configuration_errors() {
    let window = Limiter::new(Quota::window(10, Duration::from_secs(1)).unwrap());
    let err = RateController::builder(window, Aimd::builder(1.0).build().unwrap())
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive.band");
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let err = RateController::builder(limiter.clone(), Aimd::builder(1.0).build().unwrap())
        .band(3)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive.band");
    let err = RateController::builder(limiter, Aimd::builder(1.0).build().unwrap())
        .burst_window(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive.burst_window");
    let cap = ConcurrencyLimiter::new(1).unwrap();
    let err = ConcurrencyController::builder(cap.clone())
        .initial(500)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive_concurrency.initial");
    let err = ConcurrencyController::builder(cap.clone())
        .min(0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive_concurrency.min");
    let err = ConcurrencyController::builder(cap)
        .decrease_ratio(1.0)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "adaptive_concurrency.decrease_ratio");
}

#[tokio::test(start_paused = true)]
async fn concurrency_grows_while_fast_and_shrinks_on_503() {
    let cap = ConcurrencyLimiter::new(1).unwrap();
    let controller = ConcurrencyController::builder(cap.clone())
        .initial(4)
        .max(50)
        .build()
        .unwrap();
    assert_eq!(cap.limit(), 4);
    let overloaded = Arc::new(AtomicU32::new(0));
    let flag = overloaded.clone();
    let api = service_fn(move |_: http::Request<()>| {
        let status = if flag.load(Ordering::SeqCst) == 1 {
            503
        } else {
            200
        };
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            response(status, &[])
        }
    });
    let client = ServiceBuilder::new()
        .layer(AdaptiveConcurrencyLayer::with_classifier(
            controller.clone(),
            BoxErrors(HttpClassifier::default()),
        ))
        .service(api);
    let burst = |n: usize| {
        let client = client.clone();
        async move {
            let calls: Vec<_> = (0..n)
                .map(|_| tokio::spawn(client.clone().oneshot(http::Request::new(()))))
                .collect();
            for call in calls {
                call.await.unwrap().unwrap();
            }
        }
    };
    burst(400).await;
    let grown = controller.stats().limit;
    assert!(grown > 10, "stayed at {grown}");
    assert_eq!(cap.limit(), grown);
    assert!(
        controller
            .stats()
            .rtt
            .is_some_and(|rtt| rtt >= Duration::from_millis(20))
    );
    overloaded.store(1, Ordering::SeqCst);
    burst(100).await;
    assert!(controller.stats().limit < grown, "did not shrink");
}

/// Closed-loop intervals of 50 ms against a server that refuses every
/// call beyond `server_cap` at once; returns (refusals, sum of the caps
/// in force) over `intervals`.
async fn hard_cap_intervals(
    controller: &ConcurrencyController,
    cap: &ConcurrencyLimiter,
    server_cap: usize,
    intervals: usize,
) -> (usize, usize) {
    let (mut refused, mut caps) = (0, 0);
    for _ in 0..intervals {
        caps += cap.limit();
        let permits: Vec<_> = std::iter::from_fn(|| cap.try_acquire()).collect();
        controller.on_call();
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A refusal comes back first, before the calls still at work.
        for _ in server_cap..permits.len() {
            refused += 1;
            controller.observe(start, &Outcome::RateLimited { retry_after: None });
        }
        for _ in 0..permits.len().min(server_cap) {
            controller.observe(start, &Outcome::Success);
        }
        drop(permits);
    }
    (refused, caps)
}

/// After a refusal at a cap, the controller waits before trying that cap
/// again, longer each time it is refused again; a cap that rises is still
/// found within a few probe waits.
#[tokio::test(start_paused = true)]
async fn a_refused_cap_is_probed_again_ever_more_rarely() {
    let cap = ConcurrencyLimiter::new(1).unwrap();
    let controller = ConcurrencyController::builder(cap.clone())
        .initial(10)
        .max(50)
        .build()
        .unwrap();
    // Reach 11 and be refused there, then settle.
    let (refused, _) = hard_cap_intervals(&controller, &cap, 10, 100).await;
    assert!(
        (1..=6).contains(&refused),
        "{refused} refusals while learning"
    );
    let (refused, caps) = hard_cap_intervals(&controller, &cap, 10, 400).await;
    // Probes every 32 intervals at most once the wait has grown.
    assert!(
        refused <= 400 / 32 + 1,
        "{refused} refusals in 400 intervals"
    );
    let mean = caps as f64 / 400.0;
    assert!(mean >= 9.8, "mean cap {mean}");
    // The server now takes 20 at once: found within two probe waits and
    // ten steps up.
    let (_, _) = hard_cap_intervals(&controller, &cap, 20, 32 + 32 + 10).await;
    assert!(cap.limit() >= 20, "stuck at {}", cap.limit());
}

#[tokio::test(start_paused = true)]
async fn a_pause_on_the_servers_word_is_bounded_by_max_pause() {
    // Quota headers saying nothing is left for a day, then a 429 asking for
    // a day: neither parks the destination longer than `max_pause`.
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let controller = RateController::builder(limiter.clone(), Cubic::builder().build().unwrap())
        .header_pacing(true)
        .pause_on_throttle(true)
        .max_pause(Duration::from_secs(90))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let api = service_fn(move |_: http::Request<()>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                response(
                    200,
                    &[
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "86400"),
                    ],
                )
            } else {
                response(429, &[("retry-after", "86400")])
            }
        }
    });
    let client = ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    let start = Instant::now();
    client
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(
        limiter.paused_until(),
        Some(start + Duration::from_secs(90))
    );
    client.oneshot(http::Request::new(())).await.unwrap();
    let now = Instant::now();
    assert_eq!(now, start + Duration::from_secs(90), "waited out the pause");
    assert_eq!(limiter.paused_until(), Some(now + Duration::from_secs(90)));
}

#[tokio::test(start_paused = true)]
async fn the_limiters_headroom_does_not_slow_the_controllers_rate() {
    // A 10 ms margin on a band of "1 call per 10 ms" would halve 100/s;
    // the controller's rate is what it reports, whatever the headroom.
    for (fraction, margin) in [(1.0, 0), (0.9, 10), (0.98, 20), (1.0, 500)] {
        let limiter = Limiter::builder()
            .quota(Quota::per_second(1).unwrap())
            .headroom(fraction)
            .margin(Duration::from_millis(margin))
            .build()
            .unwrap();
        let aimd = Aimd::builder(100.0).build().unwrap();
        let controller = RateController::builder(limiter.clone(), aimd)
            .build()
            .unwrap();
        assert_eq!(controller.rate(), Rate::PerSecond(100.0));
        let start = Instant::now();
        // The burst (100 ms of the rate: 10), then 100 more at 10 ms each.
        for _ in 0..110 {
            limiter.acquire(1).await.unwrap();
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(999) && took <= Duration::from_millis(1001),
            "headroom {fraction} + {margin} ms: {took:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_nearly_spent_quota_paces_no_slower_than_one_call_per_max_pause() {
    // "1 left for a day" would hold every caller for a day, where "0 left"
    // pauses them `max_pause` at most: the cap has the same bound.
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let controller = RateController::builder(limiter.clone(), Cubic::builder().build().unwrap())
        .header_pacing(true)
        .max_pause(Duration::from_secs(90))
        .build()
        .unwrap();
    let api = service_fn(|_: http::Request<()>| async {
        response(
            200,
            &[
                ("x-ratelimit-remaining", "1"),
                ("x-ratelimit-reset", "86400"),
            ],
        )
    });
    let client = ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller.clone()))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    client.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(controller.rate(), Rate::PerSecond(1.0 / 90.0));
}

#[tokio::test(start_paused = true)]
async fn permits_waiting_for_a_rate_slot_do_not_grow_the_cap() {
    // Under a 2/s rate limit with 50 ms answers the server never sees more
    // than one call at a time; the permits of calls waiting for their slot
    // above must not read as "the cap is used" and grow it regardless.
    let cap = ConcurrencyLimiter::new(1).unwrap();
    let controller = ConcurrencyController::builder(cap.clone()).build().unwrap();
    let limiter = Limiter::new(Quota::per_second(2).unwrap());
    let api = service_fn(|_: http::Request<()>| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        response(200, &[])
    });
    let client = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .layer(AdaptiveConcurrencyLayer::with_classifier(
            controller.clone(),
            BoxErrors(HttpClassifier::default()),
        ))
        .service(api);
    let calls: Vec<_> = (0..60)
        .map(|_| tokio::spawn(client.clone().oneshot(http::Request::new(()))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert!(
        controller.stats().limit <= 2,
        "the cap grew to {}",
        controller.stats().limit
    );
}
