//! `pacer-mock`: a rate-limited mock API server.
//!
//! ```text
//! cargo run -p pacer-mock -- --preset hubspot --port 8080
//! ```
//!
//! A preset is the starting point; every other flag given overrides the
//! corresponding part of it (a `--window` list replaces the preset's windows).

use std::process::ExitCode;

use clap::Parser;
use pacer_mock::cli::MockArgs;

/// A rate-limited mock API server: per-key quotas, 429s with Retry-After,
/// rate-limit headers, seeded faults, statistics at GET /__stats.
#[derive(Debug, Parser)]
#[command(name = "pacer-mock", version)]
struct Cli {
    #[command(flatten)]
    args: MockArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    pacer_mock::cli::serve(&Cli::parse().args).await
}
