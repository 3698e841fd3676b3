//! [`RecordLayer`]: configuration only; builds [`Record`].

use std::marker::PhantomData;

use tower_layer::Layer;

use super::{EachAttempt, EachRequest, Record, Stats};

/// Counts into a [`Stats`]; see [`Record`].
#[derive(Debug, Clone)]
pub struct RecordLayer<L> {
    stats: Stats,
    _level: PhantomData<fn() -> L>,
}

/// Counts requests and their final outcome; place it at the top of a stack.
pub type RecordRequestsLayer = RecordLayer<EachRequest>;

/// Counts attempts and how the server answered them; place it at the
/// bottom of a stack, below retries and the limiter, so it sees what the
/// server sees.
pub type RecordAttemptsLayer = RecordLayer<EachAttempt>;

impl<L> RecordLayer<L> {
    /// Count into `stats`.
    pub fn new(stats: Stats) -> Self {
        Self {
            stats,
            _level: PhantomData,
        }
    }
}

impl<S, L> Layer<S> for RecordLayer<L> {
    type Service = Record<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Record::new(inner, self.stats.clone())
    }
}
