//! Exactness of the server-side accounting, on the pure structs with
//! explicit instants: a window quota of n never accepts n+1 in any window,
//! refuses only when full, and its Retry-After wait is exactly the time
//! until room.

use std::time::Duration;

use pacer_mock::{KeyLimits, MockConfig, RateQuota, RejectReason, WindowMode, WindowQuota};
use proptest::prelude::*;
use tokio::time::Instant;

const NS: Duration = Duration::from_nanos(1);

/// Arrival gaps in microseconds, biased towards the edge cases: 0 (bursts),
/// exactly one window, and one window ± 1 µs.
fn gaps(window_us: u64) -> impl Strategy<Value = Vec<u64>> {
    let gap = prop_oneof![
        3 => Just(0u64),
        1 => Just(window_us),
        1 => Just(window_us - 1),
        1 => Just(window_us + 1),
        6 => 0..=window_us / 2,
        2 => 0..=2 * window_us,
    ];
    prop::collection::vec(gap, 1..200)
}

fn limits_for(quota: WindowQuota, origin: Instant) -> KeyLimits {
    let mut config = MockConfig::default();
    config.windows = vec![quota];
    KeyLimits::new(&config, origin)
}

/// Accepted requests in `(t - window, t]`.
fn count_in(accepted: &[Instant], t: Instant, window: Duration) -> usize {
    accepted
        .iter()
        .filter(|&&s| s <= t && t.duration_since(s) < window)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sliding_window_is_exact(limit in 1u64..8, window_us in 2u64..5_000, gaps in gaps(5_000)) {
        let window = Duration::from_micros(window_us);
        let origin = Instant::now();
        let mut limits = limits_for(WindowQuota::sliding(limit, window), origin);
        let mut accepted: Vec<Instant> = Vec::new();
        let mut t = origin;
        for gap in gaps {
            t += Duration::from_micros(gap % (2 * window_us + 2));
            let before = limits.clone();
            match limits.try_admit(t) {
                Ok(()) => {
                    accepted.push(t);
                    // Never n+1 in any window: the densest window ends at an acceptance.
                    prop_assert!(count_in(&accepted, t, window) as u64 <= limit);
                }
                Err(refusal) => {
                    prop_assert_eq!(refusal.reason, RejectReason::Rate);
                    // Refused only when really full.
                    prop_assert_eq!(count_in(&accepted, t, window) as u64, limit);
                    // Retry-After is truthful (room at t + wait) and tight
                    // (no room a nanosecond earlier).
                    let at = t + refusal.wait;
                    prop_assert!((count_in(&accepted, at, window) as u64) < limit);
                    prop_assert!(before.clone().try_admit(at).is_ok());
                    prop_assert!(before.clone().try_admit(at - NS).is_err());
                }
            }
        }
        let brute = accepted.iter().map(|&t| count_in(&accepted, t, window)).max().unwrap_or(0) as u64;
        prop_assert_eq!(limits.max_seen().next(), Some(brute));
    }

    #[test]
    fn fixed_window_counts_per_aligned_window(limit in 1u64..8, window_us in 2u64..5_000, gaps in gaps(5_000)) {
        let window = Duration::from_micros(window_us);
        let origin = Instant::now();
        let mut limits = limits_for(WindowQuota::fixed(limit, window), origin);
        let mut accepted: Vec<Instant> = Vec::new();
        let index = |t: Instant| t.duration_since(origin).as_nanos() / window.as_nanos();
        let mut t = origin;
        for gap in gaps {
            t += Duration::from_micros(gap % (2 * window_us + 2));
            let in_same = |acc: &[Instant]| acc.iter().filter(|&&s| index(s) == index(t)).count() as u64;
            let before = limits.clone();
            match limits.try_admit(t) {
                Ok(()) => {
                    accepted.push(t);
                    prop_assert!(in_same(&accepted) <= limit);
                }
                Err(refusal) => {
                    prop_assert_eq!(in_same(&accepted), limit);
                    // Room exactly at the next boundary.
                    prop_assert_eq!(index(t + refusal.wait), index(t) + 1);
                    prop_assert!(before.clone().try_admit(t + refusal.wait).is_ok());
                    prop_assert!(before.clone().try_admit(t + refusal.wait - NS).is_err());
                }
            }
        }
        // max_seen is measured over sliding intervals, so it shows the
        // boundary burst a fixed window allows (at most 2n, never more).
        let brute = accepted.iter().map(|&t| count_in(&accepted, t, window)).max().unwrap_or(0) as u64;
        prop_assert_eq!(limits.max_seen().next(), Some(brute));
        prop_assert!(brute <= 2 * limit);
    }

    #[test]
    fn gcra_never_exceeds_rate_plus_burst(
        count in 1u64..20, period_us in 100u64..10_000, burst in 1u64..6, gaps in gaps(2_000),
    ) {
        let mut config = MockConfig::default();
        config.rate = Some(RateQuota { count, period: Duration::from_micros(period_us), burst });
        let origin = Instant::now();
        let mut limits = KeyLimits::new(&config, origin);
        // The emission interval, rounded up as the server does.
        let interval = Duration::from_nanos((period_us * 1_000).div_ceil(count));
        let mut accepted: Vec<Instant> = Vec::new();
        let mut t = origin;
        for gap in gaps {
            t += Duration::from_micros(gap);
            let before = limits.clone();
            match limits.try_admit(t) {
                Ok(()) => accepted.push(t),
                Err(refusal) => {
                    prop_assert!(before.clone().try_admit(t + refusal.wait).is_ok());
                    prop_assert!(before.clone().try_admit(t + refusal.wait - NS).is_err());
                }
            }
        }
        // In any closed interval [a, b]: at most burst + (b - a) / T acceptances.
        for (i, &a) in accepted.iter().enumerate() {
            for (j, &b) in accepted.iter().enumerate().skip(i) {
                let n = (j - i + 1) as u128;
                let allowed = burst as u128 + b.duration_since(a).as_nanos() / interval.as_nanos();
                prop_assert!(n <= allowed, "{} accepted in {:?}, allowed {}", n, b - a, allowed);
            }
        }
    }
}

