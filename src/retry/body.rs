//! [`ReplayBody`]: request bodies that can be sent more than once.

use std::borrow::Cow;

use bytes::Bytes;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{Empty, Full};

/// A request body the retry layer can copy for another attempt.
///
/// Buffered bodies (`Full<Bytes>`, `Bytes`, `String`, `Vec<u8>`, `()`,
/// `Empty`…) are copied, cheaply for `Bytes`. Streaming bodies (`BoxBody`,
/// `UnsyncBoxBody`, or your own type returning `None`) cannot be read
/// twice: such a request is sent **once, with no retry**, whatever the
/// outcome, and the caller gets that outcome. To retry an upload, buffer
/// it into `Full<Bytes>` first.
///
/// Implement it for your own body type; return `None` when a copy is not
/// possible.
pub trait ReplayBody: Sized {
    /// A copy of the body, or `None` when it can only be sent once.
    fn replay_body(&self) -> Option<Self>;
}

macro_rules! replay_by_clone {
    ($($body:ty),* $(,)?) => {$(
        impl ReplayBody for $body {
            fn replay_body(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replay_by_clone!(
    (),
    Bytes,
    String,
    Vec<u8>,
    &'static str,
    &'static [u8],
    Cow<'static, str>,
    Cow<'static, [u8]>,
);

impl<D: Clone> ReplayBody for Full<D> {
    fn replay_body(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for Empty<D> {
    fn replay_body(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl<D, E> ReplayBody for BoxBody<D, E> {
    /// Always `None`: a boxed body is a stream.
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for UnsyncBoxBody<D, E> {
    /// Always `None`: a boxed body is a stream.
    fn replay_body(&self) -> Option<Self> {
        None
    }
}

impl<L: ReplayBody, R: ReplayBody> ReplayBody for http_body_util::Either<L, R> {
    /// Replays whichever side it holds: one client type can then carry
    /// buffered bodies (retried) and streams (sent once).
    fn replay_body(&self) -> Option<Self> {
        match self {
            http_body_util::Either::Left(body) => {
                body.replay_body().map(http_body_util::Either::Left)
            }
            http_body_util::Either::Right(body) => {
                body.replay_body().map(http_body_util::Either::Right)
            }
        }
    }
}
