//! The server over loopback: responses, dialects, limits, faults, batch, stats.

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use pacer_mock::{
    Faults, HeaderDialect, MockConfig, MockError, MockServer, Preset, RetryAfterForm,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{client, get, http_stats, post, request, send, spawn};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn echo_answers_with_id_key_and_path() {
    let server = spawn(MockConfig::default()).await;
    let c = client();
    let reply = get(&c, &server, "/crm/v3/contacts?limit=1", Some("k1")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["key"], pacer_mock::key_fingerprint("k1"));
    assert_eq!(body["path"], "/crm/v3/contacts");
    assert_eq!(body["method"], "GET");
    assert!(body["id"].as_u64().is_some_and(|id| id >= 1));
    // Keyless requests share the anonymous tenant; X-Api-Key is a key too.
    let _ = get(&c, &server, "/", None).await;
    let url = format!("{}/x", server.url());
    let mut req = request(Method::GET, &url, None, "");
    req.headers_mut().insert("x-api-key", "k2".parse().unwrap());
    assert_eq!(
        send(&c, req).await.unwrap().json()["key"],
        pacer_mock::key_fingerprint("k2")
    );
    let stats = server.stats();
    assert_eq!(stats.accepted, 3);
    let mut expected = vec![
        "anonymous".to_owned(),
        pacer_mock::key_fingerprint("k1"),
        pacer_mock::key_fingerprint("k2"),
    ];
    expected.sort();
    assert_eq!(stats.keys.keys().cloned().collect::<Vec<_>>(), expected);
    let published = serde_json::to_string(&stats).unwrap();
    assert!(!published.contains("\"k1\"") && !published.contains("\"k2\""));
}

#[tokio::test]
async fn exhausted_window_answers_429_with_truthful_retry_after() {
    // strict is 50/1 s; scaled by 0.2 the window lasts 200 ms.
    let config = MockConfig::preset(Preset::Strict)
        .with_time_scale(0.2)
        .with_retry_after(RetryAfterForm::Decimal);
    let server = spawn(config).await;
    let c = client();
    for i in 0..50 {
        let reply = get(&c, &server, "/", Some("a")).await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
        assert!(
            reply
                .header("ratelimit")
                .is_some_and(|v| v.contains(&format!("r={}", 49 - i))),
            "{:?}",
            reply.headers
        );
    }
    let refused = get(&c, &server, "/", Some("a")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json()["reason"], "rate");
    assert!(
        refused
            .header("ratelimit")
            .is_some_and(|v| v.contains(";r=0;"))
    );
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"50-per-1s\";q=50;w=1")
    );
    let wait = refused.retry_after().expect("decimal Retry-After");
    assert!(wait > Duration::ZERO && wait <= ms(200), "{wait:?}");
    // Another key is not affected.
    assert_eq!(
        get(&c, &server, "/", Some("b")).await.status,
        StatusCode::OK
    );
    // Waiting exactly Retry-After finds room.
    tokio::time::sleep(wait).await;
    assert_eq!(
        get(&c, &server, "/", Some("a")).await.status,
        StatusCode::OK
    );

    let stats = http_stats(&c, &server).await;
    assert_eq!(stats, server.stats(), "GET /__stats and stats() agree");
    assert_eq!(
        (
            stats.accepted,
            stats.rejected,
            stats.rejected_by_reason.rate
        ),
        (52, 1, 1)
    );
    assert_eq!(
        (
            stats.keys[&pacer_mock::key_fingerprint("a")].accepted,
            stats.keys[&pacer_mock::key_fingerprint("a")].rejected
        ),
        (51, 1)
    );
    assert_eq!(stats.windows.len(), 1);
    assert_eq!(
        (stats.windows[0].limit, stats.windows[0].window_ms),
        (50, 200)
    );
    assert_eq!(stats.windows[0].max_seen, 50);
}

#[tokio::test]
async fn retry_after_forms_and_reject_status() {
    let c = client();
    let base = MockConfig::default().with_window(1, Duration::from_secs(30));
    let refuse = |form| {
        let c = c.clone();
        let config = base.clone().with_retry_after(form).with_reject_status(403);
        async move {
            let server = spawn(config).await;
            assert_eq!(get(&c, &server, "/", None).await.status, StatusCode::OK);
            let reply = get(&c, &server, "/", None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN);
            reply.header("retry-after").map(str::to_owned)
        }
    };
    let secs = refuse(RetryAfterForm::Seconds).await.unwrap();
    assert!(matches!(secs.parse::<u64>(), Ok(29 | 30)), "{secs}");
    let decimal: f64 = refuse(RetryAfterForm::Decimal)
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(decimal > 29.0 && decimal <= 30.0, "{decimal}");
    let date = httpdate::parse_http_date(&refuse(RetryAfterForm::HttpDate).await.unwrap()).unwrap();
    let ahead = date.duration_since(SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(28) && ahead <= Duration::from_secs(31),
        "{ahead:?}"
    );
    assert_eq!(refuse(RetryAfterForm::None).await, None);
    let garbage = refuse(RetryAfterForm::Garbage).await.unwrap();
    assert!(garbage.parse::<f64>().is_err() && httpdate::parse_http_date(&garbage).is_err());
}

