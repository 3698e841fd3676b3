use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::Stats;

/// Counts requests and their final outcome; see [`RecordRequests`].
#[derive(Debug, Clone)]
pub struct RecordRequestsLayer {
    stats: Stats,
}

impl RecordRequestsLayer {
    /// Count into `stats`.
    pub fn new(stats: Stats) -> Self {
        Self { stats }
    }
}

impl<S> Layer<S> for RecordRequestsLayer {
    type Service = RecordRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordRequests {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// Counts each request once, and whether it ended well (a 1xx–3xx
/// response) or not (an error, a 4xx or 5xx response). Place it at the top
/// of a stack, above retries.
#[derive(Debug, Clone)]
pub struct RecordRequests<S> {
    inner: S,
    stats: Stats,
}

/// Counts every attempt and how it was answered; see [`RecordAttempts`].
#[derive(Debug, Clone)]
pub struct RecordAttemptsLayer {
    stats: Stats,
}

impl RecordAttemptsLayer {
    /// Count into `stats`.
    pub fn new(stats: Stats) -> Self {
        Self { stats }
    }
}

impl<S> Layer<S> for RecordAttemptsLayer {
    type Service = RecordAttempts<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordAttempts {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// Counts each attempt that reaches the inner service, and 429s, 5xx and
/// transport errors among their answers. Place it at the bottom of a
/// stack, below retries and the limiter, so it sees what the server sees.
#[derive(Debug, Clone)]
pub struct RecordAttempts<S> {
    inner: S,
    stats: Stats,
}

macro_rules! inner_access {
    ($name:ident) => {
        impl<S> $name<S> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The inner service, consuming the wrapper.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
inner_access!(RecordRequests);
inner_access!(RecordAttempts);

impl<S, Request, B> Service<Request> for RecordRequests<S>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.stats.request();
        ResponseFuture {
            inner: self.inner.call(request),
            stats: self.stats.clone(),
            level: Level::Request,
        }
    }
}

impl<S, Request, B> Service<Request> for RecordAttempts<S>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.stats.attempt();
        ResponseFuture {
            inner: self.inner.call(request),
            stats: self.stats.clone(),
            level: Level::Attempt,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Level {
    Request,
    Attempt,
}

pin_project! {
    /// The response future of [`RecordRequests`] and [`RecordAttempts`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        stats: Stats,
        level: Level,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let status = result.as_ref().ok().map(http::Response::status);
        match this.level {
            Level::Request => {
                let succeeded =
                    status.is_some_and(|s| !s.is_client_error() && !s.is_server_error());
                this.stats.request_ended(succeeded);
            }
            Level::Attempt => this.stats.answer(status),
        }
        Poll::Ready(result)
    }
}
