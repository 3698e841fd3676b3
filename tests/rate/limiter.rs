//! The limiter core through its public API, in paused tokio time.

use std::time::Duration;

use tokio::time::{self, Instant};
use tower_pacer::rate::{BUCKETS, Limiter, Quota, RateError, WINDOW_GUARD};

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn rate_band_spaces_calls_after_the_burst() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap().with_burst(3).unwrap());
    let start = Instant::now();
    let slots: Vec<Duration> = (0..6)
        .map(|_| limiter.reserve(1).unwrap())
        .map(|r| {
            let at = r.slot() - start;
            r.consume();
            at
        })
        .collect();
    assert_eq!(slots, [0, 0, 0, 100, 200, 300].map(|ms| ms * MS));
}

#[tokio::test(start_paused = true)]
async fn window_band_waits_for_the_oldest_call_to_leave() {
    let limiter = Limiter::builder()
        .quota(Quota::window(3, secs(10)).unwrap())
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        limiter.acquire(1).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    time::advance(secs(4)).await;
    let slot = limiter.reserve(1).unwrap().slot();
    // The first call leaves [s − 10 s, s] after 10 s, plus the timer guard.
    assert_eq!(slot - start, secs(10) + WINDOW_GUARD);
}

/// A grant counts until it has left the window by the timer guard, also
/// for a caller arriving between `slot + window` and `slot + window +
/// guard` (such a grant used to be forgotten, and its guard lost).
#[tokio::test(start_paused = true)]
async fn a_grant_keeps_its_timer_guard_until_it_has_left() {
    let limiter = Limiter::new(Quota::window(2, secs(1)).unwrap());
    let start = Instant::now();
    time::advance(secs(1)).await;
    limiter.acquire(1).await.unwrap();
    time::advance(500 * MS).await;
    limiter.acquire(1).await.unwrap();
    time::advance(500 * MS + MS / 2).await;
    assert_eq!(limiter.snapshot().bands[0].remaining, 0);
    let slot = limiter.reserve(1).unwrap().slot();
    assert_eq!(slot - start, secs(2) + WINDOW_GUARD);
}

