//! An in-process simulated API with an undisclosed limit, and a harness
//! that drives a client stack against it in paused `tokio` time: tens of
//! simulated seconds take a fraction of a real second.
//!
//! The server is a `tower::Service<http::Request<()>>` holding a hidden
//! token bucket (whose rate may change mid-run), fixed window (optionally
//! announced in IETF `RateLimit` headers) or concurrency cap. Each request
//! travels up (10 % of its latency), is judged on arrival, is processed
//! (80 %) if accepted, and travels back (10 %); a refused one comes back at
//! once with a bare 429. Counts are kept per simulated second, by arrival.
//!
//! Used by `tests/adaptive/main.rs` (assertions) and
//! `examples/adaptive_sim.rs` (the README's table).
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, sleep};
use tower::{Service, ServiceExt};
use tower_pacer::BoxError;
use tower_pacer::adaptive::{
    AdaptiveConcurrencyLayer, AdaptiveRateLayer, AdaptiveStrategy, Aimd, ConcurrencyController,
    Cubic, RateController,
};
use tower_pacer::classify::{BoxErrors, HttpClassifier};
use tower_pacer::concurrency::ConcurrencyLimiter;
use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};

/// What the server limits, hidden from the client.
#[derive(Debug, Clone)]
pub enum ServerLimit {
    /// A token bucket holding one second of its rate; `(from second, rate)`
    /// phases, the first from 0.
    TokenBucket(Vec<(u64, f64)>),
    /// At most `limit` calls per fixed window of `window` seconds;
    /// `headers` sends IETF `RateLimit` / `RateLimit-Policy` fields.
    FixedWindow {
        limit: u64,
        window: u64,
        headers: bool,
    },
    /// At most `cap` calls processed at once.
    Concurrency { cap: usize },
}

/// One simulated run's setting.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub limit: ServerLimit,
    /// Mean round-trip time of an accepted call.
    pub latency: Duration,
    /// Share of the latency that is an exponential tail, in [0, 1]:
    /// `latency · ((1 − j) + j · Exp(1))`.
    pub jitter: f64,
    /// Share of the latency spent on the network each way.
    pub network: f64,
    /// Closed-loop callers, each sending its next call as soon as the last
    /// one returns (infinite demand).
    pub workers: usize,
    pub seconds: u64,
}

impl Scenario {
    /// The true limit in calls per second during second `s`.
    pub fn limit_at(&self, s: u64) -> f64 {
        match &self.limit {
            ServerLimit::TokenBucket(phases) => phases
                .iter()
                .rev()
                .find(|(from, _)| *from <= s)
                .map_or(0.0, |(_, rate)| *rate),
            ServerLimit::FixedWindow { limit, window, .. } => *limit as f64 / *window as f64,
            // What a client holding exactly `cap` calls gets.
            ServerLimit::Concurrency { cap } => *cap as f64 / self.latency.as_secs_f64(),
        }
    }

    /// The seconds at which the limit changes (0 included).
    pub fn changes(&self) -> Vec<u64> {
        match &self.limit {
            ServerLimit::TokenBucket(phases) => phases.iter().map(|(from, _)| *from).collect(),
            _ => vec![0],
        }
    }

    /// The standard scenarios: 100/s unless said otherwise, 50 ms, 64
    /// callers.
    pub fn all() -> Vec<Scenario> {
        let base = Scenario {
            name: "steady",
            limit: ServerLimit::TokenBucket(vec![(0, 100.0)]),
            latency: Duration::from_millis(50),
            jitter: 0.0,
            network: 0.1,
            workers: 64,
            seconds: 40,
        };
        vec![
            base.clone(),
            Scenario {
                name: "halving",
                limit: ServerLimit::TokenBucket(vec![(0, 100.0), (20, 50.0)]),
                ..base.clone()
            },
            Scenario {
                name: "rising",
                limit: ServerLimit::TokenBucket(vec![(0, 50.0), (20, 100.0)]),
                ..base.clone()
            },
            Scenario {
                name: "noisy latency",
                jitter: 0.8,
                ..base.clone()
            },
            Scenario {
                name: "concurrency cap 10",
                limit: ServerLimit::Concurrency { cap: 10 },
                network: 0.02,
                ..base.clone()
            },
            Scenario {
                name: "window 200/10 s, headers",
                limit: ServerLimit::FixedWindow {
                    limit: 200,
                    window: 10,
                    headers: true,
                },
                seconds: 60,
                ..base
            },
        ]
    }

