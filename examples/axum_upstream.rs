//! An axum web service whose handlers call an upstream API through one
//! shared `Pacer` kept in the router state — the everyday case: your web
//! app calls HubSpot.
//!
//! However many requests your app serves at once, the upstream sees its
//! quota respected: every handler's call waits for its slot on the one
//! limiter, and a 429 pauses them all.
//!
//! ```text
//! cargo run --release --example axum_upstream
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};
use tower_pacer::pacer::PacerService;
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::{BoxError, Pacer};

/// What every handler shares: the paced client (cheap to clone, one quota).
#[derive(Clone)]
pub struct Upstream {
    client: PacerService<Client<HttpConnector, Full<Bytes>>>,
    base: String,
}

impl Upstream {
    /// A paced client for `base`, with `pacer`'s quota.
    pub fn new(pacer: &Pacer, base: String) -> Self {
        let hyper = Client::builder(TokioExecutor::new()).build_http();
        Self {
            client: ServiceBuilder::new().layer(pacer.layer()).service(hyper),
            base,
        }
    }
}

/// `GET /contacts/{id}`: fetches the contact upstream.
async fn contact(State(upstream): State<Upstream>, Path(id): Path<u32>) -> (StatusCode, String) {
    let request = match http::Request::get(format!("{}/contacts/{id}", upstream.base))
        .body(Full::new(Bytes::new()))
    {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
    };
    match upstream.client.oneshot(request).await {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = match response.into_body().collect().await {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()),
            };
            (
                if status.is_success() {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_GATEWAY
                },
                body,
            )
        }
        // No slot within max_wait, or the upstream asked for too long a wait.
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// The app: its routes, and the shared upstream client in its state.
pub fn app(upstream: Upstream) -> Router {
    Router::new()
        .route("/contacts/{id}", get(contact))
        .with_state(upstream)
}

/// Serves `app` on a free port of 127.0.0.1; returns its address.
pub async fn serve(app: Router) -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// The upstream's quota as a policy: 50 per window, and a margin of 50 ms,
/// because the upstream counts *arrivals*: under a burst of page requests,
/// new connections and a busy machine delay some calls by tens of
/// milliseconds, and a late call from one window can land close to the
/// next window's first ones. A cap of 16 connections keeps the bursts small.
pub fn policy(window: Duration) -> Policy {
    let mut policy = Policy::default();
    policy.name = "upstream".into();
    policy.quotas = vec![QuotaSpec::window(50, window)];
    policy.headroom.margin = Duration::from_millis(50);
    policy.concurrency = Some(16);
    policy.max_wait = Some(Duration::from_secs(30));
    policy
}

#[allow(dead_code)] // the integration test reuses this file without main
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    use pacer_mock::{MockConfig, MockServer, Preset, RetryAfterForm};
    const SCALE: f64 = 0.2;
    let upstream_api = MockServer::start(
        MockConfig::preset(Preset::Strict)
            .with_time_scale(SCALE)
            .with_retry_after(RetryAfterForm::Decimal)
            .with_port(0),
    )
    .await?;
    let pacer = Pacer::new(policy(Duration::from_secs_f64(SCALE)))?;
    let addr = serve(app(Upstream::new(&pacer, upstream_api.url()))).await?;

    // 200 visitors at once.
    let browser: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let calls: Vec<_> = (0..200)
        .map(|id| {
            let browser = browser.clone();
            tokio::spawn(async move {
                let uri = format!("http://{addr}/contacts/{id}").parse()?;
                Ok::<_, BoxError>(browser.get(uri).await?)
            })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        if call.await??.status().is_success() {
            ok += 1;
        }
    }
    let seen = upstream_api.stats();
    println!("axum app on {addr}, upstream {}", upstream_api.url());
    println!("  {ok}/200 page requests OK");
    println!(
        "  upstream saw {} calls, {} refused; 429 ratio at the client {:.1} %",
        seen.accepted + seen.rejected,
        seen.rejected,
        100.0 * pacer.stats().rate_limited_ratio()
    );
    Ok(())
}
