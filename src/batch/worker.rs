//! The task that gathers items into batches and sends them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::{Instant, timeout_at};
use tower::ServiceExt;
use tower_service::Service;

use super::{BatchCodec, BatchConfig, BatchError};
use crate::BoxError;
use crate::concurrency::ConcurrencyPermit;

/// One queued item, its caller's reply channel, and its place in the queue.
pub(crate) struct Message<Item, Out> {
    pub(crate) item: Item,
    pub(crate) reply: oneshot::Sender<Result<Out, BatchError>>,
    pub(crate) _queued: ConcurrencyPermit,
}

/// Gathers and sends batches until every handle is dropped and the queue is
/// drained; batch calls run as tasks of their own, at most
/// `max_in_flight` at once.
pub(crate) async fn run<S, C, Item>(
    mut service: S,
    codec: Arc<C>,
    config: BatchConfig<Item>,
    mut queue: mpsc::UnboundedReceiver<Message<Item, C::Output>>,
) where
    S: Service<C::Request, Response = C::Response> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    C: BatchCodec<Item>,
    C::Request: Send + 'static,
    C::Response: Send + 'static,
    Item: Send + 'static,
{
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let mut carried: Option<Message<Item, C::Output>> = None;
    loop {
        let first = match carried.take() {
            Some(message) => message,
            None => match queue.recv().await {
                Some(message) => message,
                None => break, // every handle dropped, queue drained
            },
        };
        // No deadline if it cannot be expressed: the batch goes when full.
        // (Tokio rounds a deadline up to the next millisecond: leave room.)
        let deadline = Instant::now()
            .checked_add(config.max_latency)
            .filter(|deadline| deadline.checked_add(Duration::from_millis(1)).is_some());
        let mut weight = config.weight(&first.item);
        let mut batch = vec![first];
        while batch.len() < config.max_items && weight < config.max_weight {
            let next = match deadline {
                Some(deadline) => timeout_at(deadline, queue.recv()).await,
                None => Ok(queue.recv().await),
            };
            match next {
                Ok(Some(message)) => {
                    let w = config.weight(&message.item);
                    if weight.saturating_add(w) > config.max_weight {
                        carried = Some(message);
                        break;
                    }
                    weight = weight.saturating_add(w);
                    batch.push(message);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // Callers that gave up are left out before sending.
        batch.retain(|message| !message.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (items, replies): (Vec<Item>, Vec<_>) =
            batch.into_iter().map(|m| (m.item, m.reply)).unzip();
        let count = items.len();
        let request = match codec.encode(items) {
            Ok(request) => request,
            Err(error) => {
                answer_all(replies, BatchError::batch(error));
                continue;
            }
        };
        let call = match service.ready().await {
            Ok(ready) => ready.call(request),
            Err(error) => {
                // The service is broken for good: fail this batch and
                // everything after it, never leave a caller waiting.
                let error = BatchError::batch(error);
                answer_all(replies, error.clone());
                queue.close();
                while let Ok(message) = queue.try_recv() {
                    let _ = message.reply.send(Err(error.clone()));
                }
                if let Some(message) = carried.take() {
                    let _ = message.reply.send(Err(error));
                }
                break;
            }
        };
        let codec = codec.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let response: Result<C::Response, BoxError> = call.await.map_err(Into::into);
            let results = match response {
                Ok(response) => codec.decode(response, count).await,
                Err(error) => Err(error),
            };
            match results {
                Ok(results) => {
                    let mut results = results.into_iter();
                    for reply in replies {
                        let _ = reply.send(results.next().unwrap_or(Err(BatchError::Missing)));
                    }
                }
                Err(error) => answer_all(replies, BatchError::batch(error)),
            }
        });
    }
}

fn answer_all<Out>(replies: Vec<oneshot::Sender<Result<Out, BatchError>>>, error: BatchError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
