//! The retry layer, end to end over the RateLimit layer, in paused time.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::classify::{Classification, Outcome};
use tower_pacer::headers::MAX_DELAY;
use tower_pacer::rate::{Limiter, Quota, RateError, RateLimitLayer};
use tower_pacer::retry::{
    Attempts, Backoff, Cloned, DEFAULT_SAFETY_MARGIN, HttpReplay, Jitter, RetryBudget, RetryError,
    RetryLayer, RetryLayerBuilder,
};

const MS: Duration = Duration::from_millis(1);
const MARGIN: Duration = DEFAULT_SAFETY_MARGIN;

type Reply = Result<Response<()>, BoxError>;

/// When the mock API received each call.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Instant>>>);

impl Log {
    /// Records a call now; returns its index.
    fn push(&self) -> usize {
        let mut sends = self.0.lock().unwrap();
        sends.push(Instant::now());
        sends.len() - 1
    }

    fn sends(&self) -> Vec<Instant> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Each call's time since `start`.
    fn offsets(&self, start: Instant) -> Vec<Duration> {
        self.sends().iter().map(|t| *t - start).collect()
    }
}

/// A mock API that answers call number `n` with `respond(n, &request)`.
fn api<B, F>(
    log: &Log,
    respond: F,
) -> impl Service<
    Request<B>,
    Response = Response<()>,
    Error = BoxError,
    Future = std::future::Ready<Reply>,
> + Clone
+ Send
+ 'static
where
    F: Fn(usize, &Request<B>) -> Reply + Clone + Send + 'static,
{
    let log = log.clone();
    service_fn(move |request: Request<B>| {
        let n = log.push();
        std::future::ready(respond(n, &request))
    })
}

fn reply(status: u16, headers: &[(&str, &str)]) -> Reply {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    Ok(response.body(())?)
}

fn refused() -> Reply {
    Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into())
}

fn request(method: Method) -> Request<String> {
    Request::builder()
        .method(method)
        .uri("https://api.example.com/contacts")
        .body(String::from("{}"))
        .unwrap()
}

/// A limiter that never makes these tests wait.
fn open_limiter() -> Limiter {
    Limiter::new(
        Quota::per_second(1_000_000)
            .unwrap()
            .with_burst(10_000)
            .unwrap(),
    )
}

/// Small, fixed backoff (10 ms, no jitter), no budget, seeded: each test
/// changes what it is about.
fn builder() -> RetryLayerBuilder {
    RetryLayer::builder()
        .backoff(Backoff::new(10 * MS, 10 * MS, Jitter::None).unwrap())
        .no_budget()
        .seed(1)
}

/// Sends one request through retry → rate limit → `api`; returns the
/// result, and the offset of each call the API received.
async fn send<S>(
    layer: RetryLayer,
    limiter: &Limiter,
    api: S,
    log: &Log,
    request: Request<String>,
) -> (Result<Response<()>, BoxError>, Vec<Duration>)
where
    S: Service<Request<String>, Response = Response<()>, Error = BoxError> + Clone,
{
    let start = Instant::now();
    let client = ServiceBuilder::new()
        .layer(layer)
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);
    let result = client.oneshot(request).await;
    (result, log.offsets(start))
}

/// The offset of the second call when the first is answered 429 with
/// `headers`.
async fn retry_offset_after_429(headers: &[(&str, &str)]) -> Vec<Duration> {
    let log = Log::default();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let api = api(&log, move |n, _| {
        if n == 0 {
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            reply(429, &pairs)
        } else {
            reply(200, &[])
        }
    });
    let layer = builder()
        .max_retry_after(Duration::from_secs(60))
        .build()
        .unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 200);
    offsets
}

