//! Property tests: for random arrivals and random quotas, the slots the
//! limiter grants respect every band, and are as early as the bands allow.

use std::time::Duration;

use crate::support::rate::{max_in_span, paused};
use proptest::prelude::*;
use tokio::time::{self, Instant};
use tower_pacer::rate::{Limiter, Quota, WINDOW_GUARD};

const GUARD: u64 = WINDOW_GUARD.as_nanos() as u64;

/// Reserve one call per arrival (gaps in µs, costs) and return the slots in
/// nanoseconds since the start.
async fn grant(limiter: &Limiter, arrivals: &[(u64, u64)]) -> Vec<(u64, u64, u64)> {
    let start = Instant::now();
    let mut out = Vec::with_capacity(arrivals.len());
    for &(gap_us, cost) in arrivals {
        time::advance(Duration::from_micros(gap_us)).await;
        let arrived = (Instant::now() - start).as_nanos() as u64;
        let r = limiter.reserve(cost).expect("fits");
        out.push((arrived, (r.slot() - start).as_nanos() as u64, cost));
        r.consume();
    }
    out
}

/// The largest total cost granted in any closed interval of length `window`.
/// Window bands keep a timer guard: checked over `window + GUARD - 1`, so a
/// call sent up to the guard late still respects the window.
fn max_in_window(slots: &[(u64, u64, u64)], window: u64) -> u64 {
    let granted: Vec<(u64, u64)> = slots.iter().map(|&(_, s, c)| (s, c)).collect();
    max_in_span(&granted, window)
}

/// The ideal schedule of a token bucket (capacity `burst`, one token per
/// `interval` ns), served first come first served: an independent model
/// with fractional tokens.
fn token_bucket(arrivals: &[(u64, u64, u64)], interval: u64, burst: u64) -> Vec<u64> {
    let mut tokens = burst as f64;
    let mut clock = 0u64;
    let mut out = Vec::new();
    for &(arrived, _, cost) in arrivals {
        let mut at = arrived.max(clock);
        tokens = (tokens + (at - clock) as f64 / interval as f64).min(burst as f64);
        if tokens + 1e-9 < cost as f64 {
            let missing = cost as f64 - tokens;
            let wait = (missing * interval as f64).round() as u64;
            at += wait;
            tokens = cost as f64;
        }
        tokens -= cost as f64;
        clock = at;
        out.push(at);
    }
    out
}

fn arrivals(max_cost: u64) -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec(
        (
            // Gaps in µs; the short ones land between timer ticks.
            prop_oneof![
                3 => Just(0u64),
                2 => 0u64..50_000,
                1 => 0u64..3_000_000,
                1 => 0u64..2_000,
            ],
            1..=max_cost,
        ),
        1..120,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn window_band_never_exceeds_and_grants_as_early_as_it_may(
        limit in 1u64..12,
        window_ms in 1u64..5000,
        arrivals in arrivals(3),
    ) {
        let arrivals: Vec<(u64, u64)> = arrivals.into_iter().map(|(g, c)| (g, c.min(limit))).collect();
        let window = window_ms * 1_000_000;
        let slots = paused(async {
            let limiter = Limiter::new(Quota::window(limit, Duration::from_millis(window_ms)).unwrap());
            grant(&limiter, &arrivals).await
        });
        prop_assert!(max_in_window(&slots, window + GUARD - 1) <= limit);
        // Exactness: each slot is its arrival, the previous slot (FIFO), or
        // the instant an earlier grant left the window.
        for (i, &(arrived, slot, _)) in slots.iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| slots[p].1);
            let freed = slots[..i].iter().any(|&(_, s, _)| s + window + GUARD == slot);
            prop_assert!(slot == arrived || Some(slot) == previous || freed,
                "slot {} of call {} is later than any band requires", slot, i);
            prop_assert!(slot >= arrived);
            if let Some(previous) = previous { prop_assert!(slot >= previous, "FIFO"); }
        }
    }

    #[test]
    fn rate_band_matches_the_ideal_token_bucket(
        per_second in 1u64..50,
        burst in 1u64..8,
        arrivals in arrivals(3),
    ) {
        let arrivals: Vec<(u64, u64)> = arrivals.into_iter().map(|(g, c)| (g, c.min(burst))).collect();
        let slots = paused(async {
            let quota = Quota::per_second(per_second).unwrap().with_burst(burst).unwrap();
            grant(&Limiter::new(quota), &arrivals).await
        });
        let interval = 1_000_000_000u64.div_ceil(per_second);
        let ideal = token_bucket(&slots, interval, burst);
        for (i, (&(_, slot, _), ideal)) in slots.iter().zip(&ideal).enumerate() {
            prop_assert!(slot.abs_diff(*ideal) <= 2, "call {}: slot {} vs ideal {}", i, slot, ideal);
        }
        // Conformance: at most burst + d/T cost in any span d.
        for i in 0..slots.len() {
            let mut sum = 0;
            for j in i..slots.len() {
                sum += slots[j].2;
                let span = slots[j].1 - slots[i].1;
                prop_assert!(sum <= burst + span / interval, "{} units in {} ns", sum, span);
            }
        }
    }

    #[test]
    fn multi_band_limits_hold_every_band_at_once(
        rate in 2u64..40,
        burst in 1u64..6,
        short in (1u64..10, 100u64..2000),
        long in (10u64..30, 2000u64..20_000),
        arrivals in arrivals(2),
    ) {
        let cap = burst.min(short.0).min(long.0);
        let arrivals: Vec<(u64, u64)> = arrivals.into_iter().map(|(g, c)| (g, c.min(cap))).collect();
        let slots = paused(async {
            let limiter = Limiter::builder()
                .quota(Quota::per_second(rate).unwrap().with_burst(burst).unwrap())
                .quota(Quota::window(short.0, Duration::from_millis(short.1)).unwrap())
                .quota(Quota::window(long.0, Duration::from_millis(long.1)).unwrap())
                .build()
                .unwrap();
            grant(&limiter, &arrivals).await
        });
        // The rate band puts slots between whole milliseconds, where a
        // window grant's guard is easiest to lose.
        prop_assert!(max_in_window(&slots, short.1 * 1_000_000 + GUARD - 1) <= short.0);
        prop_assert!(max_in_window(&slots, long.1 * 1_000_000 + GUARD - 1) <= long.0);
        let interval = 1_000_000_000u64.div_ceil(rate);
        for i in 0..slots.len() {
            let mut sum = 0;
            for j in i..slots.len() {
                sum += slots[j].2;
                let span = slots[j].1 - slots[i].1;
                prop_assert!(sum <= burst + span / interval, "{} units in {} ns", sum, span);
            }
        }
    }

    #[test]
    fn bucketed_window_never_exceeds(
        limit in 4097u64..20_000,
        arrivals in prop::collection::vec((0u64..400_000, 1u64..2000), 1..200),
    ) {
        let window_ms = 10_000;
        let slots = paused(async {
            let limiter = Limiter::new(Quota::window(limit, Duration::from_millis(window_ms)).unwrap());
            grant(&limiter, &arrivals).await
        });
        prop_assert!(max_in_window(&slots, window_ms * 1_000_000 + GUARD - 1) <= limit);
    }
}
