//! The script's grants, read as Redis returns them (slots in Redis time):
//! two cores with their own connections stand for two processes. Needs
//! Redis at `PACER_REDIS_URL` or 127.0.0.1:6379, and fails saying so.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::remote::{CoreSettings, RedisCore};
use super::script::Reply;
use crate::rate::{Headroom, Quota};

fn url() -> String {
    std::env::var("PACER_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique_key(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("unit-{name}-{nanos:x}-{:x}", std::process::id())
}

fn core(key: &str, quotas: &[Quota]) -> RedisCore {
    let settings = CoreSettings {
        client: ::redis::Client::open(url()).expect("a Redis URL"),
        key: key.to_owned(),
        timeout: Duration::from_secs(2),
        retry_after: Duration::from_millis(10),
        fallback: None,
    };
    RedisCore::new(settings, quotas, &Headroom::default()).expect("valid bands")
}

/// A granted slot (µs of Redis time); fails clearly if Redis is absent.
async fn slot(core: &RedisCore, cost: u64) -> i64 {
    match core.reserve(cost, None, Duration::ZERO).await {
        Ok(Reply::Granted { slot, .. }) => slot,
        Ok(other) => panic!("not granted: {other:?}"),
        Err(reason) => panic!("these tests need Redis at {} ({reason})", url()),
    }
}

#[tokio::test]
async fn slots_are_fifo_and_distinct_across_processes() {
    let key = unique_key("fifo");
    let quotas = [Quota::per_second(100).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    let mut slots = Vec::new();
    for i in 0..40 {
        let core = if i % 3 == 0 { &a } else { &b };
        slots.push(slot(core, 1).await);
    }
    // In the order asked, each 10 ms after the one before, whoever asked.
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= 10_000, "{pair:?}");
    }
    // The queue ran ahead of time: the last slot is ~390 ms after the first.
    assert!(slots[39] - slots[0] >= 390_000);
}

#[tokio::test]
async fn concurrent_grants_never_exceed_a_window_in_redis_time() {
    let key = unique_key("window");
    let window_us = 200_000;
    let quotas = [Quota::window(5, Duration::from_micros(window_us as u64)).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    let asks = (0..60).map(|i| {
        let core = if i % 2 == 0 { &a } else { &b };
        // Weighted calls too: one unit in five costs 2.
        slot(core, if i % 5 == 0 { 2 } else { 1 })
    });
    let mut grants: Vec<(i64, u64)> = futures_util::future::join_all(asks)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, slot)| (slot, if i % 5 == 0 { 2 } else { 1 }))
        .collect();
    grants.sort();
    // Any interval [t, t + window] holds at most 5 units.
    for (i, &(start, _)) in grants.iter().enumerate() {
        let held: u64 = grants[i..]
            .iter()
            .take_while(|(slot, _)| *slot <= start + window_us)
            .map(|(_, cost)| cost)
            .sum();
        assert!(held <= 5, "{held} units from {start}");
    }
}

#[tokio::test]
async fn a_bucketed_window_is_never_exceeded() {
    let key = unique_key("buckets");
    // Above the exact limit: counted in buckets, conservatively.
    let limit = crate::rate::EXACT_LIMIT + 4;
    let window_us: i64 = 1_000_000;
    let quotas = [Quota::window(limit, Duration::from_micros(window_us as u64)).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    let half = limit / 2;
    let first = slot(&a, half).await;
    let second = slot(&b, limit - half).await;
    // The window is full: the next unit waits for the first grant's
    // bucket to leave it, whole.
    let third = slot(&a, 1).await;
    assert!(second - first < window_us, "both fit at once");
    assert!(third - first >= window_us, "{}", third - first);
    assert!(third - first <= window_us + window_us / 1024 + 2_000);
}

#[tokio::test]
async fn a_refusal_beyond_max_wait_charges_nothing() {
    let key = unique_key("refusal");
    let quotas = [
        Quota::window(3, Duration::from_secs(60)).unwrap(),
        Quota::per_second(1).unwrap().with_burst(10).unwrap(),
    ];
    let a = core(&key, &quotas);
    for _ in 0..3 {
        slot(&a, 1).await;
    }
    for _ in 0..3 {
        let reply = a
            .reserve(1, Some(Duration::from_secs(1)), Duration::ZERO)
            .await
            .expect("Redis answers");
        assert!(matches!(reply, Reply::TooFar { wait } if wait > Duration::from_secs(50)));
    }
    // The rate band (same key, band 1) was charged for the three grants
    // only: seven units at once, then the rate.
    let b = core(
        &key,
        &[
            Quota::window(100, Duration::from_secs(60)).unwrap(),
            quotas[1],
        ],
    );
    let seven = b
        .reserve(7, None, Duration::ZERO)
        .await
        .expect("Redis answers");
    assert!(
        matches!(seven, Reply::Granted { wait, .. } if wait.is_zero()),
        "{seven:?}"
    );
    let next = b
        .reserve(1, None, Duration::ZERO)
        .await
        .expect("Redis answers");
    assert!(
        matches!(next, Reply::Granted { wait, .. } if wait > Duration::from_millis(900)),
        "{next:?}"
    );
}

#[tokio::test]
async fn a_deep_bucketed_backlog_keeps_spacing_its_grants() {
    let key = unique_key("backlog");
    // Bucketed, each call filling a whole window: twelve calls queue about
    // twelve windows ahead, deeper than a bounded walk from the oldest
    // bucket could reach.
    let limit = crate::rate::EXACT_LIMIT + 4;
    let window_us: i64 = 1_000_000;
    let quotas = [Quota::window(limit, Duration::from_micros(window_us as u64)).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    let mut slots = Vec::new();
    for i in 0..12 {
        slots.push(slot(if i % 2 == 0 { &a } else { &b }, limit).await);
    }
    // A full window each: no two may share one, and none waits longer
    // than a bucket and the timer guard beyond it.
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= window_us, "{slots:?}");
        assert!(
            pair[1] - pair[0] <= window_us + window_us / 1024 + 2_000,
            "{slots:?}"
        );
    }
}

