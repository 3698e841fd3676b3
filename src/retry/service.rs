//! [`Retry`]: the service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::Replay;
use super::config::Shared;
use super::future::{Pending, ResponseFuture};
use super::policy::Session;
use crate::BoxError;
use crate::classify::Classify;

/// Retries failed calls to the inner service; built by
/// [`RetryLayer`](super::RetryLayer).
///
/// Each call deposits into the retry budget, sends the request, and keeps
/// a copy of it (when [`Replay`] can make one and retries are configured)
/// together with a clone of the inner service for the retries. The inner
/// service is polled ready again before each retry.
///
/// Errors are [`BoxError`]s: the inner service's own errors, boxed, or a
/// [`RetryError`](super::RetryError).
pub struct Retry<S, C, R> {
    inner: S,
    shared: Arc<Shared<C, R>>,
}

crate::macros::inner_access!(Retry<S, C, R>);

impl<S, C, R> Retry<S, C, R> {
    pub(crate) fn from_shared(inner: S, shared: Arc<Shared<C, R>>) -> Self {
        Self { inner, shared }
    }
}

impl<S: Clone, C, R> Clone for Retry<S, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, C, R> fmt::Debug for Retry<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, Req> Service<Req> for Retry<S, C, R>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req, S::Response>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S, C, R, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let config = &self.shared.config;
        if let Some(budget) = &config.budget {
            budget.deposit();
        }
        let session = Session {
            attempts: 1,
            started: Instant::now(),
            previous: None,
            seed: None,
            idempotent: self.shared.replay.is_idempotent(&request),
        };
        let copy = if config.max_attempts > 1 {
            self.shared.replay.replay(&request)
        } else {
            None
        };
        let shared = Arc::clone(&self.shared);
        let Some(copy) = copy else {
            // Nothing to retry with: no service clone either.
            return ResponseFuture::new(self.inner.call(request), None, shared, session);
        };
        // The ready service sends now; a fresh clone stays behind, and the
        // ready one comes along for the retries (polled ready again first).
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let future = ready.call(request);
        let pending = Pending {
            service: ready,
            request: copy,
        };
        ResponseFuture::new(future, Some(pending), shared, session)
    }
}