    pub fn named(name: &str) -> Scenario {
        match Self::all().into_iter().find(|s| s.name == name) {
            Some(scenario) => scenario,
            None => panic!("no scenario {name}"),
        }
    }
}

/// The client-side control under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The article's AIMD with the epoch guard, from 10/s.
    Aimd,
    /// The article's AIMD exactly (a decrease per 429), from 10/s.
    AimdArticle,
    /// Fixed CUBIC, 100 ms burst.
    Cubic,
    /// Fixed CUBIC with header-driven pacing.
    CubicHeaders,
    /// CUBIC as the AWS SDKs implement it, 1 s burst.
    Aws,
    /// Adaptive concurrency (Vector ARC), no rate limit.
    Arc,
}

impl Strategy {
    pub const ALL: [Strategy; 6] = [
        Strategy::Aimd,
        Strategy::AimdArticle,
        Strategy::Cubic,
        Strategy::CubicHeaders,
        Strategy::Aws,
        Strategy::Arc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Aimd => "AIMD (epoch guard)",
            Strategy::AimdArticle => "AIMD (article: per-429)",
            Strategy::Cubic => "CUBIC fixed",
            Strategy::CubicHeaders => "CUBIC fixed + headers",
            Strategy::Aws => "CUBIC as AWS implements it",
            Strategy::Arc => "adaptive concurrency (ARC)",
        }
    }
}

/// Counts of one simulated second.
#[derive(Debug, Clone, Copy, Default)]
pub struct Second {
    pub ok: u64,
    pub throttled: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: Scenario,
    pub strategy: Strategy,
    pub seconds: Vec<Second>,
    /// Most calls outstanding at once (sent, not yet answered).
    pub max_outstanding: usize,
}

impl Report {
    fn span(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &Second)> {
        (from..to.min(self.seconds.len() as u64))
            .filter_map(|s| Some((s, self.seconds.get(s as usize)?)))
    }

    /// Accepted calls over `[from, to)` as a share of the true limit.
    pub fn share_of_limit(&self, from: u64, to: u64) -> f64 {
        let (ok, allowed) = self
            .span(from, to)
            .fold((0.0, 0.0), |(ok, allowed), (s, second)| {
                (ok + second.ok as f64, allowed + self.scenario.limit_at(s))
            });
        if allowed > 0.0 { ok / allowed } else { 0.0 }
    }

    /// Throttled calls over `[from, to)` as a share of all calls.
    pub fn throttle_ratio(&self, from: u64, to: u64) -> f64 {
        let (ok, throttled) = self.span(from, to).fold((0, 0), |(ok, t), (_, second)| {
            (ok + second.ok, t + second.throttled)
        });
        if ok + throttled > 0 {
            throttled as f64 / (ok + throttled) as f64
        } else {
            0.0
        }
    }

    /// Seconds from `from` to the end of the first second whose accepted
    /// calls reach 90 % of the limit, if any before `to`.
    pub fn convergence(&self, from: u64, to: u64) -> Option<u64> {
        self.span(from, to)
            .find(|(s, second)| second.ok as f64 >= 0.9 * self.scenario.limit_at(*s))
            .map(|(s, _)| s + 1 - from)
    }

    /// The phases: `(start, end)` of each constant-limit stretch.
    pub fn phases(&self) -> Vec<(u64, u64)> {
        let changes = self.scenario.changes();
        let ends = changes
            .iter()
            .skip(1)
            .copied()
            .chain([self.scenario.seconds]);
        changes.iter().copied().zip(ends).collect()
    }

    /// Steady state of each phase: from 10 s after its start to its end.
    pub fn steady_share(&self) -> Vec<f64> {
        self.phases()
            .into_iter()
            .map(|(start, end)| self.share_of_limit(start + 10, end))
            .collect()
    }

