//! The lock-free GCRA path under contention: many OS threads reserve (and
//! some give back) on one single-band limiter at once. Whatever the
//! interleaving of their compare-and-swap loops, the slots of the calls
//! that go out must keep the band's spacing: never more than `burst + d/T`
//! calls in any span `d`, and no slot handed out twice beyond the burst.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use tower_pacer::rate::{Limiter, Quota};

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;
const BURST: usize = 5;
/// 1 000 calls per second: 16 000 reservations reach 16 s ahead, so no
/// reservation waits and the test runs as fast as the threads can go.
const PER_SECOND: u64 = 1_000;

/// Slots (ns since the first) of the reservations each thread kept; every
/// third one is dropped instead (a cancelled call gives its slot back).
fn hammer(limiter: &Limiter) -> Vec<u64> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (limiter, barrier) = (limiter.clone(), barrier.clone());
            std::thread::spawn(move || {
                // A runtime per thread for the clock; the limiter is shared.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    barrier.wait();
                    let mut kept = Vec::with_capacity(PER_THREAD);
                    for n in 0..PER_THREAD {
                        let reservation = limiter.reserve(1).expect("no max_wait");
                        if n % 3 == 2 {
                            drop(reservation);
                        } else {
                            kept.push(reservation.slot());
                            reservation.consume();
                        }
                    }
                    kept
                })
            })
        })
        .collect();
    let slots: Vec<_> = handles
        .into_iter()
        .flat_map(|handle| handle.join().expect("thread"))
        .collect();
    let first = *slots.iter().min().expect("slots");
    let mut nanos: Vec<u64> = slots
        .iter()
        .map(|slot| (*slot - first).as_nanos() as u64)
        .collect();
    nanos.sort_unstable();
    nanos
}

#[test]
fn contended_reservations_keep_the_band_spacing() {
    let quota = Quota::per_second(PER_SECOND)
        .unwrap()
        .with_burst(BURST as u64)
        .unwrap();
    let limiter = Limiter::new(quota);
    let slots = hammer(&limiter);
    assert_eq!(slots.len(), THREADS * (PER_THREAD - PER_THREAD / 3));
    let interval = Duration::from_secs(1).as_nanos() as u64 / PER_SECOND;
    // k calls need at least (k − burst) intervals between the first and the
    // last, for every k: checked for a short, a burst-sized and a long run.
    for k in [BURST + 1, 2 * BURST, 100, 1_000] {
        for (i, window) in slots.windows(k).enumerate() {
            let span = window[k - 1] - window[0];
            let needed = (k - BURST) as u64 * interval;
            assert!(
                span + 1 >= needed,
                "{k} calls in {span} ns from call {i} (need {needed} ns)"
            );
        }
    }
    // Given-back slots were reused: the kept calls are not spread out by
    // the cancelled ones (at most one slot lost per cancellation).
    let last = *slots.last().expect("slots");
    let ideal = (slots.len() - BURST) as u64 * interval;
    let lost = (THREADS * (PER_THREAD / 3)) as u64 * interval;
    assert!(
        last <= ideal + lost,
        "last slot {last} ns, ideal {ideal} ns"
    );
}
