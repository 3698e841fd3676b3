//! Several processes, one API quota, shared through Redis.
//!
//! Starts `pacer-mock` in-process (preset `strict`: at most 50 calls in any
//! second, scaled by `--time-scale`), then re-runs itself `--processes`
//! times as workers. Each worker sends its share of `--calls` through
//! `--tasks` tasks and one `Pacer` whose policy has the server's quota and
//! `backend = redis` (one key for all), with a dead-letter layer on top.
//! The parent reports what the server saw.
//!
//! ```text
//! cargo run --release --features redis --example shared_quota -- --processes 4
//! cargo run --release --features redis --example shared_quota -- --json
//! ```
//!
//! `--restart-redis-after SECS` shuts the local Redis down (`redis-cli
//! shutdown nosave`) that long into the run and starts it again a second
//! later with the machine's command: every request must still succeed,
//! fail, or be dead-lettered, and pacing must resume. Redis must be local
//! (127.0.0.1:6379) for that.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer, Preset};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_pacer::dlq::{DeadLetterLayer, DeadLetterStore, MemoryStore};
use tower_pacer::policy::{BackendSpec, FallbackSpec, Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

/// The strict preset's limit: 50 calls in any window.
const LIMIT: u64 = 50;

#[derive(Debug, Clone)]
struct Args {
    processes: u64,
    tasks: u64,
    calls: u64,
    time_scale: f64,
    redis: String,
    json: bool,
    restart_redis_after: Option<f64>,
    /// Set in a worker: the mock's URL, the Redis key, its share of calls.
    worker: Option<(String, String, u64)>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        processes: 4,
        tasks: 8,
        calls: 400,
        time_scale: 1.0,
        redis: "redis://127.0.0.1:6379".to_owned(),
        json: false,
        restart_redis_after: None,
        worker: None,
    };
    let mut it = std::env::args().skip(1);
    let num = |flag: &str, value: Option<String>| -> Result<f64, String> {
        value
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse::<f64>()
            .map_err(|e| format!("{flag}: {e}"))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--processes" => args.processes = num(&flag, it.next())? as u64,
            "--tasks" => args.tasks = num(&flag, it.next())? as u64,
            "--calls" => args.calls = num(&flag, it.next())? as u64,
            "--time-scale" => args.time_scale = num(&flag, it.next())?,
            "--restart-redis-after" => args.restart_redis_after = Some(num(&flag, it.next())?),
            "--redis" => args.redis = it.next().ok_or("--redis needs a URL")?,
            "--json" => args.json = true,
            "--worker" => {
                let url = it.next().ok_or("--worker URL KEY CALLS")?;
                let key = it.next().ok_or("--worker URL KEY CALLS")?;
                let calls = num(&flag, it.next())? as u64;
                args.worker = Some((url, key, calls));
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.processes == 0
        || args.tasks == 0
        || !args.time_scale.is_finite()
        || args.time_scale <= 0.0
    {
        return Err("--processes, --tasks and --time-scale must be > 0".into());
    }
    Ok(args)
}

/// One worker process's counts; every call ends in exactly one of
/// `ok`, `failed` (an error status after retries) or `errors`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Counts {
    calls: u64,
    ok: u64,
    failed: u64,
    errors: u64,
    dead_lettered: u64,
    rate_limited_attempts: u64,
}

/// The policy every worker uses: the server's quota, counted in Redis.
fn policy(args: &Args, key: &str) -> Policy {
    let mut policy = Policy::default();
    policy.name = "mock".into();
    policy.quotas = vec![QuotaSpec::window(LIMIT, Duration::from_secs(1))];
    // The server counts arrivals: a few round trips of margin (see the
    // `rate::redis` docs).
    policy.headroom.margin = Duration::from_millis(10);
    policy.max_wait = Some(Duration::from_secs(60));
    policy.concurrency = Some(args.tasks as usize);
    policy.backend = BackendSpec::Redis {
        url: args.redis.clone(),
        key: key.to_owned(),
        // While Redis is away, each process keeps to its share.
        fallback: FallbackSpec::Local {
            share: 1.0 / args.processes as f64,
        },
        timeout: Some(Duration::from_millis(250)),
    };
    policy.time_scaled(args.time_scale)
}

async fn worker(args: &Args, url: &str, key: &str, calls: u64) -> Result<Counts, BoxError> {
    let pacer = Pacer::new(policy(args, key))?;
    let store = Arc::new(MemoryStore::new());
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let service = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "mock"))
        .layer(pacer.layer())
        .service(client);
    let next = Arc::new(AtomicU64::new(0));
    let (ok, failed, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let tasks: Vec<_> = (0..args.tasks)
        .map(|_| {
            let (mut service, url) = (service.clone(), format!("{url}/contacts"));
            let (next, ok, failed, errors) =
                (next.clone(), ok.clone(), failed.clone(), errors.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    let request = Request::get(&url)
                        .header("authorization", "Bearer shared-quota")
                        .body(Full::new(Bytes::new()))
                        .unwrap_or_default();
                    let outcome = match service.ready().await {
                        Ok(ready) => ready.call(request).await,
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.into_body().collect().await;
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(_) => failed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok(Counts {
        calls,
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        dead_lettered: store.len().await?,
        rate_limited_attempts: pacer.stats().rate_limited,
    })
}

/// The machine's way of starting Redis (see `.ci/run`).
fn start_redis() -> std::io::Result<std::process::ExitStatus> {
    Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
        ])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
        ])
        .args(["--logfile", "/var/log/redis/ci.log"])
        .status()
}