    /// The 429 ratio over the steady stretches together.
    pub fn steady_throttle_ratio(&self) -> f64 {
        let (ok, throttled) = self
            .phases()
            .into_iter()
            .flat_map(|(start, end)| {
                self.span(start + 10, end)
                    .map(|(_, s)| *s)
                    .collect::<Vec<_>>()
            })
            .fold((0, 0), |(ok, t), s| (ok + s.ok, t + s.throttled));
        if ok + throttled > 0 {
            throttled as f64 / (ok + throttled) as f64
        } else {
            0.0
        }
    }

    /// Convergence time of each phase.
    pub fn convergence_times(&self) -> Vec<Option<u64>> {
        self.phases()
            .into_iter()
            .map(|(start, end)| self.convergence(start, end))
            .collect()
    }
}

struct ServerState {
    scenario: Scenario,
    start: Instant,
    rng: SmallRng,
    tokens: f64,
    refilled: Instant,
    window_index: u64,
    window_count: u64,
    processing: usize,
    outstanding: usize,
    max_outstanding: usize,
    seconds: Vec<Second>,
}

enum Verdict {
    Accept,
    Refuse,
}

impl ServerState {
    fn judge(&mut self, now: Instant) -> (Verdict, Option<(u64, u64)>) {
        let t = now.saturating_duration_since(self.start).as_secs_f64();
        let second = t as u64;
        let verdict = match self.scenario.limit.clone() {
            ServerLimit::TokenBucket(_) => {
                let rate = self.scenario.limit_at(second);
                let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
                self.refilled = now;
                // The bucket holds one second of the current rate.
                self.tokens = (self.tokens + elapsed * rate).min(rate);
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    (Verdict::Accept, None)
                } else {
                    (Verdict::Refuse, None)
                }
            }
            ServerLimit::FixedWindow { limit, window, .. } => {
                let index = second / window;
                if index != self.window_index {
                    self.window_index = index;
                    self.window_count = 0;
                }
                let accept = self.window_count < limit;
                if accept {
                    self.window_count += 1;
                }
                // Whole seconds until the window ends, rounded up.
                let reset = ((index + 1) * window) as f64 - t;
                let info = Some((limit - self.window_count, reset.ceil().max(1.0) as u64));
                (
                    if accept {
                        Verdict::Accept
                    } else {
                        Verdict::Refuse
                    },
                    info,
                )
            }
            ServerLimit::Concurrency { cap } => {
                if self.processing < cap {
                    (Verdict::Accept, None)
                } else {
                    (Verdict::Refuse, None)
                }
            }
        };
        let slot = second as usize;
        if self.seconds.len() <= slot {
            self.seconds.resize(slot + 1, Second::default());
        }
        if let Some(counts) = self.seconds.get_mut(slot) {
            match verdict.0 {
                Verdict::Accept => counts.ok += 1,
                Verdict::Refuse => counts.throttled += 1,
            }
        }
        if let Verdict::Accept = verdict.0 {
            self.processing += 1;
        }
        verdict
    }

    fn latency(&mut self) -> Duration {
        let j = self.scenario.jitter;
        let u: f64 = self.rng.random::<f64>();
        let exp = -(1.0 - u).ln();
        self.scenario.latency.mul_f64((1.0 - j) + j * exp)
    }
}

/// The simulated API.
#[derive(Clone)]
pub struct SimServer {
    state: Arc<Mutex<ServerState>>,
}