// ---- Retry-After -----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn never_retries_before_retry_after_in_seconds() {
    for (value, wait) in [
        ("3", Duration::from_secs(3)),
        ("2.0", Duration::from_secs(2)), // Shopify's decimal form
        ("1.5", Duration::from_millis(1500)),
        (" 4 ", Duration::from_secs(4)),
    ] {
        let offsets = retry_offset_after_429(&[("retry-after", value)]).await;
        assert_eq!(
            offsets,
            [Duration::ZERO, wait + MARGIN],
            "Retry-After: {value:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn never_retries_before_retry_after_in_each_date_form() {
    // The response's own Date is the reference, so the local clock is moot.
    let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    for value in [
        "Sun, 06 Nov 1994 08:49:40 GMT",  // IMF-fixdate
        "Sunday, 06-Nov-94 08:49:40 GMT", // RFC 850
        "Sun Nov  6 08:49:40 1994",       // asctime
    ] {
        let offsets = retry_offset_after_429(&[date, ("retry-after", value)]).await;
        assert_eq!(
            offsets,
            [Duration::ZERO, Duration::from_secs(3) + MARGIN],
            "Retry-After: {value:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_past_date_retries_after_the_backoff_alone() {
    let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    let past = ("retry-after", "Sun, 06 Nov 1994 08:40:00 GMT");
    let offsets = retry_offset_after_429(&[date, past]).await;
    // The builder's backoff: 10 ms, no jitter, no margin.
    assert_eq!(offsets, [Duration::ZERO, 10 * MS]);
}

#[tokio::test(start_paused = true)]
async fn garbage_retry_after_falls_back_to_the_backoff() {
    for value in ["soon", "-5", "1e3", ""] {
        let offsets = retry_offset_after_429(&[("retry-after", value)]).await;
        assert_eq!(offsets, [Duration::ZERO, 10 * MS], "Retry-After: {value:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_never_shortens_retry_after() {
    // A backoff that is often longer than Retry-After, often shorter.
    let retry_after = Duration::from_secs(1);
    let mut longer = 0;
    for seed in 0..20 {
        let log = Log::default();
        let api = api(&log, |n, _| match n {
            0 => reply(503, &[("retry-after", "1")]),
            _ => reply(200, &[]),
        });
        let layer = builder()
            .backoff(Backoff::full_jitter(2 * retry_after, 2 * retry_after).unwrap())
            .seed(seed)
            .build()
            .unwrap();
        let (_, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
        assert!(
            offsets[1] >= retry_after + MARGIN,
            "seed {seed}: {offsets:?}"
        );
        if offsets[1] > retry_after + MARGIN {
            longer += 1;
        }
    }
    // The delay is max(backoff, Retry-After + margin): the backoff wins
    // sometimes, so it is really in play.
    assert!(longer > 0 && longer < 20, "backoff won {longer} of 20");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_maximum_fails_fast_with_the_requested_delay() {
    for (value, requested) in [
        ("120", Duration::from_secs(120)),
        // Absurd: capped by the parser at MAX_DELAY, then refused.
        ("99999999999", MAX_DELAY),
    ] {
        let log = Log::default();
        let api = api(&log, |_, _| reply(429, &[("retry-after", value)]));
        let layer = builder()
            .max_retry_after(Duration::from_secs(60))
            .build()
            .unwrap();
        let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
        let error = result.unwrap_err();
        let error = error.downcast_ref::<RetryError>().unwrap();
        assert_eq!(
            *error,
            RetryError::RetryAfterTooLong {
                requested,
                max: Duration::from_secs(60),
                attempts: 1
            }
        );
        assert_eq!(error.requested_delay(), Some(requested));
        assert_eq!(offsets, [Duration::ZERO], "failed fast, no retry");
    }
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_is_capped_when_long_waits_are_allowed() {
    let log = Log::default();
    let api = api(&log, |n, _| match n {
        0 => reply(429, &[("retry-after", "99999999999")]),
        _ => reply(200, &[]),
    });
    let layer = builder().max_retry_after(2 * MAX_DELAY).build().unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(offsets, [Duration::ZERO, MAX_DELAY + MARGIN]);
}

// ---- one 429 pauses everyone ----------------------------------------

/// 10 calls per second, up to `burst` at once.
/// 10/s with `burst`; learning off, so the pace after a 429 stays the
/// configured one (learning has tests of its own).
fn paced_limiter(burst: u64) -> Limiter {
    Limiter::builder()
        .quota(Quota::per_second(10).unwrap().with_burst(burst).unwrap())
        .learn_from_refusals(false)
        .build()
        .unwrap()
}

const PACE: Duration = Duration::from_millis(100);

/// The retry layer of the herd tests: the destination's limiter, room in
/// the budget for every caller to retry once.
fn herd_layer(limiter: &Limiter) -> RetryLayer {
    RetryLayer::builder()
        .limiter(limiter.clone())
        .budget(RetryBudget::new(Duration::from_secs(10), 100, 0.2).unwrap())
        .seed(3)
        .build()
        .unwrap()
}

/// Sends `callers` GET requests at once through `client`; returns each
/// caller's number of attempts.
async fn herd<S>(client: S, callers: usize) -> Vec<u32>
where
    S: Service<Request<String>, Response = Response<()>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send,
{
    let tasks: Vec<_> = (0..callers)
        .map(|_| tokio::spawn(client.clone().oneshot(request(Method::GET))))
        .collect();
    let mut attempts = Vec::new();
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        attempts.push(response.extensions().get::<Attempts>().unwrap().0);
    }
    attempts
}

#[tokio::test(start_paused = true)]
async fn one_429_holds_back_every_caller_of_the_destination() {
    const CALLERS: usize = 100;
    let start = Instant::now();
    let reopens = start + Duration::from_secs(2);
    let log = Log::default();
    // The server's window is closed for 2 s; it answers instantly, so the
    // first caller's 429 arrives before the others have called.
    let api = api(&log, move |_, _| {
        if Instant::now() < reopens {
            reply(429, &[("retry-after", "2")])
        } else {
            reply(200, &[])
        }
    });
    let limiter = paced_limiter(CALLERS as u64);
    let client = ServiceBuilder::new()
        .layer(herd_layer(&limiter))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);

    let mut attempts = herd(client, CALLERS).await;
    attempts.sort();
    let mut expected_attempts = vec![1; CALLERS - 1];
    expected_attempts.push(2);
    assert_eq!(
        attempts, expected_attempts,
        "only the first caller saw the 429"
    );

    let offsets = log.offsets(start);
    // Nobody but the first caller sent within the 2 s (plus margin); then
    // one at a time, at the limiter's pace, though the burst had room.
    let resume = Duration::from_secs(2) + MARGIN;
    let mut expected = vec![Duration::ZERO];
    expected.extend((0..CALLERS as u32).map(|i| resume + PACE * i));
    assert_eq!(offsets, expected);
}

#[tokio::test(start_paused = true)]
async fn a_hundred_callers_in_flight_hit_429_then_go_out_paced() {
    const CALLERS: usize = 100;
    let latency = Duration::from_millis(10);
    let start = Instant::now();
    let reopens = start + Duration::from_secs(2);
    let log = Log::default();
    let inner_log = log.clone();
    // The server's window is closed for 2 s, and it takes 10 ms to answer:
    // all 100 calls are in flight when the 429s come back.
    let api = service_fn(move |_: Request<String>| {
        inner_log.push();
        async move {
            tokio::time::sleep(latency).await;
            if Instant::now() < reopens {
                reply(429, &[("retry-after", "2")])
            } else {
                reply(200, &[])
            }
        }
    });
    let limiter = paced_limiter(CALLERS as u64);
    let client = ServiceBuilder::new()
        .layer(herd_layer(&limiter))
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(api);

    let attempts = herd(client, CALLERS).await;
    assert_eq!(attempts, vec![2; CALLERS]);

    let mut offsets = log.offsets(start);
    offsets.sort();
    // The first round went out at once (the burst) and got 429s.
    assert_eq!(offsets[..CALLERS], vec![Duration::ZERO; CALLERS][..]);
    // Nobody sent within the 2 s after the 429s (plus margin); then one at
    // a time, at the limiter's pace, not all at the same instant.
    let resume = latency + Duration::from_secs(2) + MARGIN;
    let expected: Vec<Duration> = (0..CALLERS as u32).map(|i| resume + PACE * i).collect();
    assert_eq!(offsets[CALLERS..], expected[..]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_is_retried_after_the_servers_delay() {
    // A 429 means the server refused the request before processing it: a
    // POST is as safe to send again as a GET, key or no key.
    let log = Log::default();
    let api = api(&log, |_, _| reply(429, &[("retry-after", "5")]));
    let limiter = open_limiter();
    let layer = builder().limiter(limiter.clone()).build().unwrap();
    let (result, offsets) = send(layer, &limiter, api, &log, request(Method::POST)).await;
    let response = result.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
    let step = Duration::from_secs(5) + MARGIN;
    assert_eq!(offsets, [Duration::ZERO, step, step * 2]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_is_not_retried_where_refusals_may_be_processed_but_still_pauses() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(429, &[("retry-after", "5")]));
    let limiter = open_limiter();
    let layer = builder()
        .limiter(limiter.clone())
        .retry_refused(false)
        .build()
        .unwrap();
    let start = Instant::now();
    let (result, offsets) = send(layer, &limiter, api, &log, request(Method::POST)).await;
    assert_eq!(result.unwrap().status(), 429);
    assert_eq!(offsets, [Duration::ZERO]);
    assert_eq!(
        limiter.paused_until(),
        Some(start + Duration::from_secs(5) + MARGIN)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hostile_retry_after_pauses_the_destination_no_longer_than_max_retry_after() {
    // A day (the parser's clamp) is refused for this request, and must not
    // park every other caller of the destination for a day either.
    let log = Log::default();
    let api = api(&log, |_, _| reply(429, &[("retry-after", "99999999999")]));
    let limiter = open_limiter();
    let layer = builder()
        .limiter(limiter.clone())
        .max_retry_after(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    let (result, offsets) = send(layer, &limiter, api, &log, request(Method::GET)).await;
    let error = result.unwrap_err();
    assert!(matches!(
        error.downcast_ref::<RetryError>(),
        Some(RetryError::RetryAfterTooLong { .. })
    ));
    assert_eq!(offsets, [Duration::ZERO]);
    assert_eq!(
        limiter.paused_until(),
        Some(start + Duration::from_secs(60) + MARGIN)
    );
}

#[tokio::test(start_paused = true)]
async fn a_spent_daily_quota_without_a_delay_is_not_retried() {
    // HubSpot's daily cap (and Salesforce's api-usage at its limit) come
    // with no reset time: retrying a backoff later only spends calls.
    for headers in [
        &[("x-hubspot-ratelimit-daily-remaining", "0")][..],
        &[("sforce-limit-info", "api-usage=15000/15000")][..],
    ] {
        let log = Log::default();
        let answer: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let api = api(&log, move |_, _| {
            let pairs: Vec<(&str, &str)> = answer
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            reply(429, &pairs)
        });
        let limiter = open_limiter();
        let layer = builder()
            .max_attempts(5)
            .limiter(limiter.clone())
            .build()
            .unwrap();
        let (result, offsets) = send(layer, &limiter, api, &log, request(Method::GET)).await;
        assert_eq!(result.unwrap().status(), 429);
        assert_eq!(offsets, [Duration::ZERO], "{headers:?}");
        // A spent day says nothing about the short band: nothing learned.
        assert_eq!(limiter.snapshot().limit_mismatches, 0, "{headers:?}");
    }
    // With a delay the server's word holds: it is waited out.
    let offsets = retry_offset_after_429(&[
        ("x-hubspot-ratelimit-daily-remaining", "0"),
        ("retry-after", "2"),
    ])
    .await;
    assert_eq!(offsets, [Duration::ZERO, Duration::from_secs(2) + MARGIN]);
}

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_waits_but_does_not_pause_the_destination() {
    let log = Log::default();
    let api = api(&log, |n, _| match n {
        0 => reply(503, &[("retry-after", "3")]),
        _ => reply(200, &[]),
    });
    let limiter = open_limiter();
    let layer = builder().limiter(limiter.clone()).build().unwrap();
    let (result, offsets) = send(layer, &limiter, api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(offsets, [Duration::ZERO, Duration::from_secs(3) + MARGIN]);
    assert_eq!(limiter.paused_until(), None);
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_for_its_rate_limit_slot() {
    let log = Log::default();
    let api = api(&log, |n, _| match n {
        0 => reply(503, &[]),
        _ => reply(200, &[]),
    });
    // One call per second: the retry's slot is at 1 s, after its 10 ms
    // backoff.
    let limiter = Limiter::new(Quota::per_second(1).unwrap());
    let (result, offsets) = send(
        builder().build().unwrap(),
        &limiter,
        api,
        &log,
        request(Method::GET),
    )
    .await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(offsets, [Duration::ZERO, Duration::from_secs(1)]);
}

// ---- the budget ------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_server_failing_forever_gets_only_the_budgeted_retries() {
    const CALLERS: usize = 50;
    let log = Log::default();
    let api = api(&log, |_, _| reply(503, &[]));
    // A floor of 1 retry per second over 10 s (10), plus 20 % of 50
    // requests (10): 20 retries, where max_attempts alone would allow 200.
    let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2).unwrap();
    let layer = builder()
        .max_attempts(5)
        .budget(budget.clone())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(layer)
        .layer(RateLimitLayer::new(open_limiter()))
        .service(api);

    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| tokio::spawn(client.clone().oneshot(request(Method::GET))))
        .collect();
    let mut attempts = 0;
    for task in tasks {
        // Exhaustion returns the last response as it is.
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), 503);
        attempts += response.extensions().get::<Attempts>().unwrap().0;
    }
    assert_eq!(log.count(), CALLERS + 20);
    assert_eq!(attempts as usize, log.count());
    assert_eq!(budget.available(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_budget_forgets_traffic_older_than_its_window() {
    let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.5).unwrap();
    for _ in 0..20 {
        budget.deposit();
    }
    assert_eq!(budget.available(), 10 + 10);
    for _ in 0..20 {
        assert!(budget.withdraw());
    }
    assert!(!budget.withdraw());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(budget.available(), 0, "still inside the window");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(budget.available(), 10, "only the floor is left");
}

// ---- idempotency -----------------------------------------------------

/// Calls the API with `request` against a server answering 503 then 200;
/// returns how many calls it received.
async fn calls_for(layer: RetryLayer, request: Request<String>) -> usize {
    let log = Log::default();
    let api = api(&log, |n, _| match n {
        0 => reply(503, &[]),
        _ => reply(200, &[]),
    });
    let (result, _) = send(layer, &open_limiter(), api, &log, request).await;
    let response = result.unwrap();
    let attempts = response.extensions().get::<Attempts>().unwrap().0;
    assert_eq!(attempts as usize, log.count());
    log.count()
}

#[tokio::test(start_paused = true)]
async fn idempotent_methods_are_retried() {
    for method in [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ] {
        let calls = calls_for(builder().build().unwrap(), request(method.clone())).await;
        assert_eq!(calls, 2, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn post_and_patch_are_not_retried_without_a_key_or_opt_in() {
    for method in [Method::POST, Method::PATCH] {
        let calls = calls_for(builder().build().unwrap(), request(method.clone())).await;
        assert_eq!(calls, 1, "{method}");
    }
}

#[tokio::test(start_paused = true)]
async fn post_with_an_idempotency_key_is_retried() {
    let mut post = request(Method::POST);
    post.headers_mut()
        .insert("idempotency-key", "3f2a-order-17".parse().unwrap());
    assert_eq!(calls_for(builder().build().unwrap(), post).await, 2);
}

#[tokio::test(start_paused = true)]
async fn post_is_retried_after_opting_in() {
    let layer = builder()
        .replay(HttpReplay::new().retry_unsafe_methods(true))
        .build()
        .unwrap();
    assert_eq!(calls_for(layer, request(Method::POST)).await, 2);
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_is_retried_a_reset_one_is_not() {
    let log = Log::default();
    let flaky = api(&log, |n, _| match n {
        0 => refused(),
        _ => reply(200, &[]),
    });
    let (result, offsets) = send(
        builder().build().unwrap(),
        &open_limiter(),
        flaky,
        &log,
        request(Method::POST),
    )
    .await;
    assert_eq!(result.unwrap().status(), 200);
    assert_eq!(offsets.len(), 2);

    // A reset may come after the server got the request; so may "host
    // unreachable" and its kin (an ICMP error ends established connections
    // with them too).
    for kind in [
        std::io::ErrorKind::ConnectionReset,
        std::io::ErrorKind::HostUnreachable,
        std::io::ErrorKind::NetworkUnreachable,
        std::io::ErrorKind::NetworkDown,
    ] {
        let log = Log::default();
        let api = api(&log, move |_, _| Err(std::io::Error::from(kind).into()));
        let (result, offsets) = send(
            builder().build().unwrap(),
            &open_limiter(),
            api,
            &log,
            request(Method::POST),
        )
        .await;
        let error = result.unwrap_err();
        let io = error.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), kind);
        assert_eq!(offsets.len(), 1, "{kind:?}: a POST is not retried");
    }
}

#[tokio::test(start_paused = true)]
async fn the_limiters_own_refusals_are_not_retried() {
    // A call that costs more than the quota can ever hold, and one that
    // would wait beyond `max_wait`, fail at once: retrying cannot help,
    // and `max_wait` exists to fail fast.
    let log = Log::default();
    let api = api(&log, |_, _| reply(200, &[]));
    let tiny = Limiter::builder()
        .quota(Quota::window(1, Duration::from_secs(60)).unwrap())
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(builder().max_attempts(5).build().unwrap())
        .layer(RateLimitLayer::new(tiny.clone()))
        .service(api);
    let start = Instant::now();
    let first = client.clone().oneshot(request(Method::GET)).await;
    assert_eq!(first.unwrap().status(), 200);
    let second = client.clone().oneshot(request(Method::GET)).await;
    let error = second.unwrap_err();
    assert!(
        matches!(
            error.downcast_ref::<RateError>(),
            Some(RateError::QuotaExhausted { .. })
        ),
        "{error}"
    );
    assert_eq!(Instant::now(), start, "failed at once, no backoff");
    assert_eq!(log.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_goes_through_once() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(503, &[]));
    let layer = builder().build().unwrap();
    let client = ServiceBuilder::new().layer(layer).service(api);
    let body = http_body_util::Full::new(Bytes::from_static(b"chunk"))
        .map_err(|never: Infallible| match never {})
        .boxed();
    let request = Request::put("https://api.example.com/upload")
        .body::<BoxBody<Bytes, Infallible>>(body)
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(1)));
    assert_eq!(log.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_replayed_request_is_the_same_request() {
    let log = Log::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let api = api(&log, move |n, request: &Request<String>| {
        record.lock().unwrap().push((
            request.method().clone(),
            request.uri().clone(),
            request.headers().clone(),
            request.body().clone(),
        ));
        if n == 0 {
            reply(503, &[])
        } else {
            reply(200, &[])
        }
    });
    let mut put = request(Method::PUT);
    put.headers_mut().insert("x-trace", "abc".parse().unwrap());
    *put.body_mut() = String::from(r#"{"email":"a@b.c"}"#);
    let (result, _) = send(builder().build().unwrap(), &open_limiter(), api, &log, put).await;
    assert_eq!(result.unwrap().status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1].3, r#"{"email":"a@b.c"}"#);
}

// ---- attempts, deadline, what the caller gets ------------------------

#[tokio::test(start_paused = true)]
async fn attempts_run_out_on_the_last_response() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(503, &[]));
    let layer = builder().max_attempts(3).build().unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    let response = result.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
    assert_eq!(offsets, [Duration::ZERO, 10 * MS, 20 * MS]);
}

#[tokio::test(start_paused = true)]
async fn attempts_run_out_on_the_last_error() {
    let log = Log::default();
    let api = api(&log, |_, _| refused());
    let layer = builder().max_attempts(4).build().unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    let error = result.unwrap_err();
    let io = error.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(offsets.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(503, &[]));
    let layer = builder().max_attempts(1).build().unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 503);
    assert_eq!(offsets, [Duration::ZERO]);
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_and_successes_are_not_retried() {
    for status in [200, 301, 400, 404, 501] {
        let log = Log::default();
        let api = api(&log, move |_, _| reply(status, &[]));
        let (result, offsets) = send(
            builder().build().unwrap(),
            &open_limiter(),
            api,
            &log,
            request(Method::GET),
        )
        .await;
        let response = result.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(1)));
        assert_eq!(offsets.len(), 1, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_retry_crosses_the_deadline() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(503, &[]));
    // Delays 400, 800, 1600 ms: sends at 0, 0.4 and 1.2 s; the next would
    // be at 2.8 s, past the 1.5 s deadline.
    let layer = builder()
        .max_attempts(10)
        .backoff(Backoff::new(400 * MS, Duration::from_secs(10), Jitter::None).unwrap())
        .deadline(Duration::from_millis(1500))
        .build()
        .unwrap();
    let start = Instant::now();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    let response = result.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
    assert_eq!(offsets, [Duration::ZERO, 400 * MS, 1200 * MS]);
    // Given up at once, not after sleeping towards the deadline.
    assert_eq!(start.elapsed(), 1200 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_returns_the_response() {
    let log = Log::default();
    let api = api(&log, |_, _| reply(429, &[("retry-after", "2")]));
    let layer = builder().deadline(Duration::from_secs(1)).build().unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 429);
    assert_eq!(offsets, [Duration::ZERO]);
}

// ---- plain requests --------------------------------------------------

#[tokio::test(start_paused = true)]
async fn plain_clone_requests_retry_with_a_closure_classifier() {
    let log = Log::default();
    let inner_log = log.clone();
    let service = service_fn(move |n: u32| {
        let call = inner_log.push();
        std::future::ready(if call < 2 { Err("flaky") } else { Ok(n * 2) })
    });
    let classify = |result: &Result<u32, &'static str>| match result {
        Ok(_) => Classification::new(Outcome::Success),
        Err(_) => Classification::new(Outcome::Transient { retry_after: None }),
    };
    let layer = builder()
        .classifier(classify)
        .replay(Cloned::idempotent())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service.clone());
    assert_eq!(client.oneshot(21).await.unwrap(), 42);
    assert_eq!(log.count(), 3);

    // Not idempotent: the first error comes back as it is.
    let log = Log::default();
    let inner_log = log.clone();
    let service = service_fn(move |_: u32| {
        inner_log.push();
        std::future::ready(Err::<u32, _>("flaky"))
    });
    let layer = builder()
        .classifier(classify)
        .replay(Cloned::not_idempotent())
        .build()
        .unwrap();
    let error = ServiceBuilder::new()
        .layer(layer)
        .service(service)
        .oneshot(1)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "flaky");
    assert_eq!(log.count(), 1);
}

// ---- jitter ----------------------------------------------------------

/// Send offsets of one request against a server failing 4 times.
async fn jittered_run(seed: u64) -> Vec<Duration> {
    let log = Log::default();
    let api = api(&log, |n, _| {
        if n < 4 {
            reply(503, &[])
        } else {
            reply(200, &[])
        }
    });
    let layer = builder()
        .max_attempts(5)
        .backoff(Backoff::full_jitter(Duration::from_millis(100), Duration::from_secs(1)).unwrap())
        .seed(seed)
        .build()
        .unwrap();
    let (result, offsets) = send(layer, &open_limiter(), api, &log, request(Method::GET)).await;
    assert_eq!(result.unwrap().status(), 200);
    offsets
}

#[tokio::test(start_paused = true)]
async fn jitter_is_seeded_and_reproducible() {
    let first = jittered_run(7).await;
    assert_eq!(first.len(), 5);
    assert_eq!(jittered_run(7).await, first);
    assert_ne!(jittered_run(8).await, first);
    let backoff = Backoff::full_jitter(Duration::from_millis(100), Duration::from_secs(1)).unwrap();
    for (retry, pair) in first.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        // tokio's timer wakes on whole milliseconds: allow the last one.
        assert!(
            gap <= backoff.ceiling(retry as u32) + MS,
            "retry {retry}: {gap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn callers_failing_together_retry_apart() {
    const CALLERS: usize = 20;
    let start = Instant::now();
    let log = Log::default();
    let api = api(&log, move |_, _| {
        if Instant::now() == start {
            reply(503, &[])
        } else {
            reply(200, &[])
        }
    });
    let layer = builder()
        .backoff(Backoff::full_jitter(Duration::from_secs(10), Duration::from_secs(10)).unwrap())
        .seed(11)
        .build()
        .unwrap();
    // No limiter: all callers go out, and fail, at the same instant.
    let client = ServiceBuilder::new().layer(layer).service(api);
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| tokio::spawn(client.clone().oneshot(request(Method::GET))))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status(), 200);
    }
    let mut retries: Vec<Duration> = log
        .offsets(start)
        .into_iter()
        .filter(|t| !t.is_zero())
        .collect();
    assert_eq!(retries.len(), CALLERS);
    retries.sort();
    retries.dedup();
    // 20 draws over 10 000 one-millisecond ticks: a collision or two at most.
    assert!(retries.len() >= CALLERS - 2, "{retries:?}");
}

fn nanos(n: u64) -> Duration {
    Duration::from_nanos(n)
}

proptest! {
    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling(
        base in 1u64..1_000_000_000_000,
        extra in 0u64..1_000_000_000_000,
        retry in 0u32..100,
        seed: u64,
    ) {
        let backoff = Backoff::full_jitter(nanos(base), nanos(base + extra)).unwrap();
        let delay = backoff.delay(retry, None, &mut SmallRng::seed_from_u64(seed));
        let expected_ceiling = (u128::from(base) << retry.min(100)).min(u128::from(base + extra));
        prop_assert_eq!(backoff.ceiling(retry).as_nanos(), expected_ceiling);
        prop_assert!(delay <= backoff.ceiling(retry));
        prop_assert!(delay <= backoff.cap());
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_cap(
        base in 1u64..1_000_000_000_000,
        extra in 0u64..1_000_000_000_000,
        previous in proptest::option::of(any::<u64>()),
        retry: u32,
        seed: u64,
    ) {
        let backoff = Backoff::decorrelated(nanos(base), nanos(base + extra)).unwrap();
        let delay = backoff.delay(retry, previous.map(nanos), &mut SmallRng::seed_from_u64(seed));
        prop_assert!(delay >= backoff.base());
        prop_assert!(delay <= backoff.cap());
    }

    #[test]
    fn the_same_seed_gives_the_same_delay(
        base in 1u64..1_000_000_000,
        retry in 0u32..40,
        previous in proptest::option::of(any::<u64>()),
        seed: u64,
    ) {
        for jitter in [Jitter::Full, Jitter::Decorrelated, Jitter::None] {
            let backoff = Backoff::new(nanos(base), nanos(base) * 1000, jitter).unwrap();
            let previous = previous.map(nanos);
            let a = backoff.delay(retry, previous, &mut SmallRng::seed_from_u64(seed));
            let b = backoff.delay(retry, previous, &mut SmallRng::seed_from_u64(seed));
            prop_assert_eq!(a, b);
        }
    }
}

// ---- configuration -----------------------------------------------------

#[test]
fn config_errors_name_their_field() {
    let field = |error: tower_pacer::ConfigError| error.field().to_owned();
    assert_eq!(
        field(RetryLayer::builder().max_attempts(0).build().unwrap_err()),
        "retry.max_attempts"
    );
    assert_eq!(
        field(
            RetryLayer::builder()
                .deadline(Duration::ZERO)
                .build()
                .unwrap_err()
        ),
        "retry.deadline"
    );
    assert_eq!(
        field(Backoff::full_jitter(Duration::ZERO, Duration::from_secs(1)).unwrap_err()),
        "retry.backoff.base"
    );
    assert_eq!(
        field(Backoff::decorrelated(Duration::from_secs(2), Duration::from_secs(1)).unwrap_err()),
        "retry.backoff.cap"
    );
    for ttl in [Duration::from_millis(999), Duration::from_secs(61)] {
        assert_eq!(
            field(RetryBudget::new(ttl, 10, 0.2).unwrap_err()),
            "retry.budget.ttl"
        );
    }
    for ratio in [-0.1, 1000.5, f64::NAN, f64::INFINITY] {
        assert_eq!(
            field(RetryBudget::new(Duration::from_secs(10), 10, ratio).unwrap_err()),
            "retry.budget.ratio"
        );
    }
    // The bounds themselves are accepted.
    assert!(RetryLayer::builder().max_attempts(1).build().is_ok());
    assert!(RetryBudget::new(Duration::from_secs(1), 0, 0.0).is_ok());
    assert!(RetryBudget::new(Duration::from_secs(60), 0, 1000.0).is_ok());
    assert!(Backoff::full_jitter(MS, MS).is_ok());
}
