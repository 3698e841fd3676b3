//! [`BufferUnary`]: reads the request body of the calls named for retries,
//! so the retry layer can send them again.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, Request};
use http_body::Body as _;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::GrpcBody;
use crate::BoxError;

/// The top of the gRPC stack: turns tonic's streaming request body into a
/// [`GrpcBody`], buffered for the methods named for retries (up to the size
/// cap), streaming for every other call.
///
/// A unary call's body is one encoded message, already in memory, so
/// reading it costs a copy at most (none when it comes as one chunk) and no
/// waiting. A body over the cap is passed on as it is, with the part
/// already read in front: that call goes out once.
#[derive(Clone)]
pub struct BufferUnary<S> {
    inner: S,
    methods: Arc<[String]>,
    max_buffer: usize,
}

impl<S> BufferUnary<S> {
    pub(crate) fn new(inner: S, methods: Arc<[String]>, max_buffer: usize) -> Self {
        Self {
            inner,
            methods,
            max_buffer,
        }
    }

    fn buffers(&self, path: &str) -> bool {
        self.methods.iter().any(|method| method == path)
    }
}

crate::macros::inner_access!(BufferUnary<S>);

impl<S: fmt::Debug> fmt::Debug for BufferUnary<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferUnary")
            .field("inner", &self.inner)
            .field("methods", &self.methods)
            .field("max_buffer", &self.max_buffer)
            .finish()
    }
}

impl<S> Service<Request<::tonic::body::Body>> for BufferUnary<S>
where
    S: Service<Request<GrpcBody>> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<::tonic::body::Body>) -> Self::Future {
        if !self.buffers(request.uri().path()) {
            let future = self.inner.call(request.map(GrpcBody::streaming));
            return ResponseFuture {
                state: State::Called { future },
            };
        }
        // The ready service waits with the body; a fresh clone stays.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        ResponseFuture {
            state: State::Reading {
                read: Some(Reading {
                    service,
                    parts,
                    body,
                    chunks: Vec::new(),
                    len: 0,
                    trailers: None,
                    max: self.max_buffer,
                }),
            },
        }
    }
}

/// A body being read, with what the call needs once it is.
struct Reading<S> {
    service: S,
    parts: Parts,
    body: ::tonic::body::Body,
    chunks: Vec<Bytes>,
    len: usize,
    trailers: Option<HeaderMap>,
    max: usize,
}

impl<S> Reading<S> {
    /// The chunks read so far, as one `Bytes` (no copy for one chunk).
    fn take_data(&mut self) -> Option<Bytes> {
        match self.chunks.len() {
            0 => None,
            1 => self.chunks.pop(),
            _ => {
                let mut data = BytesMut::with_capacity(self.len);
                for chunk in self.chunks.drain(..) {
                    data.extend_from_slice(&chunk);
                }
                Some(data.freeze())
            }
        }
    }
}

pin_project! {
    /// The response future of [`BufferUnary`].
    pub struct ResponseFuture<S>
    where
        S: Service<Request<GrpcBody>>,
    {
        #[pin]
        state: State<S, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        Reading { read: Option<Reading<S>> },
        Called { #[pin] future: F },
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: Service<Request<GrpcBody>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let mut read = match this.state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Reading { read } => match read.take() {
                    Some(read) => read,
                    None => {
                        return Poll::Ready(Err(
                            "gRPC buffer future polled after completion".into()
                        ));
                    }
                },
            };
            let body = match poll_read(&mut read, cx) {
                Poll::Pending => {
                    this.state.set(State::Reading { read: Some(read) });
                    return Poll::Pending;
                }
                Poll::Ready(Err(status)) => return Poll::Ready(Err(status.into())),
                Poll::Ready(Ok(body)) => body,
            };
            let Reading {
                mut service, parts, ..
            } = read;
            let future = service.call(Request::from_parts(parts, body));
            this.state.set(State::Called { future });
        }
    }
}

/// Reads until the body ends (buffered) or outgrows the cap (streaming).
fn poll_read<S>(
    read: &mut Reading<S>,
    cx: &mut Context<'_>,
) -> Poll<Result<GrpcBody, ::tonic::Status>> {
    loop {
        let frame = match ready!(Pin::new(&mut read.body).poll_frame(cx)) {
            None => {
                let data = read.take_data().unwrap_or_default();
                return Poll::Ready(Ok(GrpcBody::buffered(data, read.trailers.take())));
            }
            Some(Err(status)) => return Poll::Ready(Err(status)),
            Some(Ok(frame)) => frame,
        };
        let chunk = match frame.into_data() {
            Ok(chunk) => chunk,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    read.trailers = Some(trailers);
                }
                continue;
            }
        };
        read.len = read.len.saturating_add(chunk.len());
        read.chunks.push(chunk);
        if read.len > read.max {
            // Too large to keep a copy of: send what was read, then the rest.
            let head = read.take_data();
            let rest = std::mem::take(&mut read.body);
            return Poll::Ready(Ok(GrpcBody::partial(head, rest)));
        }
    }
}

impl<S> fmt::Debug for ResponseFuture<S>
where
    S: Service<Request<GrpcBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
