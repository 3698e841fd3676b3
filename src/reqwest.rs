//! tower-pacer for `reqwest`: a `reqwest_middleware::Middleware` (feature
//! `reqwest`).
//!
//! [`PacerMiddleware`] runs every request of a
//! `reqwest_middleware::ClientWithMiddleware` through a [`Pacer`]'s stack —
//! the shared limiter (quota bands, cooldown gate), the concurrency cap,
//! Retry-After-aware retries with the retry budget, statistics — or, with
//! [`PacerMiddleware::per_host`], through one stack per host from a
//! [`PolicyTable`]. The rest of the middleware chain (and the client) sends
//! each attempt; a request is replayed with `reqwest::Request::try_clone`,
//! so a streaming body goes once.
//!
//! How it differs from `reqwest-retry`:
//! - it *paces*: requests wait for their slot before going out, so the
//!   limit is rarely hit at all; `reqwest-retry` only reacts to failures;
//! - `Retry-After` (seconds, decimals, HTTP dates) sets the wait, never
//!   shortened by jitter, and a 429 pauses **every** request to the
//!   destination, not just the one that got it;
//! - a retry budget shared by the destination caps retries when the API is
//!   down, where per-request attempts alone make a retry storm;
//! - POST and PATCH are retried only with an `Idempotency-Key` (or when
//!   the request was never sent), per RFC 9110.
//!
//! ```
//! use tower_pacer::Pacer;
//! use tower_pacer::presets::{self, HubSpotTier};
//! use tower_pacer::reqwest::PacerMiddleware;
//!
//! # fn main() -> Result<(), tower_pacer::BoxError> {
//! let hubspot = Pacer::new(presets::hubspot(HubSpotTier::Starter))?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(PacerMiddleware::new(&hubspot))
//!     .build();
//! # let _ = client; Ok(()) }
//! ```

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Extensions;
use http_body::{Body, Frame, SizeHint};
use reqwest_middleware::{Middleware, Next};
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::destinations::{Destinations, DestinationsLayer, PolicyTable};
use crate::pacer::PacerService;
use crate::retry::ReplayBody;
use crate::{BoxError, Pacer};

/// Applies a [`Pacer`] (or one per host) to a `reqwest_middleware` client;
/// see the [module docs](self).
#[derive(Clone)]
pub struct PacerMiddleware {
    route: Route,
}

#[derive(Clone)]
enum Route {
    // Boxed: a whole stack beside a one-pointer variant.
    One(Box<PacerService<NextCaller>>),
    PerHost(Destinations<NextCaller>),
}

impl PacerMiddleware {
    /// Every request through `pacer`'s stack (its state is shared with
    /// every other stack built from it).
    pub fn new(pacer: &Pacer) -> Self {
        Self {
            route: Route::One(Box::new(pacer.layer().layer(NextCaller))),
        }
    }

    /// One stack per host, with the policies of `table`.
    pub fn per_host(layer: DestinationsLayer) -> Self {
        Self {
            route: Route::PerHost(layer.layer(NextCaller)),
        }
    }

    /// One stack per host from `table`, at most the default number of live
    /// hosts.
    pub fn per_host_table(table: PolicyTable) -> Self {
        Self::per_host(DestinationsLayer::new(table))
    }

    /// The pacer of a live host, in per-host mode.
    pub fn pacer(&self, host: &str) -> Option<Pacer> {
        match &self.route {
            Route::One(_) => None,
            Route::PerHost(destinations) => destinations.pacer(host),
        }
    }
}