#[test]
fn several_windows_wait_for_the_slowest() {
    let origin = Instant::now();
    let ms = Duration::from_millis;
    let mut config = MockConfig::default();
    config.windows = vec![
        WindowQuota::sliding(2, ms(10)),
        WindowQuota {
            limit: 3,
            window: ms(100),
            mode: WindowMode::Sliding,
        },
    ];
    let mut limits = KeyLimits::new(&config, origin);
    assert!(limits.try_admit(origin).is_ok());
    assert!(limits.try_admit(origin).is_ok());
    // The short window is full: wait until it frees, 10 ms.
    let refusal = limits.try_admit(origin + ms(1)).unwrap_err();
    assert_eq!(refusal.wait, ms(9));
    assert!(limits.try_admit(origin + ms(10)).is_ok());
    // Now the 3-per-100 ms window is full: its wait (90 ms) dominates.
    let refusal = limits.try_admit(origin + ms(20)).unwrap_err();
    assert_eq!(refusal.wait, ms(80));
    // A refusal counts nowhere: at +100 ms both windows have room again.
    assert!(limits.try_admit(origin + ms(100)).is_ok());
}

#[test]
fn daily_windows_report_daily() {
    let origin = Instant::now();
    let config = MockConfig::default()
        .with_window(100, Duration::from_secs(10))
        .with_window(1, Duration::from_secs(86_400));
    let mut limits = KeyLimits::new(&config, origin);
    assert!(limits.try_admit(origin).is_ok());
    let refusal = limits
        .try_admit(origin + Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(refusal.reason, RejectReason::Daily);
    assert_eq!(refusal.wait, Duration::from_secs(86_399));
}
