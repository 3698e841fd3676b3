use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::ResponseFuture;
use super::registry::Registry;
use super::{ByAuthority, DestinationError, DestinationKey};
use crate::pacer::PacerService;
use crate::{BoxError, Pacer};

/// Routes each request to its destination's own [`Pacer`] stack; see the
/// [module docs](super).
///
/// `poll_ready` is always ready: the destination is only known from the
/// request, and one destination's backpressure must not hold back the
/// others. Each call takes a clone of its destination's stack and waits
/// (for the concurrency cap, its slot, retries) in the response future.
/// Clones share the table of destinations.
pub struct Destinations<S, K = ByAuthority> {
    registry: Arc<Registry<S>>,
    key: K,
}

impl<S, K: Clone> Clone for Destinations<S, K> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            key: self.key.clone(),
        }
    }
}

impl<S, K> Destinations<S, K> {
    pub(crate) fn new(registry: Registry<S>, key: K) -> Self {
        Self {
            registry: Arc::new(registry),
            key,
        }
    }
}

impl<S: Clone, K> Destinations<S, K> {
    /// The pacer of a live destination (its stats, its limiter), if the
    /// destination has been used and not forgotten.
    pub fn pacer(&self, key: &str) -> Option<Pacer> {
        self.registry.pacer(key)
    }

    /// The number of live destinations.
    pub fn len(&self) -> usize {
        self.registry.len()
    }

    /// True if no destination is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every destination whose state is as good as new (unused for
    /// longer than its longest quota takes to refill, nothing in flight,
    /// not paused); returns how many. Full tables do this by themselves
    /// before refusing a new destination.
    pub fn sweep(&self) -> usize {
        self.registry.sweep()
    }
}

impl<S, K, Request, Response> Service<Request> for Destinations<S, K>
where
    S: Clone,
    K: DestinationKey<Request>,
    PacerService<S>: Service<Request, Response = Response, Error = BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, Request>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(key) = self.key.key(&request) else {
            return ResponseFuture::failed(DestinationError::NoKey);
        };
        match self.registry.route(&key, |key| self.key.name(key)) {
            Ok((stack, hold)) => ResponseFuture::routed(stack, hold, request),
            Err(error) => ResponseFuture::failed(error),
        }
    }
}

impl<S, K: fmt::Debug> fmt::Debug for Destinations<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destinations")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
