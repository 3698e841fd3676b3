//! The cost of one reservation on a limiter shared through Redis: about one
//! round trip to the server (loopback here), against the local limiter.
//!
//! Run (Redis on 127.0.0.1:6379, or `PACER_REDIS_URL`):
//! `cargo bench --features redis --bench redis`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tower_pacer::rate::{Limiter, Quota, RedisLimiter};

/// So roomy that every slot is free: we measure the bookkeeping.
fn roomy() -> Quota {
    Quota::per_second(1_000_000_000)
        .and_then(|q| q.with_burst(1_000_000_000))
        .expect("valid quota")
}

fn acquire(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("PACER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let key = format!("bench-{}", std::process::id());
    let build = |window: bool| {
        let builder = RedisLimiter::builder(url.clone(), key.clone()).quota(roomy());
        let builder = if window {
            builder.quota(Quota::window(4096, Duration::from_millis(1)).expect("valid quota"))
        } else {
            builder
        };
        runtime
            .block_on(builder.connect())
            .unwrap_or_else(|e| panic!("this bench needs Redis at {url}: {e}"))
    };
    let rate = build(false);
    let both = build(true);
    let local = Limiter::new(roomy());
    let mut group = c.benchmark_group("redis");
    group.bench_function("local rate band (acquire)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(local.acquire(1).await).is_ok() })
    });
    group.bench_function("redis rate band (acquire)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(rate.acquire(1).await).is_ok() })
    });
    group.bench_function("redis rate + window bands (acquire)", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(both.acquire(1).await).is_ok() })
    });
    let mut raw = runtime
        .block_on(async {
            redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await
        })
        .expect("a connection");
    group.bench_function("redis PING (one round trip)", |b| {
        b.to_async(&runtime).iter(|| {
            let mut raw = raw.clone();
            async move {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut raw).await;
                black_box(pong).is_ok()
            }
        })
    });
    let _ = &mut raw;
    group.finish();
}

criterion_group!(benches, acquire);
criterion_main!(benches);
