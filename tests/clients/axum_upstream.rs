//! The axum example: many page requests at once, one upstream quota.

#[allow(dead_code)]
#[path = "../../examples/axum_upstream.rs"]
mod example;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
use tower_pacer::Pacer;

async fn page_burst(addr: std::net::SocketAddr) -> (usize, usize) {
    let browser: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let calls: Vec<_> = (0..150)
        .map(|id| {
            let browser = browser.clone();
            tokio::spawn(async move {
                browser
                    .get(format!("http://{addr}/contacts/{id}").parse().unwrap())
                    .await
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for call in calls {
        if call.await.unwrap().unwrap().status().is_success() {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_pacer_keeps_every_handler_within_the_upstream_quota() {
    // Half-second windows, for a busy CI machine.
    const SCALE: f64 = 0.5;
    let upstream = MockServer::start(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(SCALE)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await
    .unwrap();
    let pacer = Pacer::new(example::policy(Duration::from_secs_f64(SCALE))).unwrap();
    let addr = example::serve(example::app(example::Upstream::new(&pacer, upstream.url())))
        .await
        .unwrap();
    let (ok, failed) = page_burst(addr).await;
    assert_eq!((ok, failed), (150, 0));
    // The server counts arrivals: on a busy machine one can come later than
    // any fixed margin covers, and the server refuses a call the books had
    // room for. The product keeps that from the callers (the refusal is
    // retried after the server's delay) and learns from it (a limit
    // mismatch narrows the band), so refusals stay rare.
    let refused = upstream.stats().rejected;
    assert!(
        refused == 0 || pacer.stats().limit_mismatch >= 1,
        "{refused} refusals taught the pacer nothing"
    );
    assert!(refused <= 3, "the upstream refused {refused} of 150");
    assert_eq!(pacer.stats().requests, 150);

    // The same app without a quota (the pacer only retries): the upstream
    // refuses calls, which the pacer then has to retry.
    let open = Pacer::new(tower_pacer::policy::Policy::default()).unwrap();
    let addr = example::serve(example::app(example::Upstream::new(&open, upstream.url())))
        .await
        .unwrap();
    page_burst(addr).await;
    assert!(
        open.stats().rate_limited > 0,
        "without pacing the upstream pushes back"
    );
}
