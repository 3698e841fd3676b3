//! When a batch is sent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::ConfigError;

type Weigh<Item> = Arc<dyn Fn(&Item) -> u64 + Send + Sync>;

/// When to send a batch: at `max_items`, at `max_weight`, or when its
/// oldest item has waited `max_latency` — whichever comes first.
pub struct BatchConfig<Item> {
    pub(crate) max_items: usize,
    pub(crate) max_weight: u64,
    pub(crate) max_latency: Duration,
    pub(crate) queue: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) weigh: Option<Weigh<Item>>,
}

impl<Item> Clone for BatchConfig<Item> {
    fn clone(&self) -> Self {
        Self {
            max_items: self.max_items,
            max_weight: self.max_weight,
            max_latency: self.max_latency,
            queue: self.queue,
            max_in_flight: self.max_in_flight,
            weigh: self.weigh.clone(),
        }
    }
}

impl<Item> fmt::Debug for BatchConfig<Item> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchConfig")
            .field("max_items", &self.max_items)
            .field("max_weight", &self.max_weight)
            .field("max_latency", &self.max_latency)
            .field("queue", &self.queue)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl<Item> BatchConfig<Item> {
    /// Batches of up to `max_items`, sent after `max_latency` at the
    /// latest; a queue of `max_items × 4` items; one batch in flight.
    ///
    /// A `max_latency` too long for a deadline (`Duration::MAX`) sends a
    /// batch only when it is full (or when every handle is dropped).
    ///
    /// # Errors
    ///
    /// `batch.max_items` must be ≥ 1, `batch.max_latency` longer than zero.
    pub fn new(max_items: usize, max_latency: Duration) -> Result<Self, ConfigError> {
        if max_items == 0 {
            return Err(ConfigError::new("batch.max_items", "must be ≥ 1"));
        }
        if max_latency.is_zero() {
            return Err(ConfigError::new(
                "batch.max_latency",
                "must be longer than zero",
            ));
        }
        Ok(Self {
            max_items,
            max_weight: u64::MAX,
            max_latency,
            queue: max_items.saturating_mul(4),
            max_in_flight: 1,
            weigh: None,
        })
    }

    /// Also send a batch once its items weigh `max_weight` (an item heavier
    /// than that goes alone).
    ///
    /// # Errors
    ///
    /// `batch.max_weight` must be ≥ 1.
    pub fn max_weight(
        mut self,
        max_weight: u64,
        weigh: impl Fn(&Item) -> u64 + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        if max_weight == 0 {
            return Err(ConfigError::new("batch.max_weight", "must be ≥ 1"));
        }
        self.max_weight = max_weight;
        self.weigh = Some(Arc::new(weigh));
        Ok(self)
    }

    /// At most `queue` items waiting (callers feel backpressure in
    /// `poll_ready` beyond that).
    ///
    /// # Errors
    ///
    /// `batch.queue` must be ≥ 1.
    pub fn queue(mut self, queue: usize) -> Result<Self, ConfigError> {
        if queue == 0 {
            return Err(ConfigError::new("batch.queue", "must be ≥ 1"));
        }
        self.queue = queue;
        Ok(self)
    }

    /// At most `batches` batch calls in flight at once.
    ///
    /// # Errors
    ///
    /// `batch.max_in_flight` must be ≥ 1 and at most
    /// [`Semaphore::MAX_PERMITS`].
    pub fn max_in_flight(mut self, batches: usize) -> Result<Self, ConfigError> {
        if batches == 0 {
            return Err(ConfigError::new("batch.max_in_flight", "must be ≥ 1"));
        }
        if batches > Semaphore::MAX_PERMITS {
            return Err(ConfigError::new(
                "batch.max_in_flight",
                "too large for a semaphore",
            ));
        }
        self.max_in_flight = batches;
        Ok(self)
    }

    pub(crate) fn weight(&self, item: &Item) -> u64 {
        self.weigh.as_ref().map_or(1, |weigh| weigh(item))
    }
}
