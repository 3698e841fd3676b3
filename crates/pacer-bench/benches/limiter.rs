//! Limiter and layer overhead, side by side with governor and tower.
//!
//! Run: `cargo bench --features fast-clock --bench limiter`
//!
//! - `acquire`: taking a free slot — tower-pacer's lock-free rate band and
//!   its multi-band (mutex) path vs governor's `check()` with its default
//!   clock.
//! - `layer`: one call through a ready no-op service — bare, behind our
//!   `RateLimit` + `ConcurrencyLimit`, and behind tower's `Buffer` +
//!   `RateLimit` + `ConcurrencyLimit` (tower's `RateLimit` is not `Clone`,
//!   so sharing it needs the `Buffer`).
//! - `stack`: one HTTP call through a ready no-op service — bare, and
//!   behind a whole `Pacer` stack (stats and tracing spans at both levels,
//!   retry with classification, limiter, concurrency cap).
//! - `contended`: two threads hammering one limiter.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::concurrency::{ConcurrencyLimitLayer, ConcurrencyLimiter};
use tower_pacer::rate::{Limiter, LimiterClock, Quota, RateLimitLayer};

/// A quota so large that every slot is free: we measure the bookkeeping.
fn roomy() -> Quota {
    Quota::per_second(1_000_000_000)
        .unwrap()
        .with_burst(1_000_000_000)
        .unwrap()
}

fn governor_roomy() -> governor::DefaultDirectRateLimiter {
    governor::RateLimiter::direct(
        governor::Quota::per_second(NonZeroU32::MAX).allow_burst(NonZeroU32::MAX),
    )
}

fn acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("acquire");
    let ours = Limiter::new(roomy());
    group.bench_function("tower-pacer rate band (try_acquire)", |b| {
        b.iter(|| black_box(ours.try_acquire(black_box(1))).is_ok())
    });
    let fast = Limiter::builder()
        .quota(roomy())
        .clock(LimiterClock::Fast)
        .build()
        .unwrap();
    group.bench_function("tower-pacer rate band, fast clock (try_acquire)", |b| {
        b.iter(|| black_box(fast.try_acquire(black_box(1))).is_ok())
    });
    let governor = governor_roomy();
    group.bench_function("governor check()", |b| {
        b.iter(|| black_box(governor.check()).is_ok())
    });
    let bands = Limiter::builder()
        .quota(Quota::window(1_000_000_000, Duration::from_secs(1)).unwrap())
        .quota(roomy())
        .build()
        .unwrap();
    group.bench_function("tower-pacer window + rate bands (try_acquire)", |b| {
        b.iter(|| black_box(bands.try_acquire(black_box(1))).is_ok())
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("layer");
    let noop = service_fn(|n: u64| async move { Ok::<_, tower::BoxError>(n) });

    group.bench_function("bare service", |b| {
        b.iter_custom(|iters| calls(&runtime, noop, iters))
    });

    let ours = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(
            ConcurrencyLimiter::new(1024).unwrap(),
        ))
        .layer(RateLimitLayer::new(Limiter::new(roomy())))
        .service(noop);
    group.bench_function("tower-pacer ConcurrencyLimit + RateLimit", |b| {
        b.iter_custom(|iters| calls(&runtime, ours.clone(), iters))
    });
    let fast = Limiter::builder()
        .quota(roomy())
        .clock(LimiterClock::Fast)
        .build()
        .unwrap();
    let ours_fast = ServiceBuilder::new()
        .layer(ConcurrencyLimitLayer::new(
            ConcurrencyLimiter::new(1024).unwrap(),
        ))
        .layer(RateLimitLayer::new(fast))
        .service(noop);
    group.bench_function(
        "tower-pacer ConcurrencyLimit + RateLimit, fast clock",
        |b| b.iter_custom(|iters| calls(&runtime, ours_fast.clone(), iters)),
    );

    let towers = runtime.block_on(async {
        ServiceBuilder::new()
            .buffer(1024)
            .concurrency_limit(1024)
            .rate_limit(u64::MAX, Duration::from_secs(1))
            .service(noop)
    });
    group.bench_function("tower Buffer + ConcurrencyLimit + RateLimit", |b| {
        b.iter_custom(|iters| calls(&runtime, towers.clone(), iters))
    });
    group.finish();
}

