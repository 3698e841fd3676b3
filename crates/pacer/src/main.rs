//! `pacer`: sync a file of records to a rate-limited API at the fastest
//! pace it allows, resumably; operate the dead letters; run the demo and
//! the mock API.
//!
//! ```text
//! pacer demo                                  # naive vs paced, on the built-in mock
//! pacer sync --input contacts.jsonl --url https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert \
//!            --preset hubspot --token-env HUBSPOT_TOKEN --state .pacer
//! pacer dlq --store sqlite:.pacer/dead-letters.sqlite3 list
//! pacer mock --preset hubspot --port 8080
//! ```

#![forbid(unsafe_code)]

mod chart;
mod client;
mod demo;
mod dlq;
mod error;
mod sync;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sync records to rate-limited APIs at the pace they allow.
#[derive(Debug, Parser)]
#[command(name = "pacer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The naive client against a paced one, on the built-in mock API (no setup).
    Demo(demo::DemoArgs),
    /// Send a file of records (JSONL or CSV) to an API in batches, at the
    /// policy's pace; resumable (`--state`).
    Sync(sync::SyncArgs),
    /// Operate the dead letters: list, show, replay, purge, export.
    Dlq(dlq::DlqArgs),
    /// Serve the mock API (`pacer-mock`).
    Mock(pacer_mock::cli::MockArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pacer: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let result = match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Sync(args) => sync::run(args).await,
            Command::Dlq(args) => dlq::run(args).await,
            Command::Mock(args) => return pacer_mock::cli::serve(&args).await,
        };
        match result {
            Ok(code) => code.into(),
            Err(e) => {
                eprintln!("pacer: {e}");
                e.exit_code()
            }
        }
    })
}
