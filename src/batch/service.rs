use std::task::{Context, Poll, ready};

use tokio::sync::{mpsc, oneshot};
use tower_service::Service;

use super::BatchError;
use super::future::ResponseFuture;
use super::worker::Message;
use crate::concurrency::PermitSlot;

/// Callers send single items; a worker task gathers them into batches and
/// calls the inner service once per batch; each caller gets its own item's
/// result. See the [module docs](super).
///
/// `poll_ready` waits for room in the bounded queue (backpressure); `call`
/// queues the item; the response future waits for the item's result.
/// Clones share the worker and its queue.
pub struct Batch<Item, Out> {
    queue: mpsc::UnboundedSender<Message<Item, Out>>,
    room: PermitSlot,
}

impl<Item, Out> Batch<Item, Out> {
    pub(crate) fn new(queue: mpsc::UnboundedSender<Message<Item, Out>>, room: PermitSlot) -> Self {
        Self { queue, room }
    }
}

impl<Item, Out> Clone for Batch<Item, Out> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            room: self.room.clone(),
        }
    }
}

impl<Item, Out> std::fmt::Debug for Batch<Item, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl<Item, Out> Service<Item> for Batch<Item, Out> {
    type Response = Out;
    type Error = BatchError;
    type Future = ResponseFuture<Out>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.queue.is_closed() {
            return Poll::Ready(Err(BatchError::Closed));
        }
        ready!(self.room.poll_acquire(cx));
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, item: Item) -> Self::Future {
        let (reply, result) = oneshot::channel();
        // Without a ready poll_ready, a free place is taken if there is
        // one; on a full queue the item is refused rather than queued past
        // the bound (or a panic, as tower's services do).
        let Some(permit) = self.room.take_for_call() else {
            return ResponseFuture::failed(BatchError::QueueFull);
        };
        match self.queue.send(Message {
            item,
            reply,
            _queued: permit,
        }) {
            Ok(()) => ResponseFuture::new(result),
            Err(_) => ResponseFuture::failed(BatchError::Closed),
        }
    }
}