/// Shut the local Redis down `after` into the run, start it again a
/// second later, and wait until it answers.
fn restart_redis(after: Duration, quiet: bool) {
    let start = Instant::now();
    std::thread::sleep(after);
    let say = |what: &str| {
        if !quiet {
            eprintln!("[{:>6.2}s] {what}", start.elapsed().as_secs_f64());
        }
    };
    say("redis-cli shutdown nosave");
    let _ = Command::new("redis-cli")
        .args(["shutdown", "nosave"])
        .status();
    std::thread::sleep(Duration::from_secs(1));
    say("redis-server restarted");
    let _ = start_redis();
    for _ in 0..50 {
        let ping = Command::new("redis-cli").arg("ping").output();
        if ping.is_ok_and(|out| out.stdout.starts_with(b"PONG")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("Redis did not come back: start it with the command in .ci/run");
}

async fn parent(args: &Args) -> Result<(), BoxError> {
    let config = MockConfig::preset(Preset::Strict)
        .with_time_scale(args.time_scale)
        .with_port(0);
    config.validate()?;
    let server = MockServer::start(config).await?;
    // A key of this run's own: runs never share a quota by accident.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!("shared-quota-{}-{nanos:x}", std::process::id());
    let exe = std::env::current_exe()?;
    let per_process = args.calls.div_ceil(args.processes);
    let start = Instant::now();
    let children: Vec<_> = (0..args.processes)
        .map(|i| {
            let calls = per_process.min(args.calls.saturating_sub(i * per_process));
            Command::new(&exe)
                .args(["--worker", &server.url(), &key, &calls.to_string()])
                .args(["--processes", &args.processes.to_string()])
                .args(["--tasks", &args.tasks.to_string()])
                .args(["--time-scale", &args.time_scale.to_string()])
                .args(["--redis", &args.redis])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let restart = args.restart_redis_after.map(|secs| {
        let quiet = args.json;
        std::thread::spawn(move || restart_redis(Duration::from_secs_f64(secs), quiet))
    });
    let mut total = Counts::default();
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        let counts: Counts = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("a worker failed ({}): {e}", output.status))?;
        total.calls += counts.calls;
        total.ok += counts.ok;
        total.failed += counts.failed;
        total.errors += counts.errors;
        total.dead_lettered += counts.dead_lettered;
        total.rate_limited_attempts += counts.rate_limited_attempts;
    }
    let wall = start.elapsed();
    if let Some(restart) = restart {
        let _ = restart.join();
    }
    let stats = server.stats();
    server.shutdown().await;

    let limit_per_s = LIMIT as f64 / args.time_scale;
    // The fastest any client may finish: 50 calls at once, then 50 per window.
    let ideal = args.time_scale * (args.calls.div_ceil(LIMIT).saturating_sub(1)) as f64;
    let calls_per_s = stats.accepted as f64 / wall.as_secs_f64();
    let max_seen = stats.windows.first().map_or(0, |w| w.max_seen);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "processes": args.processes,
                "tasks": args.tasks,
                "calls": total.calls,
                "ok": total.ok,
                "failed": total.failed,
                "errors": total.errors,
                "dead_lettered": total.dead_lettered,
                "rate_limited": stats.rejected,
                "calls_per_s": (calls_per_s * 10.0).round() / 10.0,
                "limit_per_s": limit_per_s,
                "wall_s": (wall.as_secs_f64() * 100.0).round() / 100.0,
                "ideal_s": ideal,
                "max_in_window": max_seen,
            })
        );
    } else {
        println!(
            "pacer-mock strict: at most {LIMIT} calls in any {:?} ({limit_per_s:.0}/s); \
             {} processes x {} tasks, one Redis quota\n",
            Duration::from_secs_f64(args.time_scale),
            args.processes,
            args.tasks
        );
        println!(
            "{:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>7}",
            "calls",
            "ok",
            "failed",
            "errors",
            "dlq",
            "429s",
            "calls/s",
            "limit/s",
            "wall",
            "vs ideal"
        );
        println!(
            "{:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8.1} {:>8.0} {:>7.2}s {:>7.1}%",
            total.calls,
            total.ok,
            total.failed,
            total.errors,
            total.dead_lettered,
            stats.rejected,
            calls_per_s,
            limit_per_s,
            wall.as_secs_f64(),
            100.0 * ideal / wall.as_secs_f64()
        );
        println!(
            "\nserver: {} accepted, {} rejected; most calls seen in one window: {max_seen} (limit {LIMIT})",
            stats.accepted, stats.rejected
        );
    }
    let accounted = total.ok + total.failed + total.errors;
    if accounted != total.calls {
        return Err(format!("{} calls unaccounted for", total.calls - accounted).into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    match &args.worker {
        Some((url, key, calls)) => {
            let counts = worker(&args, url, key, *calls).await?;
            println!("{}", serde_json::to_string(&counts)?);
            Ok(())
        }
        None => parent(&args).await,
    }
}
