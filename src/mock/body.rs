//! The response body type: a whole buffer, or a partial one that then fails
//! so hyper aborts the connection mid-response (the "reset" fault).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The error that aborts a "reset" response.
#[derive(Debug, thiserror::Error)]
#[error("mock fault: connection reset mid-response")]
pub struct ResetFault;

/// A response body of the mock server.
#[derive(Debug)]
pub enum MockBody {
    /// The whole body (taken on first poll).
    Full(Option<Bytes>),
    /// Sends these bytes, then fails, which makes hyper drop the connection.
    Reset(Option<Bytes>),
}

impl MockBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        MockBody::Full(Some(bytes.into()))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = ResetFault;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResetFault>>> {
        match self.get_mut() {
            MockBody::Full(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Reset(data) => match data.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Ready(Some(Err(ResetFault))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Reset(_) => SizeHint::default(),
        }
    }
}
