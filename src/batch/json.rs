//! The JSON batch codec: `{"inputs":[…]}` → `{"results":[…],"errors":[…]}`.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::{BatchCodec, BatchError, BatchStatusError};
use crate::BoxError;

/// HubSpot-style JSON batch endpoints: POSTs `{"inputs":[item, …]}` to
/// `uri` and reads `{"results":[…],"errors":[…]}` back.
///
/// Results and errors are matched to items by their `"index"` field when
/// they have one; results without one are taken in order. An item
/// neither answers gets [`BatchError::Missing`]. A non-2xx response fails
/// the whole batch (with its status); a 207 Multi-Status is read item by
/// item.
///
/// `B` is the response body type of the inner client
/// (`hyper::body::Incoming` for a hyper-util client), usually inferred.
pub struct JsonBatch<B> {
    uri: http::Uri,
    headers: http::HeaderMap,
    idempotent: bool,
    _body: std::marker::PhantomData<fn() -> B>,
}

impl<B> Clone for JsonBatch<B> {
    fn clone(&self) -> Self {
        Self {
            uri: self.uri.clone(),
            headers: self.headers.clone(),
            idempotent: self.idempotent,
            _body: std::marker::PhantomData,
        }
    }
}

impl<B> std::fmt::Debug for JsonBatch<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonBatch")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl<B> JsonBatch<B> {
    /// Batches POSTed to `uri`.
    pub fn new(uri: http::Uri) -> Self {
        Self {
            uri,
            headers: http::HeaderMap::new(),
            idempotent: false,
            _body: std::marker::PhantomData,
        }
    }

    /// Give each batch request its own `Idempotency-Key`, for endpoints
    /// where sending a batch twice does no harm (upserts): the retry layer
    /// then retries a batch POST after a 429 or a 503, which it otherwise
    /// must not (RFC 9110: POST is not idempotent).
    pub fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// Add a header to every batch request (an API key, say).
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

type Decoded = Result<Vec<Result<Value, BatchError>>, BoxError>;

impl<B> BatchCodec<Value> for JsonBatch<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Request = http::Request<Full<Bytes>>;
    type Response = http::Response<B>;
    type Output = Value;
    type Decode = Pin<Box<dyn Future<Output = Decoded> + Send>>;

    fn encode(&self, items: Vec<Value>) -> Result<Self::Request, BoxError> {
        let body = serde_json::to_vec(&json!({ "inputs": items }))?;
        let mut request = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name, value.clone());
        }
        if self.idempotent {
            static BATCHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = BATCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let key = format!("batch-{started:x}-{}-{n}", std::process::id());
            request.headers_mut().insert(
                crate::headers::names::IDEMPOTENCY_KEY,
                http::HeaderValue::try_from(key)?,
            );
        }
        Ok(request)
    }

    fn decode(&self, response: Self::Response, items: usize) -> Self::Decode {
        Box::pin(async move {
            let status = response.status();
            if !status.is_success() {
                let attempts = response
                    .extensions()
                    .get::<crate::feedback::Attempts>()
                    .map_or(1, |attempts| attempts.0);
                return Err(BatchStatusError::new(status, attempts).into());
            }
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(Into::into)?
                .to_bytes();
            let body: Value = serde_json::from_slice(&bytes)?;
            Ok(split(&body, items))
        })
    }
}

/// One result per item from a `{"results","errors"}` body.
fn split(body: &Value, items: usize) -> Vec<Result<Value, BatchError>> {
    let mut out: Vec<Result<Value, BatchError>> =
        (0..items).map(|_| Err(BatchError::Missing)).collect();
    let index = |entry: &Value| {
        entry
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
    };
    let mut next_unindexed = 0;
    for entry in body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let at = index(entry).unwrap_or_else(|| {
            next_unindexed += 1;
            next_unindexed - 1
        });
        if let Some(slot) = out.get_mut(at) {
            *slot = Ok(entry.clone());
        }
    }
    for entry in body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(slot) = index(entry).and_then(|at| out.get_mut(at)) {
            let message = entry
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("refused");
            *slot = Err(BatchError::Item(message.to_owned()));
        }
    }
    out
}
