use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::mpsc;
use tower_layer::Layer;
use tower_service::Service;

use super::{Batch, BatchCodec, BatchConfig, worker};
use crate::BoxError;
use crate::concurrency::{ConcurrencyLimiter, PermitSlot};

/// Puts a [`Batch`] in front of a service; see the [module docs](super).
///
/// Each `layer` call spawns a worker task (on the current tokio runtime)
/// that owns the inner service; clone the resulting service to share it.
pub struct BatchLayer<C, Item> {
    codec: Arc<C>,
    config: BatchConfig<Item>,
    _item: PhantomData<fn(Item)>,
}

impl<C, Item> BatchLayer<C, Item> {
    /// Batch with `codec`, sending per `config`.
    pub fn new(codec: C, config: BatchConfig<Item>) -> Self {
        Self {
            codec: Arc::new(codec),
            config,
            _item: PhantomData,
        }
    }
}

impl<C, Item> Clone for BatchLayer<C, Item> {
    fn clone(&self) -> Self {
        Self {
            codec: self.codec.clone(),
            config: self.config.clone(),
            _item: PhantomData,
        }
    }
}

impl<C, Item> std::fmt::Debug for BatchLayer<C, Item> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, Item> Layer<S> for BatchLayer<C, Item>
where
    S: Service<C::Request, Response = C::Response> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    C: BatchCodec<Item>,
    C::Request: Send + 'static,
    C::Response: Send + 'static,
    Item: Send + 'static,
{
    type Service = Batch<Item, C::Output>;

    fn layer(&self, service: S) -> Self::Service {
        let (queue, intake) = mpsc::unbounded_channel();
        // The queue's bound: a permit per queued item (an unbounded channel
        // with a semaphore, so a full queue is felt in poll_ready).
        let room = ConcurrencyLimiter::new(self.config.queue)
            .unwrap_or_else(|_| ConcurrencyLimiter::unlimited());
        tokio::spawn(worker::run(
            service,
            self.codec.clone(),
            self.config.clone(),
            intake,
        ));
        Batch::new(queue, PermitSlot::new(room))
    }
}
