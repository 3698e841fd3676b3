//! The response body type: a whole buffer, or a partial one that then fails
//! so hyper aborts the connection mid-response (the "reset" fault).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Pause between the partial body and the abort. hyper only writes what it
/// has buffered when the body stops producing; erroring at once would drop
/// the connection before the status line ever left.
const RESET_PAUSE: Duration = Duration::from_millis(5);

/// The error that aborts a "reset" response.
#[derive(Debug, thiserror::Error)]
#[error("mock fault: connection reset mid-response")]
pub struct ResetFault;

/// A response body of the mock server.
pub enum MockBody {
    /// The whole body (taken on first poll).
    Full(Option<Bytes>),
    /// Sends these bytes, pauses so they are flushed, then fails, which
    /// makes hyper drop the connection.
    Reset(Option<Bytes>, Option<Pin<Box<Sleep>>>),
}

impl MockBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        MockBody::Full(Some(bytes.into()))
    }
}

impl std::fmt::Debug for MockBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MockBody::Full(b) => f.debug_tuple("Full").field(b).finish(),
            MockBody::Reset(b, _) => f.debug_tuple("Reset").field(b).finish(),
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = ResetFault;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResetFault>>> {
        match self.get_mut() {
            MockBody::Full(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Reset(data, pause) => {
                if let Some(b) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                let pause = pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_PAUSE)));
                match pause.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ResetFault))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Reset(..) => SizeHint::default(),
        }
    }
}