fn stack(c: &mut Criterion) {
    use tower_pacer::Pacer;
    use tower_pacer::policy::{Policy, QuotaSpec};

    let runtime = runtime();
    let mut group = c.benchmark_group("stack");
    let noop = service_fn(|_: http::Request<String>| async {
        Ok::<_, tower::BoxError>(http::Response::new(String::new()))
    });
    group.bench_function("bare HTTP service", |b| {
        b.iter_custom(|iters| http_calls(&runtime, noop, iters))
    });
    let mut policy = Policy::default();
    policy.name = "bench".into();
    policy.quotas = vec![QuotaSpec::rate(
        1_000_000_000,
        Duration::from_secs(1),
        1_000_000_000,
    )];
    policy.concurrency = Some(1024);
    let pacer = Pacer::new(policy).unwrap();
    let paced = ServiceBuilder::new().layer(pacer.layer()).service(noop);
    group.bench_function("tower-pacer Pacer (whole stack)", |b| {
        b.iter_custom(|iters| http_calls(&runtime, paced.clone(), iters))
    });
    let towers = runtime.block_on(async {
        ServiceBuilder::new()
            .retry(RetryOn429 { left: 3 })
            .buffer(1024)
            .concurrency_limit(1024)
            .rate_limit(u64::MAX, Duration::from_secs(1))
            .service(noop)
    });
    group.bench_function("tower Retry + Buffer + ConcurrencyLimit + RateLimit", |b| {
        b.iter_custom(|iters| http_calls(&runtime, towers.clone(), iters))
    });
    group.finish();
}

/// The least a tower retry policy does: replay the request on a 429.
#[derive(Clone)]
struct RetryOn429 {
    left: u32,
}

impl<E> tower::retry::Policy<http::Request<String>, http::Response<String>, E> for RetryOn429 {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut http::Request<String>,
        result: &mut Result<http::Response<String>, E>,
    ) -> Option<Self::Future> {
        let throttled =
            matches!(result, Ok(r) if r.status() == http::StatusCode::TOO_MANY_REQUESTS);
        (throttled && self.left > 0).then(|| {
            self.left -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &http::Request<String>) -> Option<http::Request<String>> {
        let mut clone = http::Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.headers_mut() = request.headers().clone();
        Some(clone)
    }
}

/// A current-thread runtime for sequential calls.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Time `iters` sequential HTTP calls on `service`.
fn http_calls<S>(runtime: &tokio::runtime::Runtime, mut service: S, iters: u64) -> Duration
where
    S: Service<http::Request<String>, Response = http::Response<String>>,
    S::Error: std::fmt::Debug,
{
    runtime.block_on(async move {
        let start = Instant::now();
        for _ in 0..iters {
            let ready = service.ready().await.unwrap();
            black_box(ready.call(http::Request::new(String::new())).await.unwrap());
        }
        start.elapsed()
    })
}

/// Time `iters` sequential calls (ready, call, await) on `service`.
fn calls<S>(runtime: &tokio::runtime::Runtime, mut service: S, iters: u64) -> Duration
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    runtime.block_on(async move {
        let start = Instant::now();
        for n in 0..iters {
            let ready = service.ready().await.unwrap();
            black_box(ready.call(black_box(n)).await.unwrap());
        }
        start.elapsed()
    })
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("contended");
    const THREADS: u64 = 2;
    let ours = Arc::new(Limiter::new(roomy()));
    group.bench_function("tower-pacer, 2 threads (per acquire)", |b| {
        b.iter_custom(|iters| {
            hammer(iters, THREADS, {
                let ours = ours.clone();
                move || ours.try_acquire(1).is_ok()
            })
        })
    });
    let fast = Arc::new(
        Limiter::builder()
            .quota(roomy())
            .clock(LimiterClock::Fast)
            .build()
            .unwrap(),
    );
    group.bench_function("tower-pacer fast clock, 2 threads (per acquire)", |b| {
        b.iter_custom(|iters| {
            hammer(iters, THREADS, {
                let fast = fast.clone();
                move || fast.try_acquire(1).is_ok()
            })
        })
    });
    let governor = Arc::new(governor_roomy());
    group.bench_function("governor, 2 threads (per check)", |b| {
        b.iter_custom(|iters| {
            hammer(iters, THREADS, {
                let governor = governor.clone();
                move || governor.check().is_ok()
            })
        })
    });
    group.finish();
}

/// Run `iters` calls split over `threads` threads at once; the time per call
/// is the wall time over `iters`.
fn hammer(iters: u64, threads: u64, call: impl Fn() -> bool + Send + Clone + 'static) -> Duration {
    let barrier = Arc::new(std::sync::Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (call, barrier) = (call.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters / threads {
                    black_box(call());
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap_or_default()
}

criterion_group!(benches, acquire, layer, stack, contended);
criterion_main!(benches);