/// The largest costs a window takes (one per nanosecond of the window;
/// `u64::MAX` itself is refused at construction) must neither overflow the
/// band's count nor wrap it into admitting a second full window's worth.
#[tokio::test(start_paused = true)]
async fn the_largest_limits_never_admit_two_windows_at_once() {
    assert!(Quota::window(u64::MAX, secs(1)).is_err());
    for limit in [100, 1_000_000_000] {
        let limiter = Limiter::new(Quota::window(limit, secs(1)).unwrap());
        let start = Instant::now();
        let mut slots = Vec::new();
        for _ in 0..3 {
            let r = limiter.reserve(limit).unwrap();
            slots.push(r.slot() - start);
            r.consume();
            // The first leaves the window while the others wait.
            time::advance(600 * MS).await;
        }
        assert_eq!(limiter.snapshot().bands[0].remaining, 0, "limit {limit}");
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] > secs(1), "limit {limit}: {slots:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_band_must_have_room_and_none_is_charged_on_refusal() {
    let limiter = Limiter::builder()
        .quota(Quota::window(5, secs(1)).unwrap())
        .quota(Quota::window(8, secs(60)).unwrap())
        .max_wait(secs(5))
        .build()
        .unwrap();
    for _ in 0..5 {
        limiter.acquire(1).await.unwrap();
    }
    // The 1 s band is full; the next slot is just after 1 s.
    limiter.acquire(3).await.unwrap();
    // The daily-ish band has 0 left: the refusal charges neither band.
    let err = limiter.reserve(1).unwrap_err();
    let RateError::QuotaExhausted { available_at, .. } = err else {
        panic!("expected QuotaExhausted, got {err:?}");
    };
    assert!(available_at > Instant::now() + secs(58));
    let snapshot = limiter.snapshot();
    assert_eq!(snapshot.bands[1].remaining, 0);
    time::advance(secs(1) + WINDOW_GUARD).await;
    assert_eq!(
        limiter.snapshot().bands[0].remaining,
        5,
        "the refused call took no room"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slot_beyond_max_wait_is_a_typed_error_carrying_when() {
    let limiter = Limiter::builder()
        .quota(Quota::per_second(1).unwrap())
        .max_wait(secs(2))
        .build()
        .unwrap();
    let start = Instant::now();
    for _ in 0..3 {
        limiter.reserve(1).unwrap().consume();
    }
    match limiter.reserve(1) {
        Err(RateError::QuotaExhausted {
            available_at,
            wait,
            max_wait,
        }) => {
            assert_eq!(available_at - start, secs(3));
            assert_eq!(wait, secs(3));
            assert_eq!(max_wait, secs(2));
        }
        other => panic!("expected QuotaExhausted, got {other:?}"),
    }
    // Nothing was reserved by the refusal.
    time::advance(secs(1)).await;
    assert_eq!(limiter.reserve(1).unwrap().slot() - start, secs(3));
}

#[tokio::test(start_paused = true)]
async fn try_acquire_never_waits() {
    let limiter = Limiter::new(Quota::per_second(2).unwrap());
    limiter.try_acquire(1).unwrap();
    let err = limiter.try_acquire(1).unwrap_err();
    assert_eq!(
        err.available_at().map(|at| at - Instant::now()),
        Some(500 * MS)
    );
    time::advance(500 * MS).await;
    limiter.try_acquire(1).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cost_no_band_can_hold_fails_at_once_naming_the_band() {
    let limiter = Limiter::builder()
        .quota(Quota::per_second(10).unwrap().with_burst(20).unwrap())
        .quota(Quota::window(50, secs(10)).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        limiter.reserve(21).unwrap_err(),
        RateError::CostTooLarge {
            cost: 21,
            capacity: 20,
            band: 0
        }
    );
    let single = Limiter::new(Quota::window(50, secs(10)).unwrap());
    assert_eq!(
        single.reserve(51).unwrap_err(),
        RateError::CostTooLarge {
            cost: 51,
            capacity: 50,
            band: 0
        }
    );
    // A cost that fits is fine, and costs add up.
    limiter.acquire(20).await.unwrap();
    assert_eq!(limiter.snapshot().bands[1].remaining, 30);
}

#[tokio::test(start_paused = true)]
async fn weighted_costs_spend_a_rate_band_proportionally() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap().with_burst(10).unwrap());
    let start = Instant::now();
    limiter.acquire(10).await.unwrap();
    limiter.acquire(5).await.unwrap();
    // Five cells refill in 500 ms.
    assert_eq!(start.elapsed(), 500 * MS);
}

#[tokio::test(start_paused = true)]
async fn cooldown_gate_holds_every_caller_then_resumes_paced() {
    let limiter = Limiter::builder()
        .quota(Quota::window(100, secs(10)).unwrap())
        .build()
        .unwrap();
    let start = Instant::now();
    limiter.pause_until(start + secs(2));
    assert_eq!(limiter.paused_until(), Some(start + secs(2)));
    assert_eq!(limiter.snapshot().bands[0].remaining, 0);
    let slots: Vec<Duration> = (0..4)
        .map(|_| {
            let r = limiter.reserve(1).unwrap();
            let at = r.slot() - start;
            r.consume();
            at
        })
        .collect();
    // Window 100/10 s resumes at its sustained pace: one per 100 ms.
    assert_eq!(slots, [2000, 2100, 2200, 2300].map(|ms| ms * MS));
    // An earlier pause does not shorten the current one.
    limiter.pause_until(start + secs(1));
    assert_eq!(limiter.paused_until(), Some(start + secs(2)));
}

#[tokio::test(start_paused = true)]
async fn cooldown_on_a_rate_band_empties_the_bucket() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap().with_burst(10).unwrap());
    let start = Instant::now();
    limiter.pause_until(start + secs(2));
    let slots: Vec<Duration> = (0..3)
        .map(|_| {
            let r = limiter.reserve(1).unwrap();
            let at = r.slot() - start;
            r.consume();
            at
        })
        .collect();
    assert_eq!(slots, [2000, 2100, 2200].map(|ms| ms * MS));
}

