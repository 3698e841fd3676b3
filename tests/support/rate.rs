//! Shared by the limiter's property tests: models of what a band allows.

/// The largest total cost of `sent` — `(instant, cost)` pairs in
/// nanoseconds, in any order — within any closed interval of `span` ns.
pub fn max_in_span(sent: &[(u64, u64)], span: u64) -> u64 {
    let mut sorted = sent.to_vec();
    sorted.sort();
    let (mut best, mut lo, mut sum) = (0, 0, 0);
    for hi in 0..sorted.len() {
        sum += sorted[hi].1;
        while sorted[hi].0 - sorted[lo].0 > span {
            sum -= sorted[lo].1;
            lo += 1;
        }
        best = best.max(sum);
    }
    best
}

/// Runs `f` on a current-thread runtime in paused time (an hour of traffic
/// takes milliseconds, and every instant is exact).
pub fn paused<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(f)
}
