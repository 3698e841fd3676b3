//! Issue 17: feedback enters once. Each attempt is classified exactly once
//! — by the `ClassifyLayer` right above the client — however many layers
//! above read the verdict (dead letters, retry, adaptive rate, adaptive
//! concurrency), and the server's word reaches the limiter through the
//! one `Steward`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_pacer::BoxError;
use tower_pacer::adaptive::{
    AdaptiveConcurrencyLayer, AdaptiveRateLayer, Aimd, ConcurrencyController, RateController,
};
use tower_pacer::classify::{BoxErrors, Classification, Classify, HttpClassifier};
use tower_pacer::concurrency::ConcurrencyLimiter;
use tower_pacer::dlq::{DeadLetterLayer, DeadLetterStore, MemoryStore};
use tower_pacer::feedback::{ClassifiedError, ClassifyLayer, Stamped, Steward, Verdict};
use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
use tower_pacer::retry::RetryLayer;

/// The HTTP rules, counting each time it is asked.
#[derive(Clone, Default)]
struct Counting {
    asked: Arc<AtomicUsize>,
}

impl<B> Classify<Response<B>, BoxError> for Counting {
    fn classify(&self, result: &Result<Response<B>, BoxError>) -> Classification {
        self.asked.fetch_add(1, Ordering::SeqCst);
        BoxErrors(HttpClassifier::default()).classify(result)
    }
}

/// Answers from a script: a status, or a transport error (0).
fn scripted(
    script: &[u16],
    sent: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<String>,
    Response = Response<String>,
    Error = std::io::Error,
    Future = impl Send,
> + Clone {
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
    service_fn(move |_request: Request<String>| {
        let status = script.lock().unwrap().pop_front().unwrap_or(200);
        sent.fetch_add(1, Ordering::SeqCst);
        async move {
            if status == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
            }
            let response = Response::builder()
                .status(status)
                .header("retry-after", "1")
                .header("x-ratelimit-remaining", "5")
                .body(String::new())
                .map_err(std::io::Error::other)?;
            Ok(response)
        }
    })
}

/// Runs one request through the whole reading stack over `script`;
/// returns (attempts sent, classifications made, letters stored, result).
async fn run(script: &[u16]) -> (usize, usize, u64, Result<Response<String>, BoxError>) {
    let counting = Counting::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let limiter = Limiter::new(Quota::per_second(100).unwrap());
    let steward = Steward::new(
        limiter.clone(),
        Duration::from_secs(60),
        Duration::from_millis(50),
    );
    let rate = RateController::builder(limiter.clone(), Aimd::builder(50.0).build().unwrap())
        .build()
        .unwrap();
    let cap = ConcurrencyController::builder(ConcurrencyLimiter::unlimited())
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let stack = ServiceBuilder::new()
        .layer(DeadLetterLayer::new(store.clone(), "crm").classifier(Stamped(counting.clone())))
        .layer(
            RetryLayer::builder()
                .classifier(Stamped(counting.clone()))
                .max_attempts(3)
                .no_budget()
                .build()
                .unwrap(),
        )
        .layer(AdaptiveRateLayer::with_classifier(
            rate,
            Stamped(counting.clone()),
        ))
        .layer(RateLimitLayer::new(limiter.clone()))
        .layer(AdaptiveConcurrencyLayer::with_classifier(
            cap,
            Stamped(counting.clone()),
        ))
        .layer(ClassifyLayer::with_steward(counting.clone(), steward))
        .service(scripted(script, sent.clone()));
    let request = Request::builder()
        .method("PUT")
        .uri("https://api.example.com/contacts/1")
        .body(String::new())
        .unwrap();
    let result = stack.oneshot(request).await;
    (
        sent.load(Ordering::SeqCst),
        counting.asked.load(Ordering::SeqCst),
        store.len().await.unwrap(),
        result,
    )
}

#[tokio::test(start_paused = true)]
async fn every_attempt_is_classified_exactly_once() {
    // 429, a reset connection, then 200: three attempts, five readers.
    let (sent, asked, letters, result) = run(&[429, 0, 200]).await;
    assert_eq!(sent, 3);
    assert_eq!(asked, sent, "classifications per attempt");
    assert_eq!(letters, 0);
    let response = result.unwrap();
    assert_eq!(response.status(), 200);
    // The verdict travelled up with the response.
    assert!(response.extensions().get::<Verdict>().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_final_failure_is_classified_once_per_attempt_too() {
    // Three 503s: retries exhausted, one dead letter.
    let (sent, asked, letters, result) = run(&[503, 503, 503]).await;
    assert_eq!(sent, 3);
    assert_eq!(asked, sent, "classifications per attempt");
    assert_eq!(letters, 1);
    assert_eq!(result.unwrap().status(), 503);
}

#[tokio::test(start_paused = true)]
async fn the_caller_sees_the_clients_own_error() {
    // Three resets: the retry layer takes the stamp off the last one.
    let (sent, asked, letters, result) = run(&[0, 0, 0]).await;
    assert_eq!(sent, 3);
    // The dead-letter layer above the retry sees the unstamped error and
    // judges it itself: errors carry no headers to parse again.
    assert_eq!(asked, sent + 1);
    assert_eq!(letters, 1);
    let error = result.unwrap_err();
    assert!(error.downcast_ref::<ClassifiedError>().is_none());
    let io = error
        .downcast_ref::<std::io::Error>()
        .expect("the io error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn the_steward_pauses_the_limiter_on_the_servers_word() {
    let limiter = Limiter::new(Quota::per_second(100).unwrap());
    let steward = Steward::new(
        limiter.clone(),
        Duration::from_secs(60),
        Duration::from_millis(50),
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let stack = ClassifyLayer::with_steward(BoxErrors(HttpClassifier::default()), steward);
    let service = tower::Layer::layer(&stack, scripted(&[429], sent));
    let before = tokio::time::Instant::now();
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(response.status(), 429);
    // Retry-After: 1 plus the 50 ms margin.
    assert_eq!(
        limiter.paused_until(),
        Some(before + Duration::from_millis(1050))
    );
}
