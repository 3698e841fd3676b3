//! What a dead letter keeps of a request, taken before it is sent.

use bytes::{Buf, Bytes};
use futures_util::FutureExt;
use http_body::Body;
use http_body_util::BodyExt;

use super::{DeadLetter, Redaction};
use crate::retry::ReplayBody;

/// A request's method, URI, headers (redacted) and body bytes.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    method: String,
    uri: String,
    headers: Vec<(String, Bytes)>,
    body: Bytes,
}

impl Snapshot {
    /// Copies what a letter needs. A body that cannot be replayed (a
    /// stream) or read at once is kept empty, with a
    /// [`BODY_NOT_CAPTURED`](super::BODY_NOT_CAPTURED) header.
    pub(crate) fn of<B>(request: &http::Request<B>, redaction: &Redaction) -> Self
    where
        B: ReplayBody + Body,
    {
        let body = body_bytes(request.body());
        let mut headers: Vec<(String, Bytes)> = request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = if redaction.hides(name) || redaction.hides_value(value.as_bytes()) {
                    Bytes::from_static(super::REDACTED.as_bytes())
                } else {
                    Bytes::copy_from_slice(value.as_bytes())
                };
                (name.as_str().to_owned(), value)
            })
            .collect();
        if body.is_none() {
            headers.push((
                super::BODY_NOT_CAPTURED.to_owned(),
                Bytes::from_static(b"true"),
            ));
        }
        Self {
            method: request.method().as_str().to_owned(),
            uri: redaction.uri(request.uri()),
            headers,
            body: body.unwrap_or_default(),
        }
    }

    pub(crate) fn into_letter(self, destination: &str) -> DeadLetter {
        let mut letter = DeadLetter::new(destination, self.method, self.uri);
        letter.headers = self.headers;
        letter.body = self.body;
        letter
    }
}

/// The bytes of a replayable body that is ready at once (`Full`, `String`,
/// `Bytes`…); `None` for a stream.
fn body_bytes<B: ReplayBody + Body>(body: &B) -> Option<Bytes> {
    let copy = body.replay_body()?;
    let collected = copy.collect().now_or_never()?.ok()?;
    let mut buf = collected.aggregate();
    Some(buf.copy_to_bytes(buf.remaining()))
}