#[tokio::test]
async fn header_dialects_on_every_response() {
    let c = client();
    let server = spawn(MockConfig::preset(Preset::Hubspot).with_time_scale(0.01)).await;
    let reply = get(&c, &server, "/", Some("h")).await;
    assert_eq!(reply.header("x-hubspot-ratelimit-max"), Some("100"));
    assert_eq!(reply.header("x-hubspot-ratelimit-remaining"), Some("99"));
    assert_eq!(
        reply.header("x-hubspot-ratelimit-interval-milliseconds"),
        Some("100")
    );
    assert_eq!(reply.header("x-hubspot-ratelimit-daily"), Some("250000"));
    assert_eq!(
        reply.header("x-hubspot-ratelimit-daily-remaining"),
        Some("249999")
    );

    let server = spawn(MockConfig::preset(Preset::Github)).await;
    let reply = get(&c, &server, "/", Some("g")).await;
    assert_eq!(reply.header("x-ratelimit-limit"), Some("5000"));
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("4999"));
    assert_eq!(reply.header("x-ratelimit-used"), Some("1"));
    let reset: u64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset > now && reset <= now + 3_601,
        "epoch reset {reset}, now {now}"
    );

    let server = spawn(MockConfig::preset(Preset::Strict).with_headers(HeaderDialect::None)).await;
    let reply = get(&c, &server, "/", None).await;
    assert!(
        !reply
            .headers
            .keys()
            .any(|k| k.as_str().contains("ratelimit")),
        "{:?}",
        reply.headers
    );
}

