//! [`GrpcBody`]: a gRPC request body, buffered (replayable) or streaming.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::retry::ReplayBody;

/// A gRPC request body inside the paced stack: **buffered** (a unary call
/// named for retries, read whole up to the size cap: it can be sent again)
/// or **streaming** (anything else: sent once).
#[derive(Debug)]
pub struct GrpcBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Buffered {
        data: Bytes,
        trailers: Option<HeaderMap>,
        /// 0: data next, 1: trailers next, 2: done. The data itself stays,
        /// so a copy can be made at any point.
        step: u8,
    },
    Streaming {
        /// What was read before the body turned out too large to buffer.
        head: Option<Bytes>,
        rest: ::tonic::body::Body,
    },
}

impl GrpcBody {
    /// A buffered body: replayable.
    pub fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Buffered {
                data,
                trailers,
                step: 0,
            },
        }
    }

    /// A streaming body: sent once.
    pub fn streaming(body: ::tonic::body::Body) -> Self {
        Self::partial(None, body)
    }

    /// The part already read, then the rest of the stream: sent once.
    pub(crate) fn partial(head: Option<Bytes>, rest: ::tonic::body::Body) -> Self {
        Self {
            kind: Kind::Streaming { head, rest },
        }
    }

    /// True for a buffered body (one the retry layer can send again).
    pub fn is_buffered(&self) -> bool {
        matches!(self.kind, Kind::Buffered { .. })
    }

    /// As tonic's own body type, which a `Channel` takes.
    pub fn into_tonic(self) -> ::tonic::body::Body {
        ::tonic::body::Body::new(self)
    }
}

impl ReplayBody for GrpcBody {
    /// A fresh copy of a buffered body (cheap: `Bytes` are shared);
    /// `None` for a streaming one.
    fn replay_body(&self) -> Option<Self> {
        match &self.kind {
            Kind::Buffered { data, trailers, .. } => {
                Some(Self::buffered(data.clone(), trailers.clone()))
            }
            Kind::Streaming { .. } => None,
        }
    }
}

impl http_body::Body for GrpcBody {
    type Data = Bytes;
    type Error = ::tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Buffered {
                data,
                trailers,
                step,
            } => {
                if *step == 0 {
                    *step = 1;
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(data.clone()))));
                    }
                }
                if *step == 1 {
                    *step = 2;
                    if let Some(trailers) = trailers {
                        return Poll::Ready(Some(Ok(Frame::trailers(trailers.clone()))));
                    }
                }
                Poll::Ready(None)
            }
            Kind::Streaming { head, rest } => match head.take() {
                Some(head) => Poll::Ready(Some(Ok(Frame::data(head)))),
                None => Pin::new(rest).poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered {
                data,
                trailers,
                step,
            } => match step {
                0 => data.is_empty() && trailers.is_none(),
                1 => trailers.is_none(),
                _ => true,
            },
            Kind::Streaming { head, rest } => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered { data, step, .. } => {
                SizeHint::with_exact(if *step == 0 { data.len() as u64 } else { 0 })
            }
            Kind::Streaming { head, rest } => {
                let head = head.as_ref().map_or(0, |h| h.len() as u64);
                let rest = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(head));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(head));
                }
                hint
            }
        }
    }
}
