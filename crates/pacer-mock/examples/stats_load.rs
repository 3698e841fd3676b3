//! Requests per second the mock serves over loopback, with and without a
//! client polling `GET /__stats` back to back (issue 16: building the
//! snapshot must not stop traffic).
//!
//! ```text
//! cargo run --release -p pacer-mock --example stats_load -- --keys 10000 --seconds 5
//! cargo run --release -p pacer-mock --example stats_load -- --keys 10000 --seconds 5 --poll
//! cargo run --release -p pacer-mock --example stats_load -- --keys 10000 --seconds 5 --poll-every-ms 100
//! ```
//!
//! First every key is seen once (so the table holds `--keys` keys), then
//! `--connections` keep-alive connections send echo requests for
//! `--seconds`, cycling over the keys; with `--poll`, one more connection
//! asks for `/__stats` as fast as it is answered (or every
//! `--poll-every-ms`, as a dashboard would). The server has a sliding
//! window and a daily cap per key (limits far above the load), IETF
//! headers. The clients share the machine (and the runtime's two worker
//! threads) with the server, so the figure is a lower bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use pacer_mock::{HeaderDialect, MockConfig, MockServer, MockStats};

type Conn = SendRequest<Empty<Bytes>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    keys: usize,
    seconds: u64,
    connections: usize,
    poll: bool,
    /// Pause between two polls (zero: back to back).
    poll_every: Duration,
}

fn args() -> Result<Args, Error> {
    let mut args = Args {
        keys: 10_000,
        seconds: 5,
        connections: 64,
        poll: false,
        poll_every: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--keys" => args.keys = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--connections" => args.connections = value()?.parse()?,
            "--poll" => args.poll = true,
            "--poll-every-ms" => {
                args.poll = true;
                args.poll_every = Duration::from_millis(value()?.parse()?);
            }
            other => {
                return Err(format!(
                    "unknown argument {other} \
                     (--keys N --seconds S --connections C --poll --poll-every-ms MS)"
                )
                .into());
            }
        }
    }
    if args.keys == 0 || args.connections == 0 {
        return Err("--keys and --connections must be at least 1".into());
    }
    Ok(args)
}

async fn connect(server: &MockServer) -> Result<Conn, Error> {
    let stream = tokio::net::TcpStream::connect(server.addr()).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn get(conn: &mut Conn, host: &str, path: &str, key: &str) -> Result<Bytes, Error> {
    conn.ready().await?;
    let req = Request::get(path)
        .header("host", host)
        .header("authorization", format!("Bearer {key}"))
        .body(Empty::new())?;
    let res = conn.send_request(req).await?;
    if !res.status().is_success() {
        return Err(format!("{path}: {}", res.status()).into());
    }
    Ok(res.into_body().collect().await?.to_bytes())
}

fn main() -> Result<(), Error> {
    let args = args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Error> {
    let config = MockConfig::default()
        .with_window(10_000_000, Duration::from_secs(1))
        .with_fixed_window(100_000_000, Duration::from_secs(86_400))
        .with_headers(HeaderDialect::Ietf)
        .with_port(0);
    let server = MockServer::start(config).await?;
    let host = server.addr().to_string();
    let mut conns = Vec::new();
    for _ in 0..args.connections {
        conns.push(connect(&server).await?);
    }

    // Every key once, so the table is full before measuring.
    let keys = Arc::new(
        (0..args.keys)
            .map(|n| format!("key-{n}"))
            .collect::<Vec<_>>(),
    );
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let (keys, host, step) = (Arc::clone(&keys), host.clone(), args.connections);
        tasks.push(tokio::spawn(async move {
            for key in keys.iter().skip(i).step_by(step) {
                get(&mut conn, &host, "/warm-up", key).await?;
            }
            Ok::<_, Error>(conn)
        }));
    }
    let mut conns = Vec::new();
    for task in tasks {
        conns.push(task.await??);
    }
    server.reset_stats();

    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let poller = if args.poll {
        let mut conn = connect(&server).await?;
        let (stop, host, args_poll_every) = (Arc::clone(&stop), host.clone(), args.poll_every);
        Some(tokio::spawn(async move {
            let (mut polls, mut slowest, mut total) = (0u64, Duration::ZERO, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let start = Instant::now();
                let body = get(&mut conn, &host, "/__stats", "poller").await?;
                let took = start.elapsed();
                let stats: MockStats = serde_json::from_slice(&body)?;
                if stats.keys.is_empty() {
                    return Err::<_, Error>("a snapshot without keys".into());
                }
                polls += 1;
                slowest = slowest.max(took);
                total += took;
                if !args.poll_every.is_zero() {
                    tokio::time::sleep(args_poll_every).await;
                }
            }
            Ok((polls, slowest, total))
        }))
    } else {
        None
    };

    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let (keys, host, served) = (Arc::clone(&keys), host.clone(), Arc::clone(&served));
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            // Microseconds each request took: a stalled server shows in the tail.
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                get(
                    &mut conn,
                    &host,
                    "/crm/v3/objects/contacts",
                    &keys[n % keys.len()],
                )
                .await?;
                latencies.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                served.fetch_add(1, Ordering::Relaxed);
                n += 7919; // a prime: spread each connection over the keys
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(i).copied().unwrap_or(0)
    };
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let served = served.load(Ordering::Relaxed);
    println!(
        "keys {}, connections {}, poller {}: {served} requests in {elapsed:.2?}: {:.0} req/s",
        args.keys,
        args.connections,
        if args.poll { "on" } else { "off" },
        served as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  request latency p50 {} µs, p99 {} µs, max {} µs",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    if let Some(poller) = poller {
        let (polls, slowest, total) = poller.await??;
        println!(
            "  /__stats answered {polls} times ({:.1}/s), mean {:.2?}, slowest {slowest:.2?}",
            polls as f64 / elapsed.as_secs_f64(),
            total / u32::try_from(polls.max(1)).unwrap_or(u32::MAX),
        );
    }
    let stats = server.stats();
    if stats.accepted < served || stats.rejected != 0 {
        return Err(format!(
            "the mock counted {} accepted, {} rejected for {served} served",
            stats.accepted, stats.rejected
        )
        .into());
    }
    server.shutdown().await;
    Ok(())
}
