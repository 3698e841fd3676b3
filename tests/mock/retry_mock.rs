//! The retry layer over a real HTTP connection to the mock API (feature
//! `mock`, real time): Retry-After from the wire, `Full<Bytes>` bodies
//! replayed, one 429 pausing every caller.

use std::time::Duration;

use http::{Method, StatusCode};
use pacer_mock::MockConfig;
use tower::{ServiceBuilder, ServiceExt};
use tower_pacer::classify::HttpClassifier;
use tower_pacer::rate::{Limiter, Quota, RateLimitLayer};
use tower_pacer::retry::{Attempts, RetryBudget, RetryLayer};

use crate::support;

/// A limiter that only pauses: the mock's quota is what gets hit.
fn open_limiter() -> Limiter {
    Limiter::new(
        Quota::per_second(100_000)
            .unwrap()
            .with_burst(1_000)
            .unwrap(),
    )
}

#[tokio::test]
async fn callers_over_quota_wait_as_told_and_all_succeed() {
    const CALLERS: usize = 12;
    let server = support::spawn(MockConfig::default().with_window(5, Duration::from_secs(1))).await;
    let limiter = open_limiter();
    let retry = RetryLayer::builder()
        .max_attempts(4)
        .limiter(limiter.clone())
        .budget(RetryBudget::new(Duration::from_secs(10), 10, 0.2).unwrap())
        .build()
        .unwrap();
    let client = ServiceBuilder::new()
        .layer(retry)
        .layer(RateLimitLayer::new(limiter))
        .service(support::client());

    let url = format!("{}/contacts", server.url());
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let request = support::request(Method::GET, &url, None, "");
            tokio::spawn(client.clone().oneshot(request))
        })
        .collect();
    let mut attempts = 0;
    for task in tasks {
        let response = task.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        attempts += u64::from(response.extensions().get::<Attempts>().unwrap().0);
    }
    let stats = server.stats();
    assert_eq!(stats.accepted, CALLERS as u64);
    // Every attempt reached the server, and the 429s were answered with
    // retries, not with failures.
    assert_eq!(stats.accepted + stats.rejected, attempts);
    assert!(stats.rejected >= (CALLERS - 5) as u64);
    server.shutdown().await;
}

#[tokio::test]
async fn a_refused_post_is_replayed_with_its_body() {
    let server = support::spawn(MockConfig::default().with_window(1, Duration::from_secs(1))).await;
    let url = format!("{}/batch", server.url());
    let body = r#"{"inputs":[{"email":"a@example.com"},{"email":"b@example.com"}]}"#;
    // Straight over the hyper client, whose errors are not boxed: the
    // plain HttpClassifier reads them.
    let client = |retry_refused: bool| {
        let retry = RetryLayer::builder()
            .classifier(HttpClassifier::default())
            .retry_refused(retry_refused)
            .build()
            .unwrap();
        ServiceBuilder::new()
            .layer(retry)
            .service(support::client())
    };
    let post = |key: Option<&str>| {
        let mut request = support::request(Method::POST, &url, None, body);
        if let Some(key) = key {
            request
                .headers_mut()
                .insert("idempotency-key", key.parse().unwrap());
        }
        request
    };

    // Use up the quota; the next POST, without a key, is refused (429,
    // before processing), waits out Retry-After and goes again with its
    // body: the batch endpoint parses it, so an empty or truncated replay
    // would be a 400.
    let first = client(true).oneshot(post(None)).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let refused = client(true).oneshot(post(None)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::OK);
    assert_eq!(refused.extensions().get::<Attempts>(), Some(&Attempts(2)));

    // An API known to process before refusing: only a keyed POST goes again.
    let unkeyed = client(false).oneshot(post(None)).await.unwrap();
    assert_eq!(unkeyed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(unkeyed.extensions().get::<Attempts>(), Some(&Attempts(1)));
    let keyed = client(false).oneshot(post(Some("batch-17"))).await.unwrap();
    assert_eq!(keyed.status(), StatusCode::OK);
    assert_eq!(keyed.extensions().get::<Attempts>(), Some(&Attempts(2)));
    assert_eq!(server.stats().batch_items, 6);
    server.shutdown().await;
}