#[tokio::test]
async fn daily_cap_and_gcra_report_their_reasons() {
    let c = client();
    let day = Duration::from_secs(86_400);
    let server = spawn(
        MockConfig::default()
            .with_window(100, Duration::from_secs(10))
            .with_window(2, day),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(get(&c, &server, "/", None).await.status, StatusCode::OK);
    }
    let reply = get(&c, &server, "/", None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.json()["reason"], "daily");
    assert_eq!(server.stats().rejected_by_reason.daily, 1);

    // 10 per second, burst 2: two pass at once, the third must wait ~100 ms.
    let server = spawn(
        MockConfig::default()
            .with_rate(10, Duration::from_secs(1), 2)
            .with_retry_after(RetryAfterForm::Decimal),
    )
    .await;
    assert_eq!(get(&c, &server, "/", None).await.status, StatusCode::OK);
    assert_eq!(get(&c, &server, "/", None).await.status, StatusCode::OK);
    let reply = get(&c, &server, "/", None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let wait = reply.retry_after().unwrap();
    assert!(wait > ms(50) && wait <= ms(100), "{wait:?}");
    tokio::time::sleep(wait).await;
    assert_eq!(get(&c, &server, "/", None).await.status, StatusCode::OK);
    assert_eq!(server.stats().rejected_by_reason.rate, 1);
}

#[tokio::test]
async fn concurrency_cap_counts_in_flight_requests() {
    let config = MockConfig::default()
        .with_concurrency(2)
        .with_latency(ms(300), Duration::ZERO);
    let server = spawn(config).await;
    let c = client();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (c, url) = (c.clone(), server.url());
        tasks.push(tokio::spawn(async move {
            send(&c, request(Method::GET, &url, Some("m"), ""))
                .await
                .unwrap()
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 2, "{statuses:?}");
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, 2);
    assert_eq!(stats.rejected_by_reason.concurrency, 3);
    // Once the in-flight requests finished, there is room again.
    assert_eq!(
        get(&c, &server, "/", Some("m")).await.status,
        StatusCode::OK
    );
}

async fn fault_statuses(seed: u64) -> (Vec<u16>, u64) {
    let faults = Faults {
        status_503: 0.25,
        status_500: 0.15,
        ..Faults::default()
    };
    let server = spawn(MockConfig::default().with_faults(faults).with_seed(seed)).await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..200 {
        statuses.push(get(&c, &server, "/", None).await.status.as_u16());
    }
    (statuses, server.stats().rejected_by_reason.fault)
}

#[tokio::test]
async fn seeded_faults_are_reproducible_and_counted() {
    let (a, faults_a) = fault_statuses(7).await;
    let (b, _) = fault_statuses(7).await;
    let (other, _) = fault_statuses(8).await;
    assert_eq!(a, b, "same seed, same sequence");
    assert_ne!(a, other, "another seed, another sequence");
    let n503 = a.iter().filter(|&&s| s == 503).count();
    let n500 = a.iter().filter(|&&s| s == 500).count();
    // 200 draws: generous bounds (±4σ) so only a broken generator fails.
    assert!((26..=74).contains(&n503), "{n503} of 200 at 25 %");
    assert!((10..=50).contains(&n500), "{n500} of 200 at 15 %");
    assert_eq!(faults_a, (n503 + n500) as u64);
}

#[tokio::test]
async fn reset_fault_drops_the_connection_mid_response() {
    let faults = Faults {
        reset: 1.0,
        ..Faults::default()
    };
    let server = spawn(MockConfig::default().with_faults(faults)).await;
    // Raw TCP, to see exactly what arrives: a status line, then a cut body.
    let mut conn = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server closes the connection");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let announced: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.len() < announced,
        "body cut: {} of {announced}",
        body.len()
    );
    // Through a real client it is an error, and the server lives on.
    let c = client();
    let url = format!("{}/", server.url());
    assert!(
        send(&c, request(Method::GET, &url, None, ""))
            .await
            .is_err()
    );
    assert_eq!(server.stats().rejected_by_reason.fault, 2);
}

#[tokio::test]
async fn slow_responses_exceed_a_client_timeout() {
    let faults = Faults {
        slow: 1.0,
        slow_delay: Duration::from_secs(2),
        ..Faults::default()
    };
    let server = spawn(MockConfig::default().with_faults(faults)).await;
    let c = client();
    let url = format!("{}/", server.url());
    let attempt =
        tokio::time::timeout(ms(200), send(&c, request(Method::GET, &url, None, ""))).await;
    assert!(
        attempt.is_err(),
        "a slow response outlasts the client's timeout"
    );
}

#[tokio::test]
async fn batch_endpoint() {
    let server = spawn(MockConfig::preset(Preset::Hubspot)).await;
    let c = client();
    let reply = post(
        &c,
        &server,
        "/batch",
        Some("b"),
        r#"{"inputs":[{"email":"a@x"},{"email":"b@x"},3]}"#,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["results"].as_array().unwrap().len(), 3);
    assert_eq!(body["errors"].as_array().unwrap().len(), 0);
    assert_eq!(body["results"][1]["input"]["email"], "b@x");

    let items: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let oversize = format!(r#"{{"inputs":[{}]}}"#, items.join(","));
    let reply = post(&c, &server, "/batch", Some("b"), &oversize).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 100")
    );

    for bad in ["{not json", r#"{"inputs":5}"#, "[]", ""] {
        let reply = post(&c, &server, "/batch", Some("b"), bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(reply.json()["error"], "bad_request");
    }
    assert_eq!(server.stats().batch_items, 3);

    // Items can fail on their own: 207 with per-item errors.
    let mut config = MockConfig::default();
    config.batch_item_failure = 1.0;
    let server = spawn(config).await;
    let reply = post(&c, &server, "/batch", None, r#"{"inputs":[1,2]}"#).await;
    assert_eq!(reply.status, StatusCode::MULTI_STATUS);
    assert_eq!(reply.json()["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reset_endpoint_zeroes_stats_but_not_quotas() {
    let server = spawn(MockConfig::default().with_window(2, Duration::from_secs(60))).await;
    let c = client();
    for _ in 0..3 {
        let _ = get(&c, &server, "/", None).await;
    }
    assert_eq!((server.stats().accepted, server.stats().rejected), (2, 1));
    assert_eq!(
        post(&c, &server, "/__reset", None, "").await.status,
        StatusCode::OK
    );
    let stats = server.stats();
    assert_eq!(
        (stats.accepted, stats.rejected, stats.windows[0].max_seen),
        (0, 0, 0)
    );
    // Still refused: a reset of the statistics hands out no quota.
    assert_eq!(
        get(&c, &server, "/", None).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        get(&c, &server, "/__reset", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn malformed_http_does_not_take_the_server_down() {
    let server = spawn(MockConfig::default()).await;
    for garbage in [
        &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n",
        b"GE",
    ] {
        let mut conn = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        conn.write_all(garbage).await.unwrap();
        let _ = conn.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut sink)).await;
    }
    assert_eq!(
        get(&client(), &server, "/", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn start_errors_are_typed() {
    let bad = MockConfig::default().with_window(0, Duration::from_secs(1));
    match MockServer::start(bad).await {
        Err(MockError::Config(e)) => assert_eq!(e.field(), "windows[0].limit"),
        other => panic!("expected a config error, got {other:?}"),
    }
    let server = spawn(MockConfig::default()).await;
    match MockServer::start(MockConfig::default().with_port(server.addr().port())).await {
        Err(MockError::Bind { .. }) => {}
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = spawn(MockConfig::default()).await;
    let addr = server.addr();
    assert_eq!(
        get(&client(), &server, "/", None).await.status,
        StatusCode::OK
    );
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown completes");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
