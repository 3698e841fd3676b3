//! Adaptive pacing: unit behaviour of the strategies and controllers, and
//! the simulation harness's scenarios (an in-process API with an
//! undisclosed limit, in paused time).

mod controllers;
mod scenarios;
mod sim;
mod strategies;
mod table;

/// The whole figures table (also `cargo run --example adaptive_sim`).
#[tokio::test(start_paused = true)]
#[ignore = "prints the whole table; run with --ignored --nocapture"]
async fn print_table() {
    println!("{}", table::table().await);
}
