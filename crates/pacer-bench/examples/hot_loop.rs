//! Instructions per free-slot acquire, counted with callgrind (exact and
//! repeatable, whatever else the machine does; timings here swing 2-3×).
//!
//! ```text
//! cargo build --release -p pacer-bench --example hot_loop
//! for mode in default fast bands governor; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
//!     --toggle-collect='*counted_*' target/release/examples/hot_loop $mode 2>&1 | grep Collected
//! done
//! ```
//!
//! Each mode runs `CALLS` acquires of a free slot inside one function whose
//! name starts `counted_`; callgrind counts only inside it (the pattern must
//! not match the example's crate name, which prefixes every symbol).
//! Divide the "Collected" figure by `CALLS`.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use tower_pacer::rate::{Limiter, LimiterClock, Quota};

/// Acquires per run.
const CALLS: u32 = 1_000_000;

fn roomy() -> Quota {
    Quota::per_second(1_000_000_000)
        .and_then(|q| q.with_burst(1_000_000_000))
        .unwrap_or_else(|e| panic!("quota: {e}"))
}

#[inline(never)]
fn counted_pacer(limiter: &Limiter) -> u32 {
    let mut granted = 0;
    for _ in 0..CALLS {
        granted += u32::from(black_box(limiter.try_acquire(black_box(1))).is_ok());
    }
    granted
}

#[inline(never)]
fn counted_governor(limiter: &governor::DefaultDirectRateLimiter) -> u32 {
    let mut granted = 0;
    for _ in 0..CALLS {
        granted += u32::from(black_box(limiter.check()).is_ok());
    }
    granted
}

fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "default".to_owned());
    let granted = match mode.as_str() {
        "default" => counted_pacer(&Limiter::new(roomy())),
        "fast" => {
            let limiter = Limiter::builder()
                .quota(roomy())
                .clock(LimiterClock::Fast)
                .build()
                .unwrap_or_else(|e| panic!("limiter: {e}"));
            counted_pacer(&limiter)
        }
        "bands" => {
            let limiter = Limiter::builder()
                .quota(
                    Quota::window(1_000_000_000, Duration::from_secs(1))
                        .unwrap_or_else(|e| panic!("quota: {e}")),
                )
                .quota(roomy())
                .build()
                .unwrap_or_else(|e| panic!("limiter: {e}"));
            counted_pacer(&limiter)
        }
        "governor" => counted_governor(&governor::RateLimiter::direct(
            governor::Quota::per_second(NonZeroU32::MAX).allow_burst(NonZeroU32::MAX),
        )),
        other => {
            eprintln!("unknown mode {other}: default, fast, bands or governor");
            std::process::exit(2);
        }
    };
    println!("{mode}: {granted} of {CALLS} granted");
}