/// A process paused locally (its pause never reached Redis) is refused; the
/// grants others made must still count for them.
async fn a_local_pause_keeps_shared_history(name: &str, limit: u64) {
    let key = unique_key(name);
    let quotas = [Quota::window(limit, Duration::from_secs(60)).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    slot(&a, limit).await;
    let paused = a
        .reserve(1, Some(Duration::from_secs(1)), Duration::from_secs(300))
        .await
        .expect("Redis answers");
    assert!(matches!(paused, Reply::TooFar { .. }), "{paused:?}");
    let other = b
        .reserve(1, Some(Duration::from_secs(1)), Duration::ZERO)
        .await
        .expect("Redis answers");
    assert!(
        matches!(other, Reply::TooFar { wait } if wait > Duration::from_secs(50)),
        "{other:?}"
    );
}

#[tokio::test]
async fn a_local_pause_keeps_an_exact_window() {
    a_local_pause_keeps_shared_history("pause-exact", 3).await;
}

#[tokio::test]
async fn a_local_pause_keeps_a_bucketed_window() {
    a_local_pause_keeps_shared_history("pause-buckets", crate::rate::EXACT_LIMIT + 4).await;
}

/// Deletes every key of destination `key`, as a Redis restarted without
/// persistence (or an eviction) would.
async fn lose_state(key: &str) {
    let client = ::redis::Client::open(url()).expect("a Redis URL");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("these tests need Redis at {} ({e})", url()));
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(format!("pacer:{{{key}}}:*"))
        .query_async(&mut connection)
        .await
        .expect("KEYS");
    assert!(!keys.is_empty(), "the destination has keys");
    let _: i64 = ::redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut connection)
        .await
        .expect("DEL");
}

#[tokio::test]
async fn lost_state_fences_every_process_until_no_grant_counts() {
    let key = unique_key("lost-state");
    let window = Duration::from_millis(400);
    let quotas = [Quota::window(3, window).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    for _ in 0..3 {
        slot(&a, 1).await;
    }
    lose_state(&key).await;
    // A process that knows nothing of the grants sees an empty Redis…
    let max_wait = Some(Duration::from_millis(100));
    // …but the one holding them proves the state lost: every process is
    // held until a slot reserved up to max_wait ago has left the window.
    let reply = a.reserve(1, max_wait, Duration::ZERO).await.expect("Redis");
    let Reply::TooFar { wait } = reply else {
        panic!("granted over grants Redis forgot: {reply:?}");
    };
    assert!(wait >= window + Duration::from_millis(100), "{wait:?}");
    let reply = b.reserve(1, max_wait, Duration::ZERO).await.expect("Redis");
    assert!(matches!(reply, Reply::TooFar { .. }), "{reply:?}");
    // Unbounded, a call gets the fence's end as its slot.
    let fenced = slot(&b, 1).await;
    let now = match b.reserve(0, None, Duration::ZERO).await {
        Ok(Reply::Granted { now, .. }) => now,
        other => panic!("{other:?}"),
    };
    assert!(fenced - now >= 400_000, "{}", fenced - now);
}

#[tokio::test]
async fn intact_state_sets_no_fence() {
    let key = unique_key("no-fence");
    let quotas = [Quota::window(3, Duration::from_millis(400)).unwrap()];
    let (a, b) = (core(&key, &quotas), core(&key, &quotas));
    let first = slot(&a, 1).await;
    slot(&b, 1).await;
    // `a` is behind `b`'s latest slot: that is no evidence of a loss.
    let third = slot(&a, 1).await;
    assert!(third - first < 100_000, "{}", third - first);
}
