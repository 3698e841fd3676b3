//! Routing one request: admin endpoints, faults, quotas, echo and batch.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};

use super::body::MockBody;
use super::faults::{Dice, Fault};
use super::fingerprint::key_fingerprint;
use super::response;
use super::state::{Admission, State};
use super::window::QuotaStatus;

/// Tenant of requests that carry no key.
pub const ANONYMOUS_KEY: &str = "anonymous";
/// Longest key kept; longer ones are cut (keys come from the request).
const MAX_KEY_LEN: usize = 128;
/// Largest `POST /batch` body read.
const MAX_BATCH_BODY: usize = 4 * 1024 * 1024;

/// The API key of a request: `Authorization: Bearer …`, else `X-Api-Key`,
/// else the anonymous tenant.
pub fn api_key(headers: &HeaderMap) -> &str {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    // A blank bearer token does not hide a real `X-Api-Key`.
    let present = |k: &&str| !k.is_empty();
    let key = bearer
        .map(str::trim)
        .filter(present)
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(present)
        })
        .unwrap_or(ANONYMOUS_KEY);
    // Cut on a char boundary (header text is ASCII here, but be safe).
    let mut end = key.len().min(MAX_KEY_LEN);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    &key[..end]
}

/// Serves one request; never fails (errors become responses).
pub(crate) async fn handle<B>(
    state: Arc<State>,
    req: Request<B>,
) -> Result<Response<MockBody>, Infallible>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::BoxError>,
{
    let config = &state.config;
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/__stats") => {
            return Ok(response::json(config, StatusCode::OK, &state.stats(), &[]));
        }
        (&Method::POST, "/__reset") => {
            state.reset_stats();
            return Ok(response::json(
                config,
                StatusCode::OK,
                &json!({"reset": true}),
                &[],
            ));
        }
        (_, "/__stats" | "/__reset") => {
            let body = json!({"error": "method_not_allowed"});
            return Ok(response::json(
                config,
                StatusCode::METHOD_NOT_ALLOWED,
                &body,
                &[],
            ));
        }
        _ => {}
    }

    let key = api_key(req.headers()).to_owned();
    if config
        .require_key
        .as_ref()
        .is_some_and(|required| *required != key)
    {
        state.count_unauthorized();
        let body = json!({"error": "unauthorized", "message": "invalid API key"});
        return Ok(response::json(config, StatusCode::UNAUTHORIZED, &body, &[]));
    }
    let id = state.next_id();
    let mut dice = Dice::new(config.seed, id);

    // Faults come before the quotas: a faulted request consumes no quota.
    let fault = dice.fault(config);
    if fault != Fault::None {
        let quotas = state.record_fault(&key);
        let res = match fault {
            Fault::Unavailable => {
                response::fault_status(config, StatusCode::SERVICE_UNAVAILABLE, &quotas)
            }
            Fault::Internal => {
                response::fault_status(config, StatusCode::INTERNAL_SERVER_ERROR, &quotas)
            }
            _ => response::fault_reset(config, &quotas),
        };
        return Ok(with_id(res, id));
    }

    let (_in_flight, quotas) = match state.admit(&key) {
        Admission::Accepted(guard, quotas) => (guard, quotas),
        Admission::Refused(refusal, quotas) => {
            return Ok(with_id(
                response::rejection(config, &refusal, id, &quotas),
                id,
            ));
        }
    };

    // The request stays in flight (counted against the concurrency cap)
    // during the latency, as a slow real API would hold the connection.
    let delay = dice.delay(config);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let res = if req.method() == Method::POST && req.uri().path() == "/batch" {
        batch(&state, &mut dice, &key, id, req, &quotas).await
    } else {
        let body = json!({"id": id, "key": key_fingerprint(&key), "method": req.method().as_str(), "path": req.uri().path()});
        response::json(config, StatusCode::OK, &body, &quotas)
    };
    Ok(with_id(res, id))
}

fn with_id(mut res: Response<MockBody>, id: u64) -> Response<MockBody> {
    res.headers_mut()
        .insert("x-request-id", HeaderValue::from(id));
    res
}

/// `POST /batch {"inputs":[…]}`: per-item outcomes, 207 when some failed.
async fn batch<B>(
    state: &State,
    dice: &mut Dice,
    key: &str,
    id: u64,
    req: Request<B>,
    quotas: &[QuotaStatus],
) -> Response<MockBody>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<crate::BoxError>,
{
    let config = &state.config;
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let bytes = match Limited::new(body, MAX_BATCH_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return response::bad_request(config, &format!("cannot read body: {e}"), quotas),
    };
    let parsed: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return response::bad_request(config, &format!("malformed JSON: {e}"), quotas),
    };
    let Some(inputs) = parsed.get("inputs").and_then(Value::as_array) else {
        return response::bad_request(config, r#"expected {"inputs":[…]}"#, quotas);
    };
    if inputs.len() > config.batch_max {
        let message = format!(
            "batch of {} inputs exceeds the maximum of {}",
            inputs.len(),
            config.batch_max
        );
        return response::bad_request(config, &message, quotas);
    }
    let idempotency_key = (config.idempotency)
        .then(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()))
        .flatten()
        .map(|k| k.chars().take(MAX_KEY_LEN).collect::<String>());
    if let Some(idem) = &idempotency_key
        && let Some(stored) = state.stored_answer(key, idem)
    {
        return response::json(config, stored.status, &stored.body, quotas);
    }
    state.add_batch_items(inputs.len() as u64);
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        if dice.item_fails(config) {
            errors.push(json!({"index": index, "status": "error", "message": "item failed (injected)", "input": input}));
        } else {
            results.push(json!({"index": index, "id": format!("{id}-{index}"), "status": "ok", "input": input}));
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    if config.track_ids {
        // Counted when processed, failed items included: the question is
        // whether a client sent anything twice.
        state.count_ids(inputs.iter().filter_map(item_id));
        state.count_acknowledged(
            results
                .iter()
                .filter_map(|result| result.get("input").and_then(item_id)),
        );
    }
    let body = json!({"key": key_fingerprint(key), "results": results, "errors": errors});
    if let Some(idem) = &idempotency_key {
        let stored = crate::state::Stored {
            status,
            body: body.clone(),
        };
        state.store_answer(key, idem, stored);
    }
    response::json(config, status, &body, quotas)
}

/// A batch item's `"id"` field, a string or a number, as text.
fn item_id(input: &Value) -> Option<String> {
    match input.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sources() {
        let mut h = HeaderMap::new();
        assert_eq!(api_key(&h), ANONYMOUS_KEY);
        h.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(api_key(&h), "k2");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok"));
        assert_eq!(api_key(&h), "tok");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(api_key(&h), "k2");
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  "));
        assert_eq!(api_key(&h), "k2", "a blank bearer falls back");
        let long = "x".repeat(500);
        h.insert("x-api-key", HeaderValue::from_str(&long).unwrap());
        assert_eq!(api_key(&h).len(), MAX_KEY_LEN);
    }
}
