//! The reqwest-middleware integration against `pacer-mock` over loopback.
use std::time::Duration;

use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use reqwest_middleware::ClientBuilder;
use tower_pacer::Pacer;
use tower_pacer::destinations::PolicyTable;
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::reqwest::PacerMiddleware;

use crate::support::TIMING;

async fn strict(scale: f64) -> MockServer {
    MockServer::start(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(scale)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await
    .unwrap()
}

async fn burst(
    client: &reqwest_middleware::ClientWithMiddleware,
    url: &str,
    key: &str,
) -> (usize, usize) {
    let calls: Vec<_> = (0..150)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.to_owned(), key.to_owned());
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for call in calls {
        match call.await.unwrap().unwrap().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    (ok, limited)
}

fn strict_policy(scale: f64) -> Policy {
    let mut policy = Policy::default();
    policy.quotas = vec![QuotaSpec::window(50, Duration::from_secs_f64(scale))];
    policy.headroom.margin = Duration::from_millis(30);
    policy.concurrency = Some(16);
    policy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_is_refused_a_paced_one_is_not() {
    let _serial = TIMING.lock().await;
    // Half-second windows: scheduling delays on a busy machine stay well
    // inside the margin.
    const SCALE: f64 = 0.5;
    let server = strict(SCALE).await;
    let url = format!("{}/contacts", server.url());
    let plain = ClientBuilder::new(reqwest::Client::new()).build();
    let (_, refused) = burst(&plain, &url, "plain").await;
    assert!(
        refused >= 50,
        "a burst of 150 against 50 per window: only {refused} 429s"
    );

    let pacer = Pacer::new(strict_policy(SCALE)).unwrap();
    let paced = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .build();
    let (ok, refused) = burst(&paced, &url, "paced").await;
    assert_eq!((ok, refused), (150, 0));
    // The server counts arrivals: on a busy machine one can come later than
    // any fixed margin covers, and the server refuses a call the books had
    // room for. The product keeps that from the callers (the refusal is
    // retried after the server's delay) and learns from it (a limit
    // mismatch narrows the band), so refusals stay rare.
    let refused = server.stats().keys[&pacer_mock::key_fingerprint("paced")].rejected;
    assert!(
        refused == 0 || pacer.stats().limit_mismatch >= 1,
        "{refused} refusals taught the pacer nothing"
    );
    assert!(refused <= 3, "the server refused {refused} of 150");
    assert_eq!(pacer.stats().requests, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_posts_are_replayed_after_retry_after() {
    let _serial = TIMING.lock().await;
    let server = MockServer::start(
        MockConfig::default()
            .with_window(1, Duration::from_millis(100))
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await
    .unwrap();
    let pacer = Pacer::new(Policy::default()).unwrap();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .build();
    let url = format!("{}/batch", server.url());
    let body = r#"{"inputs":[{"email":"a@example.com"}]}"#;
    let post = |key: Option<&str>| {
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    };
    // The window takes one call per 100 ms: back-to-back POSTs are refused
    // (429 before processing), and each refusal, keyed or not, waits out
    // Retry-After and is sent again with its body.
    for key in [None, None, Some("k-1"), Some("k-2")] {
        let response = post(key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{key:?}");
    }
    assert_eq!(server.stats().batch_items, 4, "every body parsed once");
    let stats = pacer.stats();
    assert_eq!(stats.requests, 4);
    assert!(stats.rate_limited >= 1, "back-to-back calls were refused");
    assert_eq!(
        stats.retries(),
        stats.rate_limited,
        "every refusal was retried"
    );
    assert_eq!(server.stats().rejected, stats.rate_limited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_stacks_keep_apart() {
    let _serial = TIMING.lock().await;
    let fast = MockServer::start(MockConfig::default().with_port(0))
        .await
        .unwrap();
    let slow = strict(1.0).await;
    let table = PolicyTable::new().with_default(strict_policy(1.0));
    let middleware = PacerMiddleware::per_host_table(table);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(middleware.clone())
        .build();
    let (ok, _) = burst(&client, &format!("{}/x", fast.url()), "k").await;
    assert_eq!(ok, 150);
    let fast_host = fast.addr().to_string();
    let slow_host = slow.addr().to_string();
    assert_eq!(
        middleware.pacer(&fast_host).map(|p| p.stats().requests),
        Some(150)
    );
    assert!(
        middleware.pacer(&slow_host).is_none(),
        "never used, never created"
    );
}

#[tokio::test]
async fn the_response_keeps_its_url() {
    let server = strict(1.0).await;
    let pacer = Pacer::new(Policy::default()).unwrap();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .build();
    let url = format!("{}/contacts?page=2", server.url());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().as_str(), url);
}

#[tokio::test]
async fn the_pacers_errors_are_one_downcast_away() {
    let server = strict(1.0).await;
    // One call per hour, and no waiting: the second call is refused at once.
    let mut policy = Policy::default();
    policy.quotas = vec![QuotaSpec::window(1, Duration::from_secs(3_600))];
    policy.max_wait = Some(Duration::ZERO);
    let pacer = Pacer::new(policy).unwrap();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .build();
    let url = format!("{}/contacts", server.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let error = client.get(&url).send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("expected a middleware error, got {error:?}");
    };
    match error.downcast_ref::<tower_pacer::rate::RateError>() {
        Some(tower_pacer::rate::RateError::QuotaExhausted { wait, .. }) => {
            assert!(*wait > Duration::from_secs(3_000), "{wait:?}")
        }
        other => panic!("expected QuotaExhausted, got {other:?} from {error:?}"),
    }
}

/// A middleware after the pacer that leaves a note in the extensions.
struct Stamp;

#[derive(Clone, Debug, PartialEq)]
struct Stamped(&'static str);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Stamp {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        extensions.insert(Stamped("after the pacer"));
        next.run(request, extensions).await
    }
}

#[tokio::test]
async fn extensions_written_after_the_pacer_reach_the_caller() {
    let server = strict(1.0).await;
    let pacer = Pacer::new(Policy::default()).unwrap();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PacerMiddleware::new(&pacer))
        .with(Stamp)
        .build();
    let request = client
        .get(format!("{}/contacts", server.url()))
        .build()
        .unwrap();
    let mut extensions = http::Extensions::new();
    let response = client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        extensions.get::<Stamped>(),
        Some(&Stamped("after the pacer"))
    );
}