impl SimServer {
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        let now = Instant::now();
        let tokens = scenario.limit_at(0);
        Self {
            state: Arc::new(Mutex::new(ServerState {
                scenario,
                start: now,
                rng: SmallRng::seed_from_u64(seed),
                tokens,
                refilled: now,
                window_index: 0,
                window_count: 0,
                processing: 0,
                outstanding: 0,
                max_outstanding: 0,
                seconds: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Service<Request<()>> for SimServer {
    type Response = Response<()>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<()>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move {
            let (latency, network) = {
                let mut state = server.lock();
                state.outstanding += 1;
                state.max_outstanding = state.max_outstanding.max(state.outstanding);
                let latency = state.latency();
                (latency, state.scenario.network)
            };
            let way = latency.mul_f64(network).max(Duration::from_millis(1));
            sleep(way).await;
            let (verdict, info, headers) = {
                let mut state = server.lock();
                let (verdict, info) = state.judge(Instant::now());
                let headers = matches!(
                    state.scenario.limit,
                    ServerLimit::FixedWindow { headers: true, .. }
                );
                (verdict, info, headers)
            };
            let mut response = Response::builder();
            if let (Some((remaining, reset)), true) = (info, headers) {
                if let ServerLimit::FixedWindow { limit, window, .. } = server.lock().scenario.limit
                {
                    response = response
                        .header(
                            "ratelimit-policy",
                            format!("\"default\";q={limit};w={window}"),
                        )
                        .header("ratelimit", format!("\"default\";r={remaining};t={reset}"));
                }
                if let Verdict::Refuse = verdict {
                    response = response.header("retry-after", reset.to_string());
                }
            }
            match verdict {
                Verdict::Accept => {
                    sleep(latency.saturating_sub(way * 2)).await;
                    server.lock().processing -= 1;
                    response = response.status(200);
                }
                Verdict::Refuse => response = response.status(429),
            }
            sleep(way).await;
            server.lock().outstanding -= 1;
            Ok(response.body(())?)
        })
    }
}

/// Runs `strategy` against `scenario` (in paused time: call from a
/// `start_paused` runtime) and reports what the server saw.
pub async fn run(scenario: &Scenario, strategy: Strategy) -> Report {
    let server = SimServer::new(scenario.clone(), 7);
    let end = Instant::now() + Duration::from_secs(scenario.seconds);
    let workers = scenario.workers;
    let outcome = match strategy {
        Strategy::Arc => {
            let cap = ConcurrencyLimiter::new(1).map_err(BoxError::from);
            let controller = cap.and_then(|cap| {
                ConcurrencyController::builder(cap)
                    .build()
                    .map_err(Into::into)
            });
            match controller {
                Ok(controller) => {
                    let layer = AdaptiveConcurrencyLayer::with_classifier(
                        controller,
                        BoxErrors(HttpClassifier::default()),
                    );
                    drive(tower::Layer::layer(&layer, server.clone()), workers, end).await;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        _ => match rate_stack(strategy, server.clone()) {
            Ok(stack) => {
                drive(stack, workers, end).await;
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = outcome {
        panic!("bad harness configuration: {e}");
    }
    let state = server.lock();
    let mut seconds = state.seconds.clone();
    seconds.truncate(scenario.seconds as usize);
    Report {
        scenario: scenario.clone(),
        strategy,
        seconds,
        max_outstanding: state.max_outstanding,
    }
}

type RateStack = tower_pacer::adaptive::AdaptiveRate<
    tower_pacer::rate::RateLimit<SimServer>,
    BoxErrors<HttpClassifier>,
>;

fn rate_stack(strategy: Strategy, server: SimServer) -> Result<RateStack, BoxError> {
    let limiter = Limiter::new(Quota::per_second(1)?);
    let (boxed, burst, headers): (Box<dyn FnOnce(Limiter) -> _>, u64, bool) = match strategy {
        Strategy::Aimd => (strat(Aimd::builder(10.0).build()?), 100, false),
        Strategy::AimdArticle => (
            strat(Aimd::builder(10.0).decrease_once_per_epoch(false).build()?),
            100,
            false,
        ),
        Strategy::Cubic => (strat(Cubic::builder().build()?), 100, false),
        Strategy::CubicHeaders => (strat(Cubic::builder().build()?), 100, true),
        Strategy::Aws => (strat(Cubic::aws_as_implemented().build()?), 1000, false),
        Strategy::Arc => return Err("not a rate strategy".into()),
    };
    let controller = boxed(limiter.clone())
        .burst_window(Duration::from_millis(burst))
        .header_pacing(headers)
        .build()?;
    Ok(tower::ServiceBuilder::new()
        .layer(AdaptiveRateLayer::new(controller))
        .layer(RateLimitLayer::new(limiter))
        .service(server))
}

fn strat(
    strategy: impl AdaptiveStrategy,
) -> Box<dyn FnOnce(Limiter) -> tower_pacer::adaptive::RateControllerBuilder> {
    Box::new(move |limiter| RateController::builder(limiter, strategy))
}

/// `workers` closed-loop callers until `end`.
async fn drive<S>(service: S, workers: usize, end: Instant)
where
    S: Service<Request<()>, Response = Response<()>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let mut service = service.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let Ok(ready) = service.ready().await else {
                    break;
                };
                let _ = ready.call(Request::new(())).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}