#[tokio::test(start_paused = true)]
async fn rate_changes_at_run_time() {
    let limiter = Limiter::new(Quota::per_second(10).unwrap());
    let start = Instant::now();
    limiter.acquire(1).await.unwrap();
    limiter.acquire(1).await.unwrap();
    assert_eq!(start.elapsed(), 100 * MS);
    limiter.set_rate(0, 2.0).unwrap();
    limiter.acquire(1).await.unwrap();
    limiter.acquire(1).await.unwrap();
    // The slot already reserved (200 ms) stands; the next follows at 2/s.
    assert_eq!(start.elapsed(), 700 * MS);
    let window = Limiter::new(Quota::window(2, secs(1)).unwrap());
    window.acquire(2).await.unwrap();
    window
        .set_quota(0, Quota::window(4, secs(1)).unwrap())
        .unwrap();
    let before = Instant::now();
    window.acquire(2).await.unwrap();
    assert_eq!(
        before.elapsed(),
        Duration::ZERO,
        "the larger window has room"
    );
}

#[tokio::test(start_paused = true)]
async fn headroom_runs_under_the_quota() {
    let limiter = Limiter::builder()
        .quota(Quota::per_second(10).unwrap())
        .headroom(0.5)
        .build()
        .unwrap();
    let start = Instant::now();
    limiter.acquire(1).await.unwrap();
    limiter.acquire(1).await.unwrap();
    assert_eq!(start.elapsed(), 200 * MS);
    let window = Limiter::builder()
        .quota(Quota::window(100, secs(10)).unwrap())
        .headroom(0.98)
        .margin(50 * MS)
        .build()
        .unwrap();
    assert_eq!(window.snapshot().bands[0].remaining, 98);
    let before = Instant::now();
    window.acquire(98).await.unwrap();
    let slot = window.reserve(1).unwrap().slot();
    assert_eq!(slot - before, secs(10) + 50 * MS + WINDOW_GUARD);
}

