//! [`MockServer`]: the hyper 1 server, its accept loop and graceful shutdown.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::config::MockConfig;
use super::error::MockError;
use super::handler::handle;
use super::state::State;
use super::stats::MockStats;

/// How long [`MockServer::shutdown`] lets open requests finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running mock server. Dropping it stops accepting connections;
/// [`shutdown`](Self::shutdown) also waits for open requests to finish.
pub struct MockServer {
    https: bool,
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Validates `config`, binds its address and starts serving on the
    /// current tokio runtime.
    pub async fn start(config: MockConfig) -> Result<MockServer, MockError> {
        config.validate()?;
        let wanted = SocketAddr::new(config.bind, config.port);
        let bind_err = |source| MockError::Bind {
            addr: wanted,
            source,
        };
        let tls = match &config.tls {
            #[cfg(feature = "tls")]
            Some(files) => Some(crate::tls::acceptor(files)?),
            #[cfg(not(feature = "tls"))]
            Some(_) => {
                return Err(MockError::Tls("built without the `tls` feature".to_owned()));
            }
            None => None,
        };
        let https = tls.is_some();
        let listener = TcpListener::bind(wanted).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let state = Arc::new(State::new(config));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::clone(&state), tls, stopped));
        Ok(MockServer {
            https,
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (`https://` when serving TLS), without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The configuration being served.
    pub fn config(&self) -> &MockConfig {
        &self.state.config
    }

    /// The statistics, as `GET /__stats` returns them.
    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }

    /// The batch item ids (with
    /// [`MockConfig::track_ids`](crate::MockConfig::track_ids)) answered
    /// `ok` at least once: what a client may count as acknowledged, to
    /// check a run record by record.
    pub fn acknowledged_ids(&self) -> std::collections::HashSet<String> {
        self.state.acknowledged_ids()
    }

    /// Zeroes the statistics, as `POST /__reset` does. Quota accounting is
    /// kept: a reset never hands out extra quota.
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// Stops accepting, asks open connections to close after their current
    /// request, and waits (at most 5 s) for them.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;

/// Longest TLS handshake waited for: a client that connects and says
/// nothing must not hold a task forever.
#[cfg(feature = "tls")]
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<Acceptor>,
    mut stopped: oneshot::Receiver<()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    // A timer enables hyper's header-read timeout, so a client that opens a
    // connection and sends nothing cannot hold it forever.
    builder.timer(TokioTimer::new()).keep_alive(true);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small request/response pairs: don't let Nagle delay them.
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    let service = service_fn(move |req| handle(Arc::clone(&state), req));
                    match &tls {
                        None => {
                            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                            tokio::spawn(async move {
                                // Errors here are client disconnects and injected
                                // resets: nothing to report to anyone.
                                let _ = conn.await;
                            });
                        }
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            let (acceptor, builder, watcher) = (acceptor.clone(), builder.clone(), graceful.watcher());
                            tokio::spawn(async move {
                                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                                if let Ok(Ok(stream)) = handshake {
                                    let _ = watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await;
                                }
                            });
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match *never {},
                    }
                }
                Err(_) => {
                    // Out of file descriptors and the like: wait, never exit.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}
