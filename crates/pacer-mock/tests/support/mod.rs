//! Shared test fixture (of this crate and of tower-pacer's tests): the mock
//! server in-process on a free port, and a
//! small hyper-util client. Every test file may `mod support;` and use what
//! it needs.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pacer_mock::BoxError;
use pacer_mock::{MockConfig, MockServer, MockStats, Preset};

/// The client type the helpers use (a `tower::Service<Request<Full<Bytes>>>`,
/// so layers can wrap it).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A keep-alive HTTP/1 client.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Starts the mock with `config` on 127.0.0.1, port 0.
pub async fn spawn(config: MockConfig) -> MockServer {
    match MockServer::start(config.with_port(0)).await {
        Ok(server) => server,
        Err(e) => panic!("mock server did not start: {e}"),
    }
}

/// Starts a preset, with windows and delays multiplied by `time_scale`.
pub async fn spawn_preset(preset: Preset, time_scale: f64) -> MockServer {
    spawn(MockConfig::preset(preset).with_time_scale(time_scale)).await
}

/// A request to the mock: `key` goes in `Authorization: Bearer`.
pub fn request(method: Method, url: &str, key: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(url);
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .expect("valid test request")
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` read as (decimal) seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }
}

/// Sends one request and reads the whole response.
pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Result<Reply, BoxError> {
    let res = client.request(req).await?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// `GET {server}{path}` with `key`.
pub async fn get(client: &HttpClient, server: &MockServer, path: &str, key: Option<&str>) -> Reply {
    let url = format!("{}{path}", server.url());
    send(client, request(Method::GET, &url, key, ""))
        .await
        .expect("GET succeeds")
}

/// `POST {server}{path}` with a JSON body and `key`.
pub async fn post(
    client: &HttpClient,
    server: &MockServer,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Reply {
    let url = format!("{}{path}", server.url());
    send(client, request(Method::POST, &url, key, body))
        .await
        .expect("POST succeeds")
}

/// The statistics as scripts see them, over HTTP.
pub async fn http_stats(client: &HttpClient, server: &MockServer) -> MockStats {
    let reply = get(client, server, "/__stats", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    serde_json::from_slice(&reply.body).expect("stats JSON")
}
