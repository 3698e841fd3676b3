//! tonic integration (feature `tonic`): a [`Pacer`]'s stack over a
//! `tonic::transport::Channel`.
//!
//! ```text
//! let layer = GrpcPacerLayer::new(&pacer)?.retry_method("/crm.Contacts/Get");
//! let channel = ServiceBuilder::new().layer(layer).service(channel);
//! let mut client = ContactsClient::new(channel); // generated, or tonic::client::Grpc
//! ```
//!
//! # What every call gets
//!
//! Every call — unary or streaming — waits for a slot on the pacer's
//! limiter and a place under its concurrency cap before it goes out. Each
//! attempt's answer is classified by [`GrpcClassifier`](crate::classify::GrpcClassifier)
//! from the `grpc-status` of a trailers-only answer (the form an
//! immediate error takes): `RESOURCE_EXHAUSTED` (8) is rate limited,
//! `UNAVAILABLE` (14) transient, everything else final; a
//! `grpc-retry-pushback-ms` is the server's delay, as `Retry-After` is for
//! HTTP (a negative or unreadable one means "do not retry", gRFC A6). A
//! rate-limited answer with a pushback pauses the whole destination, retried
//! or not. The pacer's [`stats`](crate::Pacer::stats) count
//! `RESOURCE_EXHAUSTED` as a 429 and a non-OK call as a failure.
//!
//! # Which calls are retried: buffered unary calls
//!
//! tonic hands the channel a *streaming* request body, even for a unary
//! call, and a stream can be sent only once. The stack therefore buffers
//! the request body of the methods you name
//! ([`GrpcPacerLayer::retry_method`]) into a [`GrpcBody`] that can be
//! copied, up to [`max_buffer`](GrpcPacerLayer::max_buffer) bytes (1 MiB by
//! default). A unary request is one encoded message already in memory, so
//! this costs no waiting and at most one copy. Those calls are retried by
//! the crate's own [`Retry`](crate::retry::Retry) layer — same backoff,
//! budget (the pacer's), `max_retry_after` and deadline as HTTP calls — and
//! the final response carries an [`Attempts`](crate::retry::Attempts)
//! extension (tonic passes it on in `Response::extensions`). Every other
//! call, and a named call whose body is over the cap, goes out once.
//!
//! Why name methods rather than retry every unary call: the channel cannot
//! tell a unary call from a streaming one, and gRPC leaves which methods
//! are safe to repeat to the service owner (gRFC A6 retries only the
//! methods a service config lists). Retrying at the stub level with a
//! cloned message would know both, but would sit outside the tower stack
//! and duplicate its retry logic; buffering keeps one retry layer for HTTP
//! and gRPC.
//!
//! Not yet: the adaptive controllers are not fed by gRPC answers (their
//! current rate and cap still apply), and a status sent in the trailers
//! after a response has started is not seen (by then the call is
//! committed, and A6 forbids a retry anyway).
//!
//! # Example
//!
//! Over any tower service of tonic bodies (here a stub that pushes back
//! once; in real use a `Channel`):
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::Pacer;
//! use tower_pacer::policy::Policy;
//! use tower_pacer::retry::Attempts;
//! use tower_pacer::tonic::GrpcPacerLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let pacer = Pacer::new(Policy::default())?;
//! let calls = Arc::new(AtomicU32::new(0));
//! let server = service_fn(move |_: http::Request<tonic::body::Body>| {
//!     let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
//!     async move {
//!         let (status, pushback) = if first { ("8", "1500") } else { ("0", "0") };
//!         let response = http::Response::builder()
//!             .header("content-type", "application/grpc")
//!             .header("grpc-status", status)
//!             .header("grpc-retry-pushback-ms", pushback)
//!             .body(tonic::body::Body::empty())?;
//!         Ok::<_, tower_pacer::BoxError>(response)
//!     }
//! });
//! let channel = ServiceBuilder::new()
//!     .layer(GrpcPacerLayer::new(&pacer)?.retry_method("/crm.Contacts/Get"))
//!     .service(server);
//!
//! let start = tokio::time::Instant::now();
//! let request = http::Request::post("http://crm/crm.Contacts/Get")
//!     .body(tonic::body::Body::new(http_body_util::Full::new(bytes::Bytes::from_static(b"\0\0\0\0\0"))))?;
//! let response = channel.oneshot(request).await?;
//! assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
//! // The server's pushback, plus the 50 ms safety margin.
//! assert_eq!(start.elapsed(), Duration::from_millis(1550));
//! assert_eq!(pacer.stats().rate_limited, 1);
//! # Ok(()) }
//! ```

mod body;
mod buffer;
mod layer;

pub use body::GrpcBody;
pub use buffer::{BufferUnary, ResponseFuture};
pub use layer::{
    DEFAULT_MAX_BUFFER, GrpcPacerLayer, GrpcPacerService, GrpcPolicyClassifier, IntoTonic,
    PacedChannel,
};

#[cfg(doc)]
use crate::Pacer;
