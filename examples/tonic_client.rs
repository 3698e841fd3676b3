//! tower-pacer over a tonic channel, against a throttling gRPC server.
//!
//! The same file holds a small gRPC service, `crm.Contacts` (`Get`, which
//! is safe to repeat, and `Create`, which is not), written by hand — prost
//! derives for the messages, tonic's `client::Grpc` and `server::Grpc` for
//! the stubs — so nothing needs `protoc`. The server lets at most 20 calls
//! through in any 200 ms and answers the rest `RESOURCE_EXHAUSTED` with a
//! `grpc-retry-pushback-ms`.
//!
//! The example sends 100 `Get`s at once over a bare channel, then over a
//! channel paced by a `Pacer` with the server's quota, and prints what each
//! saw.
//!
//! ```text
//! cargo run --example tonic_client --features tonic
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use tonic::codegen::{Body, Bytes, StdError};
use tonic::metadata::MetadataMap;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::ServiceBuilder;
use tower_pacer::policy::{Policy, QuotaSpec};
use tower_pacer::tonic::GrpcPacerLayer;
use tower_pacer::{BoxError, Pacer};

/// The messages, as `prost-build` would write them from
/// `message GetContact { uint64 id = 1; }` and
/// `message Contact { uint64 id = 1; string email = 2; }`.
pub mod crm {
    /// `GetContact`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetContact {
        /// The contact's id.
        #[prost(uint64, tag = "1")]
        pub id: u64,
    }

    /// `Contact`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Contact {
        /// The contact's id.
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// The contact's address.
        #[prost(string, tag = "2")]
        pub email: String,
    }
}

/// `rpc Get(GetContact) returns (Contact)`: a read, safe to repeat.
pub const GET: &str = "/crm.Contacts/Get";
/// `rpc Create(Contact) returns (Contact)`: a write, not safe to repeat.
pub const CREATE: &str = "/crm.Contacts/Create";

/// The client stub, as `tonic-build` would generate it.
#[derive(Debug, Clone)]
pub struct ContactsClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> ContactsClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    /// A client over `inner` (a `Channel`, or a paced one).
    pub fn new(inner: T) -> Self {
        Self {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    /// `Get`.
    pub async fn get(&mut self, id: u64) -> Result<tonic::Response<crm::Contact>, Status> {
        self.call(crm::GetContact { id }, GET).await
    }

    /// `Create`.
    pub async fn create(
        &mut self,
        contact: crm::Contact,
    ) -> Result<tonic::Response<crm::Contact>, Status> {
        self.call(contact, CREATE).await
    }

    async fn call<M: prost::Message + Send + Sync + 'static>(
        &mut self,
        message: M,
        path: &'static str,
    ) -> Result<tonic::Response<crm::Contact>, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("service was not ready: {}", e.into())))?;
        let codec: ProstCodec<M, crm::Contact> = ProstCodec::default();
        self.inner
            .unary(
                tonic::Request::new(message),
                PathAndQuery::from_static(path),
                codec,
            )
            .await
    }
}

/// The server's quota and counters.
#[derive(Debug)]
pub struct Throttle {
    limit: usize,
    window: Duration,
    admitted: Mutex<VecDeque<Instant>>,
    /// The next this-many calls answer `UNAVAILABLE` (a flaky backend).
    unavailable: AtomicU32,
    /// Calls served.
    pub accepted: AtomicU64,
    /// Calls refused with `RESOURCE_EXHAUSTED`.
    pub refused: AtomicU64,
}

