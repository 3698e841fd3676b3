//! tower-pacer over a real hyper-util client and a real socket: pacing on
//! and off, buffered bodies retried, streaming bodies sent once.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::retry::Attempts;
use tower_pacer::{BoxError, Pacer};

use crate::support::TIMING;

type Body = Either<Full<Bytes>, BoxBody<Bytes, BoxError>>;

fn hyper() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

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

fn get(url: &str, key: &str) -> http::Request<Body> {
    http::Request::get(url)
        .header("authorization", format!("Bearer {key}"))
        .body(Either::Left(Full::new(Bytes::new())))
        .unwrap()
}

/// Sends 200 GETs at once through `client`; returns how many came back 429.
async fn burst<S>(client: S, url: &str, key: &str) -> usize
where
    S: Service<http::Request<Body>, Response = http::Response<hyper::body::Incoming>>
        + Clone
        + Send
        + 'static,
    S::Error: std::fmt::Debug + Send,
    S::Future: Send,
{
    let calls: Vec<_> = (0..200)
        .map(|_| tokio::spawn(client.clone().oneshot(get(url, key))))
        .collect();
    let mut limited = 0;
    for call in calls {
        let response = call.await.unwrap().unwrap();
        if response.status() == 429 {
            limited += 1;
        }
        response.into_body().collect().await.unwrap();
    }
    limited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_client_is_refused_the_paced_one_never_is() {
    let _serial = TIMING.lock().await;
    // Half-second windows: wide enough that a busy CI machine's scheduling
    // delays stay well inside the margin.
    const SCALE: f64 = 0.5;
    let server = strict(SCALE).await;
    let url = format!("{}/contacts", server.url());
    let bare = burst(hyper(), &url, "bare").await;

    let mut policy = Policy::default();
    policy.quotas = vec![QuotaSpec::window(50, Duration::from_secs_f64(SCALE))];
    // The server counts arrivals: margin for connection set-up under load,
    // and a cap so 200 callers don't open 200 connections at once.
    policy.headroom.margin = Duration::from_millis(30);
    policy.concurrency = Some(16);
    let pacer = Pacer::new(policy).unwrap();
    let paced = burst(
        ServiceBuilder::new().layer(pacer.layer()).service(hyper()),
        &url,
        "paced",
    )
    .await;

    assert!(
        bare >= 100,
        "the bare client should be refused most of the burst, got {bare} 429s"
    );
    assert_eq!(paced, 0, "the paced client was refused {paced} times");
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_bodies_are_retried_streaming_ones_go_once() {
    let _serial = TIMING.lock().await;
    // One call per 100 ms, and a server that says so.
    let server = MockServer::start(
        MockConfig::default()
            .with_window(1, Duration::from_millis(100))
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await
    .unwrap();
    // No client-side quota: the server's 429 is what the retry layer sees.
    let pacer = Pacer::new(Policy::default()).unwrap();
    let client = ServiceBuilder::new().layer(pacer.layer()).service(hyper());
    let url = format!("{}/batch", server.url());
    let body = r#"{"inputs":[{"email":"a@example.com"}]}"#;
    let keyed = |body: Body| {
        http::Request::post(&url)
            .header("idempotency-key", "k-1")
            .body(body)
            .unwrap()
    };

    let first = client
        .clone()
        .oneshot(keyed(Either::Left(Full::new(Bytes::from(body)))))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    // Buffered: refused at once (the window is spent), retried after
    // Retry-After with the same bytes (the server parses them).
    let second = client
        .clone()
        .oneshot(keyed(Either::Left(Full::new(Bytes::from(body)))))
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.extensions().get::<Attempts>(), Some(&Attempts(2)));

    // Streaming: the 429 comes back as it is, sent once.
    let chunks = stream::iter([Ok::<_, BoxError>(Frame::data(Bytes::from(body)))]);
    let streaming: Body = Either::Right(BoxBody::new(StreamBody::new(chunks)));
    let third = client.clone().oneshot(keyed(streaming)).await.unwrap();
    assert_eq!(third.status(), 429);
    assert_eq!(third.extensions().get::<Attempts>(), Some(&Attempts(1)));
    assert_eq!(server.stats().batch_items, 2);
}