impl std::fmt::Debug for PacerMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacerMiddleware").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Middleware for PacerMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let returned = Arc::new(Mutex::new(None));
        let request = carry(request, extensions.clone(), next, returned.clone());
        let result = match &self.route {
            Route::One(stack) => PacerService::clone(stack).oneshot(request).await,
            Route::PerHost(destinations) => destinations.clone().oneshot(request).await,
        };
        // What the rest of the chain wrote into the last attempt's
        // extensions reaches the caller, as without this middleware.
        if let Some(last) = returned.lock().unwrap_or_else(|p| p.into_inner()).take() {
            *extensions = last;
        }
        match result {
            Ok(response) => Ok(reqwest::Response::from(response)),
            Err(error) => Err(match error.downcast::<reqwest_middleware::Error>() {
                Ok(original) => *original,
                Err(error) => reqwest_middleware::Error::Middleware(typed(error)),
            }),
        }
    }
}

/// The request as the tower stack sees it: the method, URI and headers of
/// the reqwest request (for routing, classification and idempotency), with
/// the request itself and the rest of the chain riding along as the body.
fn carry<'a>(
    request: reqwest::Request,
    extensions: Extensions,
    next: Next<'a>,
    returned: Arc<Mutex<Option<Extensions>>>,
) -> http::Request<Carrier<'a>> {
    let mut head = http::Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.url().as_str().parse().unwrap_or_default();
    *head.headers_mut() = request.headers().clone();
    let (parts, ()) = head.into_parts();
    http::Request::from_parts(
        parts,
        Carrier {
            request,
            extensions,
            next,
            returned,
        },
    )
}

/// A reqwest request and the middleware chain after this one, carried
/// through the tower stack; never read as a body.
pub struct Carrier<'a> {
    request: reqwest::Request,
    extensions: Extensions,
    next: Next<'a>,
    /// Where the attempt leaves its extensions for the caller.
    returned: Arc<Mutex<Option<Extensions>>>,
}

impl std::fmt::Debug for Carrier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Carrier")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl ReplayBody for Carrier<'_> {
    /// A copy if `reqwest::Request::try_clone` can make one (not for a
    /// streaming body).
    fn replay_body(&self) -> Option<Self> {
        Some(Self {
            request: self.request.try_clone()?,
            extensions: self.extensions.clone(),
            next: self.next.clone(),
            returned: self.returned.clone(),
        })
    }
}

impl Body for Carrier<'_> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(0)
    }
}

/// The innermost service: hands each attempt to the rest of the chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct NextCaller;

impl<'a> Service<http::Request<Carrier<'a>>> for NextCaller {
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = BoxFuture<'a, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Carrier<'a>>) -> Self::Future {
        let Carrier {
            request,
            mut extensions,
            next,
            returned,
        } = request.into_body();
        Box::pin(async move {
            let result = next.run(request, &mut extensions).await;
            *returned.lock().unwrap_or_else(|p| p.into_inner()) = Some(extensions);
            Ok(with_url(result?))
        })
    }
}

/// The response as an `http::Response` that still knows its final URL:
/// reqwest's own conversion drops it, and converting back would then give
/// the caller a placeholder in `Response::url()` (and in
/// `error_for_status()` errors) instead of the URL after redirects.
fn with_url(response: reqwest::Response) -> http::Response<reqwest::Body> {
    use reqwest::ResponseBuilderExt;
    let url = response.url().clone();
    let mut response = http::Response::from(response);
    if let Ok(marker) = http::Response::builder().url(url).body(()) {
        response
            .extensions_mut()
            .extend(marker.into_parts().0.extensions);
    }
    response
}

/// `error` as an `anyhow::Error` from which the crate's own errors are one
/// `downcast_ref` away (`anyhow::Error::from_boxed` would hide their type
/// behind the box).
fn typed(error: crate::BoxError) -> anyhow::Error {
    let error = match error.downcast::<crate::rate::RateError>() {
        Ok(error) => return anyhow::Error::new(*error),
        Err(error) => error,
    };
    let error = match error.downcast::<crate::retry::RetryError>() {
        Ok(error) => return anyhow::Error::new(*error),
        Err(error) => error,
    };
    match error.downcast::<crate::destinations::DestinationError>() {
        Ok(error) => anyhow::Error::new(*error),
        Err(error) => anyhow::Error::from_boxed(error),
    }
}
