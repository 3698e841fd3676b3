//! The adaptive-pacing figures: every simulated scenario × strategy, as a
//! markdown table (the README's).
//!
//! ```sh
//! cargo run --release --example adaptive_sim
//! ```
//!
//! Runs in paused `tokio` time against the in-process simulated API of
//! `tests/adaptive/sim.rs` (hidden token bucket, window or concurrency
//! cap; 64 closed-loop callers; 50 ms latency), so the 40–60 simulated
//! seconds per row take milliseconds.

#[path = "../tests/adaptive/sim.rs"]
mod sim;
#[path = "../tests/adaptive/table.rs"]
mod table;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    println!("{}", table::table().await);
}
