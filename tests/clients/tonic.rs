//! The gRPC stack over a real tonic channel and a throttling tonic server
//! on loopback (the example's hand-written service): pacing on and off,
//! pushback retries for named unary methods only, UNAVAILABLE retried,
//! oversized bodies sent once.
#[path = "../../examples/tonic_client.rs"]
#[allow(dead_code)]
mod example;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use example::{ContactsClient, GET, Server, Throttle, burst, crm};
use tonic::Code;
use tower::ServiceBuilder;
use tower_pacer::Pacer;
use tower_pacer::policy::Policy;
use tower_pacer::retry::Attempts;
use tower_pacer::tonic::{GrpcPacerLayer, PacedChannel};

async fn paced(server: &Server, layer: GrpcPacerLayer) -> ContactsClient<PacedChannel> {
    let channel = server.channel().await.unwrap();
    ContactsClient::new(ServiceBuilder::new().layer(layer).service(channel))
}

fn attempts<T>(response: &tonic::Response<T>) -> Option<u32> {
    response.extensions().get::<Attempts>().map(|a| a.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_channel_is_refused_the_paced_one_never_is() {
    let bare = Server::start(Throttle::new(20, Duration::from_millis(200)))
        .await
        .unwrap();
    let (ok, exhausted) = burst(ContactsClient::new(bare.channel().await.unwrap()), 60).await;
    assert_eq!(ok + exhausted, 60);
    assert!(exhausted >= 30, "only {exhausted} refusals without pacing");

    let server = Server::start(Throttle::new(20, Duration::from_millis(200)))
        .await
        .unwrap();
    let pacer = Pacer::new(example::policy()).unwrap();
    let layer = GrpcPacerLayer::new(&pacer).unwrap().retry_method(GET);
    let start = Instant::now();
    let (ok, exhausted) = burst(paced(&server, layer).await, 60).await;
    let wall = start.elapsed();
    assert_eq!((ok, exhausted), (60, 0));
    assert_eq!(server.throttle.refused.load(Ordering::Relaxed), 0);
    // 60 calls at 20 per 200 ms: two full windows at least.
    assert!(wall >= Duration::from_millis(400), "not paced: {wall:?}");
    let stats = pacer.stats();
    assert_eq!(
        (stats.requests, stats.attempts, stats.rate_limited),
        (60, 60, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushback_is_honoured_for_named_methods_only() {
    let server = Server::start(Throttle::new(1, Duration::from_millis(300)))
        .await
        .unwrap();

    // Without the stack, the second call in the window is refused.
    let mut bare = ContactsClient::new(server.channel().await.unwrap());
    bare.get(1).await.unwrap();
    let refused = bare.get(2).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let pushback = refused
        .metadata()
        .get("grpc-retry-pushback-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a pushback");
    assert!(pushback > 0);
    tokio::time::sleep(Duration::from_millis(350)).await;

    // With it, a named method waits out the pushback and succeeds...
    let pacer = Pacer::new(Policy::default()).unwrap();
    let layer = GrpcPacerLayer::new(&pacer).unwrap().retry_method(GET);
    let mut client = paced(&server, layer).await;
    let first = client.get(3).await.unwrap();
    assert_eq!(attempts(&first), Some(1));
    let start = Instant::now();
    let second = client.get(4).await.unwrap();
    assert_eq!(second.get_ref().id, 4);
    assert_eq!(attempts(&second), Some(2));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );

    // ...a method not named (a write) is refused once and not repeated,
    // though it is still paced: the refusal paused the destination.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let contact = crm::Contact {
        id: 5,
        email: "new@example.com".into(),
    };
    client.create(contact.clone()).await.unwrap();
    let refused = client.create(contact).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(pacer.limiter().paused_until().is_some());
    let stats = pacer.stats();
    assert_eq!(
        (stats.requests, stats.attempts, stats.rate_limited),
        (4, 5, 2)
    );
    assert_eq!(stats.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried() {
    let server = Server::start(Throttle::new(100, Duration::from_secs(1)))
        .await
        .unwrap();
    server.throttle.fail_next(1);
    let mut bare = ContactsClient::new(server.channel().await.unwrap());
    assert_eq!(bare.get(1).await.unwrap_err().code(), Code::Unavailable);

    server.throttle.fail_next(1);
    let pacer = Pacer::new(Policy::default()).unwrap();
    let mut client = paced(
        &server,
        GrpcPacerLayer::new(&pacer).unwrap().retry_method(GET),
    )
    .await;
    let response = client.get(2).await.unwrap();
    assert_eq!(attempts(&response), Some(2));
    assert_eq!(pacer.stats().server_errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_buffer_cap_goes_out_once() {
    let server = Server::start(Throttle::new(100, Duration::from_secs(1)))
        .await
        .unwrap();
    let pacer = Pacer::new(Policy::default()).unwrap();
    // A GetContact is a 5-byte gRPC frame header and its message: over 4.
    let layer = GrpcPacerLayer::new(&pacer)
        .unwrap()
        .retry_method(GET)
        .max_buffer(4);
    let mut client = paced(&server, layer).await;
    client.get(1).await.unwrap();
    server.throttle.fail_next(1);
    assert_eq!(client.get(2).await.unwrap_err().code(), Code::Unavailable);
    assert_eq!(pacer.stats().attempts, 2);
}