impl Throttle {
    /// At most `limit` calls in any `window` (an exact sliding window).
    pub fn new(limit: usize, window: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit,
            window,
            admitted: Mutex::new(VecDeque::new()),
            unavailable: AtomicU32::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// The next `n` calls fail with `UNAVAILABLE`.
    pub fn fail_next(&self, n: u32) {
        self.unavailable.store(n, Ordering::SeqCst);
    }

    fn admit(&self) -> Result<(), Status> {
        let flaky = self
            .unavailable
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if flaky.is_ok() {
            return Err(Status::unavailable("backend restarting"));
        }
        let now = Instant::now();
        let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
        while admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            admitted.pop_front();
        }
        if admitted.len() < self.limit {
            admitted.push_back(now);
            self.accepted.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        // When the oldest call leaves the window, there is room again.
        let wait = admitted.front().map_or(Duration::ZERO, |t| {
            self.window.saturating_sub(now.duration_since(*t))
        });
        let mut metadata = MetadataMap::new();
        if let Ok(value) = (wait.as_millis() + 1).to_string().parse() {
            metadata.insert("grpc-retry-pushback-ms", value);
        }
        Err(Status::with_metadata(
            Code::ResourceExhausted,
            "quota exceeded",
            metadata,
        ))
    }
}

/// The server stub, as `tonic-build` would generate it.
#[derive(Debug, Clone)]
pub struct ContactsServer {
    throttle: Arc<Throttle>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One method's handler: admit, then answer with a contact.
struct Handler(Arc<Throttle>);

impl<M: Send + 'static> UnaryService<M> for Handler
where
    M: Into<crm::Contact>,
{
    type Response = crm::Contact;
    type Future = BoxFuture<Result<tonic::Response<crm::Contact>, Status>>;

    fn call(&mut self, request: tonic::Request<M>) -> Self::Future {
        let admitted = self.0.admit();
        Box::pin(async move {
            admitted?;
            Ok(tonic::Response::new(request.into_inner().into()))
        })
    }
}

impl From<crm::GetContact> for crm::Contact {
    fn from(get: crm::GetContact) -> Self {
        crm::Contact {
            id: get.id,
            email: format!("contact-{}@example.com", get.id),
        }
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for ContactsServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let handler = Handler(self.throttle.clone());
        match request.uri().path() {
            GET => Box::pin(async move {
                let codec: ProstCodec<crm::Contact, crm::GetContact> = ProstCodec::default();
                Ok(tonic::server::Grpc::new(codec)
                    .unary(handler, request)
                    .await)
            }),
            CREATE => Box::pin(async move {
                let codec: ProstCodec<crm::Contact, crm::Contact> = ProstCodec::default();
                Ok(tonic::server::Grpc::new(codec)
                    .unary(handler, request)
                    .await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

impl NamedService for ContactsServer {
    const NAME: &'static str = "crm.Contacts";
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its quota and counters.
    pub throttle: Arc<Throttle>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Serves `crm.Contacts` on 127.0.0.1, a free port.
    pub async fn start(throttle: Arc<Throttle>) -> Result<Server, BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = ContactsServer {
            throttle: throttle.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Ok(Server {
            addr,
            throttle,
            _stop: stop,
        })
    }

    /// A channel to it (one HTTP/2 connection).
    pub async fn channel(&self) -> Result<Channel, BoxError> {
        Ok(Channel::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?)
    }
}

/// `calls` `Get`s at once through `client`; returns (OK, RESOURCE_EXHAUSTED).
pub async fn burst<T>(client: ContactsClient<T>, calls: u64) -> (u64, u64)
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    T::Error: Into<StdError>,
    T::Future: Send,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    let tasks: Vec<_> = (0..calls)
        .map(|id| {
            let mut client = client.clone();
            tokio::spawn(async move { client.get(id).await.map(|_| ()) })
        })
        .collect();
    let (mut ok, mut exhausted) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(status)) if status.code() == Code::ResourceExhausted => exhausted += 1,
            _ => {}
        }
    }
    (ok, exhausted)
}

/// The server's quota as a client policy: 20 per 200 ms, a little margin
/// (the server counts arrivals), at most 8 calls in flight.
pub fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.name = "crm-grpc".into();
    policy.quotas = vec![QuotaSpec::window(20, Duration::from_millis(200))];
    policy.headroom.margin = Duration::from_millis(10);
    policy.concurrency = Some(8);
    policy
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    const CALLS: u64 = 100;
    let bare_server = Server::start(Throttle::new(20, Duration::from_millis(200))).await?;
    let start = Instant::now();
    let (bare_ok, bare_exhausted) =
        burst(ContactsClient::new(bare_server.channel().await?), CALLS).await;
    let bare_wall = start.elapsed();

    let server = Server::start(Throttle::new(20, Duration::from_millis(200))).await?;
    let pacer = Pacer::new(policy())?;
    let channel = ServiceBuilder::new()
        .layer(GrpcPacerLayer::new(&pacer)?.retry_method(GET))
        .service(server.channel().await?);
    let start = Instant::now();
    let (ok, exhausted) = burst(ContactsClient::new(channel), CALLS).await;
    let wall = start.elapsed();

    let stats = pacer.stats();
    println!("{CALLS} unary gRPC calls against a server allowing 20 per 200 ms");
    println!(
        "  bare channel:  {bare_ok} OK, {bare_exhausted} RESOURCE_EXHAUSTED, in {:.2}s; server refused {}",
        bare_wall.as_secs_f64(),
        bare_server.throttle.refused.load(Ordering::Relaxed)
    );
    println!(
        "  paced channel: {ok} OK, {exhausted} RESOURCE_EXHAUSTED, in {:.2}s; server refused {}",
        wall.as_secs_f64(),
        server.throttle.refused.load(Ordering::Relaxed)
    );
    println!(
        "  pacer: {} calls, {} attempts, {} rate limited, {} waited for a slot",
        stats.requests, stats.attempts, stats.rate_limited, stats.waited
    );
    Ok(())
}