#[tokio::test(start_paused = true)]
async fn bucketed_window_keeps_memory_bounded_and_never_exceeds() {
    let day = secs(86_400);
    let limiter = Limiter::builder()
        .quota(Quota::window(1_000_000, day).unwrap())
        .build()
        .unwrap();
    // A million calls spread over the day, a few per second.
    let mut granted = 0u64;
    for _ in 0..1000 {
        limiter.acquire(1000).await.unwrap();
        granted += 1000;
        time::advance(secs(80)).await;
    }
    assert_eq!(granted, 1_000_000);
    let band = &limiter.snapshot().bands[0];
    assert!(
        band.tracked <= BUCKETS as usize + 2,
        "kept {} entries",
        band.tracked
    );
    // The quota is spent: the next call waits for the oldest bucket to leave.
    let r = limiter.reserve(1).unwrap();
    let wait = r.delay();
    // The first grant (t = 0) leaves the window after a day plus at most one
    // bucket (84.4 s); we are 80 000 s in.
    assert!(wait >= day - secs(80_000), "waited only {wait:?}");
    assert!(
        wait <= day - secs(80_000) + day / BUCKETS as u32 + WINDOW_GUARD,
        "waited {wait:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn config_errors_name_the_field() {
    let field = |e: tower_pacer::ConfigError| e.field().to_owned();
    assert_eq!(field(Quota::per_second(0).unwrap_err()), "quota.count");
    assert_eq!(
        field(Quota::rate(1, Duration::ZERO).unwrap_err()),
        "quota.period"
    );
    assert_eq!(
        field(Quota::rate(1, secs(400 * 86_400)).unwrap_err()),
        "quota.period"
    );
    assert_eq!(field(Quota::window(0, secs(1)).unwrap_err()), "quota.limit");
    assert_eq!(
        field(Quota::window(1, Duration::ZERO).unwrap_err()),
        "quota.window"
    );
    assert_eq!(
        field(Quota::per_second(1).unwrap().with_burst(0).unwrap_err()),
        "quota.burst"
    );
    assert_eq!(
        field(
            Quota::per_hour(1)
                .unwrap()
                .with_burst(u64::MAX)
                .unwrap_err()
        ),
        "quota.burst"
    );
    assert_eq!(
        field(
            Quota::window(5, secs(1))
                .unwrap()
                .with_burst(2)
                .unwrap_err()
        ),
        "quota.burst"
    );
    for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0] {
        assert_eq!(field(Quota::per_second_f64(bad).unwrap_err()), "quota.rate");
    }
    assert_eq!(field(Limiter::builder().build().unwrap_err()), "quotas");
    for bad in [f64::NAN, 0.0, 1.5, -0.1] {
        let err = Limiter::builder()
            .quota(Quota::per_second(1).unwrap())
            .headroom(bad)
            .build()
            .unwrap_err();
        assert_eq!(field(err), "headroom.fraction");
    }
    // A headroom that stretches a full burst beyond a year: the band's
    // figures would saturate, and a saturated band admits every call.
    let yearly = Quota::per_hour(1).unwrap().with_burst(8_000).unwrap();
    let slowed = |fraction: f64, margin: Duration| {
        Limiter::builder()
            .quota(Quota::per_second(1).unwrap())
            .quota(yearly)
            .headroom(fraction)
            .margin(margin)
            .build()
    };
    assert_eq!(field(slowed(0.5, Duration::ZERO).unwrap_err()), "quotas[1]");
    assert_eq!(
        field(slowed(1e-6, Duration::ZERO).unwrap_err()),
        "quotas[1]"
    );
    assert_eq!(field(slowed(1.0, secs(3600)).unwrap_err()), "quotas[1]");
    assert_eq!(
        field(slowed(1.0, Duration::MAX).unwrap_err()),
        "headroom.margin"
    );
    let half = Limiter::builder()
        .quota(Quota::per_second(1).unwrap())
        .headroom(0.5)
        .build()
        .unwrap();
    assert_eq!(field(half.set_quota(0, yearly).unwrap_err()), "quotas[0]");
    assert_eq!(half.quotas(), vec![Quota::per_second(1).unwrap()]);
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    assert_eq!(
        field(
            limiter
                .set_quota(3, Quota::per_second(2).unwrap())
                .unwrap_err()
        ),
        "quotas[3]"
    );
    assert_eq!(
        field(
            limiter
                .set_quota(0, Quota::window(2, secs(1)).unwrap())
                .unwrap_err()
        ),
        "quotas[0]"
    );
    assert_eq!(
        field(limiter.set_rate(0, f64::NAN).unwrap_err()),
        "quota.rate"
    );
    let window = Limiter::new(Quota::window(2, secs(1)).unwrap());
    assert_eq!(field(window.set_rate(0, 1.0).unwrap_err()), "quotas[0]");
    // Nothing changed after the refusals.
    assert_eq!(limiter.quotas(), vec![Quota::per_second(1).unwrap()]);
}

/// The bucketed window's precision, measured: under a load that always
/// wants more, a full window's worth is granted every `window + window /
/// BUCKETS` (plus the 1 ms timer guard), so the long-run rate is at least
/// BUCKETS/(BUCKETS+1) of the quota — and never more.
#[tokio::test(start_paused = true)]
async fn bucketed_window_precision_under_saturation() {
    let (limit, window) = (10_000u64, secs(10));
    let limiter = Limiter::new(Quota::window(limit, window).unwrap());
    let start = Instant::now();
    // Reserve 100 at a time, always as early as the limiter allows; note
    // when each window's worth is complete.
    let mut full_windows = Vec::new();
    for n in 1..=(limit / 100 * 21) {
        let r = limiter.reserve(100).unwrap();
        if n % (limit / 100) == 1 {
            full_windows.push(r.slot() - start);
        }
        r.consume();
    }
    let spacing = (full_windows[20] - full_windows[0]) / 20;
    let precision = window.as_secs_f64() / spacing.as_secs_f64();
    eprintln!(
        "bucketed window: a window's worth every {spacing:?}: {:.3} % of the quota",
        precision * 100.0
    );
    assert!(spacing > window, "never more than the quota");
    let floor =
        window.as_secs_f64() / (window + window / BUCKETS as u32 + WINDOW_GUARD).as_secs_f64();
    assert!(precision >= floor - 1e-9, "{precision} < {floor}");
}
