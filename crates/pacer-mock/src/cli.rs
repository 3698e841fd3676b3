//! The command line of `pacer-mock` as a reusable [`clap::Args`] group, so
//! other tools (the `pacer` CLI's `pacer mock`) serve the same flags.
//!
//! A preset is the starting point; every other flag given overrides the
//! corresponding part of it (a `--window` list replaces the preset's windows).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{
    ErrorBody, HeaderDialect, Latency, MockConfig, MockServer, Preset, RateQuota, RetryAfterForm,
    WindowMode, WindowQuota, parse_duration, parse_quota,
};

/// A rate-limited mock API server: per-key quotas, 429s with Retry-After,
/// rate-limit headers, seeded faults, statistics at GET /__stats., 429s with Retry-After,
/// rate-limit headers, seeded faults, statistics at GET /__stats.
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct MockArgs {
    /// Start from a preset: hubspot, salesforce, mailchimp, ga4, github, strict.
    #[arg(long)]
    preset: Option<Preset>,
    /// Port to listen on (0 = any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (default 127.0.0.1).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Multiply every window and delay by F (0.01: a 10 s window lasts 100 ms).
    #[arg(long, value_name = "F")]
    time_scale: Option<f64>,
    /// Window quota N/DURATION, repeatable (e.g. --window 100/10s --window 250000/1d).
    #[arg(long, value_name = "N/DURATION", value_parser = parse_quota)]
    window: Vec<(u64, Duration)>,
    /// How --window quotas count: sliding (exact, default) or fixed (aligned on start).
    #[arg(long, value_name = "MODE")]
    window_mode: Option<WindowMode>,
    /// GCRA rate R/DURATION.
    #[arg(long, value_name = "R/DURATION", value_parser = parse_quota)]
    rate: Option<(u64, Duration)>,
    /// Burst of the GCRA rate (default 1).
    #[arg(long, value_name = "B", requires = "rate")]
    burst: Option<u64>,
    /// Maximum in-flight requests per key.
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,
    /// Status of a rejection: 429, 403 or 503.
    #[arg(long, value_name = "STATUS")]
    reject_status: Option<u16>,
    /// Retry-After form: seconds, decimal, date, none or garbage.
    #[arg(long, value_name = "FORM")]
    retry_after: Option<RetryAfterForm>,
    /// Rate-limit header dialect: ietf, x-ratelimit, hubspot or none.
    #[arg(long, value_name = "DIALECT")]
    headers: Option<HeaderDialect>,
    /// Rejection body style: generic, hubspot, salesforce, google or github.
    #[arg(long, value_name = "STYLE")]
    error_body: Option<ErrorBody>,
    /// Fraction of requests answered 503.
    #[arg(long = "fault-503", value_name = "F")]
    fault_503: Option<f64>,
    /// Fraction of requests answered 500.
    #[arg(long = "fault-500", value_name = "F")]
    fault_500: Option<f64>,
    /// Fraction of requests whose connection is closed mid-response.
    #[arg(long, value_name = "F")]
    fault_reset: Option<f64>,
    /// Fraction of accepted requests answered slowly (see --slow).
    #[arg(long, value_name = "F")]
    fault_slow: Option<f64>,
    /// Extra delay of a slow response (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    slow: Option<Duration>,
    /// Latency of accepted requests, BASE[+JITTER] in milliseconds.
    #[arg(long, value_name = "BASE[+JITTER]")]
    latency_ms: Option<Latency>,
    /// Most inputs POST /batch accepts.
    #[arg(long, value_name = "N")]
    batch_max: Option<usize>,
    /// Fraction of batch items that fail on their own.
    #[arg(long, value_name = "F")]
    batch_item_failure: Option<f64>,
    /// Seed of every random choice.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Honour `Idempotency-Key` on POST /batch: a key seen before gets the
    /// first answer again, and its items are not processed twice.
    #[arg(long)]
    idempotency: bool,
    /// Count every batch item's `"id"` (stats: `ids`), to check that a
    /// client sent nothing twice.
    #[arg(long)]
    track_ids: bool,
    /// Answer 401 to every request whose key is not KEY.
    #[arg(long, value_name = "KEY")]
    require_key: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl MockArgs {
    /// The preset (or the no-limit default) with every given flag applied.
    pub fn config(&self) -> MockConfig {
        let mut c = self.preset.map(MockConfig::preset).unwrap_or_default();
        if let Some(v) = self.port {
            c.port = v;
        }
        if let Some(v) = self.bind {
            c.bind = v;
        }
        if let Some(v) = self.time_scale {
            c.time_scale = v;
        }
        if !self.window.is_empty() {
            let mode = self.window_mode.unwrap_or_default();
            c.windows = self
                .window
                .iter()
                .map(|&(limit, window)| WindowQuota {
                    limit,
                    window,
                    mode,
                })
                .collect();
        } else if let Some(mode) = self.window_mode {
            c.windows.iter_mut().for_each(|w| w.mode = mode);
        }
        if let Some((count, period)) = self.rate {
            let burst = self.burst.unwrap_or(1);
            c.rate = Some(RateQuota {
                count,
                period,
                burst,
            });
        }
        if let Some(v) = self.concurrency {
            c.concurrency = Some(v);
        }
        if let Some(v) = self.reject_status {
            c.reject_status = v;
        }
        if let Some(v) = self.retry_after {
            c.retry_after = v;
        }
        if let Some(v) = self.headers {
            c.headers = v;
        }
        if let Some(v) = self.error_body {
            c.error_body = v;
        }
        if let Some(v) = self.fault_503 {
            c.faults.status_503 = v;
        }
        if let Some(v) = self.fault_500 {
            c.faults.status_500 = v;
        }
        if let Some(v) = self.fault_reset {
            c.faults.reset = v;
        }
        if let Some(v) = self.fault_slow {
            c.faults.slow = v;
            if c.faults.slow_delay.is_zero() {
                c.faults.slow_delay = Duration::from_secs(30);
            }
        }
        if let Some(v) = self.slow {
            c.faults.slow_delay = v;
        }
        if let Some(v) = self.latency_ms {
            c.latency = v;
        }
        if let Some(v) = self.batch_max {
            c.batch_max = v;
        }
        if let Some(v) = self.batch_item_failure {
            c.batch_item_failure = v;
        }
        if let Some(v) = self.seed {
            c.seed = v;
        }
        c.idempotency |= self.idempotency;
        if let Some(key) = &self.require_key {
            c.require_key = Some(key.clone());
        }
        c.track_ids |= self.track_ids;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(crate::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        c
    }
}

/// Serves `args` until Ctrl-C (or SIGTERM): prints the start-up line
/// (`pacer-mock listening on URL (NAME): LIMITS`) and returns the exit code.
pub async fn serve(args: &MockArgs) -> ExitCode {
    let server = match MockServer::start(args.config()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("pacer-mock: {e}");
            return ExitCode::from(2);
        }
    };
    let c = server.config();
    if !c.bind.is_loopback() {
        eprintln!(
            "pacer-mock: WARNING: listening on {} — reachable from other machines; \
             /__stats and /__reset need no credentials",
            c.bind
        );
    }
    println!(
        "pacer-mock listening on {} ({}): {}",
        server.url(),
        c.name,
        c.describe_limits()
    );
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("pacer-mock: cannot wait for Ctrl-C: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: MockArgs,
    }

    fn config(args: &[&str]) -> MockConfig {
        let argv = std::iter::once("pacer-mock").chain(args.iter().copied());
        Cli::try_parse_from(argv).unwrap().args.config()
    }

    #[test]
    fn flags_after_preset_override_it() {
        let c = config(&[
            "--preset",
            "hubspot",
            "--window",
            "5/1s",
            "--retry-after",
            "decimal",
            "--port",
            "0",
        ]);
        assert_eq!(
            c.windows,
            vec![WindowQuota::sliding(5, Duration::from_secs(1))]
        );
        assert_eq!(c.retry_after, RetryAfterForm::Decimal);
        assert_eq!(
            c.headers,
            HeaderDialect::Hubspot,
            "untouched preset parts stay"
        );
        assert_eq!(c.batch_max, 100);
    }

    #[test]
    fn every_issue_flag_parses() {
        let c = config(&[
            "--preset",
            "strict",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--time-scale",
            "0.01",
            "--window",
            "100/10s",
            "--window",
            "250000/1d",
            "--rate",
            "10/1s",
            "--burst",
            "5",
            "--concurrency",
            "10",
            "--reject-status",
            "403",
            "--retry-after",
            "date",
            "--headers",
            "x-ratelimit",
            "--fault-503",
            "0.1",
            "--fault-500",
            "0.05",
            "--fault-reset",
            "0.01",
            "--latency-ms",
            "20+10",
            "--batch-max",
            "50",
            "--seed",
            "42",
        ]);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.windows.len(), 2);
        assert_eq!(
            c.rate,
            Some(RateQuota {
                count: 10,
                period: Duration::from_secs(1),
                burst: 5
            })
        );
        assert_eq!(
            (c.concurrency, c.reject_status, c.seed, c.batch_max),
            (Some(10), 403, 42, 50)
        );
        assert_eq!(
            c.latency,
            Latency {
                base: Duration::from_millis(20),
                jitter: Duration::from_millis(10)
            }
        );
        assert_eq!(c.faults.status_503, 0.1);
        assert_eq!(c.time_scale, 0.01);
    }

    #[test]
    fn bad_flags_are_errors_not_panics() {
        for args in [
            &["--window", "100"][..],
            &["--window", "0/1s"],
            &["--preset", "nope"],
            &["--retry-after", "later"],
            &["--burst", "3"],
            &["--latency-ms", "fast"],
            &["--port", "70000"],
        ] {
            let argv = std::iter::once("pacer-mock").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?}");
        }
        // Values clap accepts but the config refuses are reported by validate().
        assert!(config(&["--time-scale=-1"]).validate().is_err());
        assert!(config(&["--fault-503", "2"]).validate().is_err());
        assert!(config(&["--reject-status", "200"]).validate().is_err());
    }

    #[test]
    fn window_mode_applies_to_preset_windows() {
        let c = config(&["--preset", "strict", "--window-mode", "fixed"]);
        assert_eq!(c.windows[0].mode, WindowMode::Fixed);
    }
}
