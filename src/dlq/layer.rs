use std::sync::Arc;

use tower_layer::Layer;

use super::{DeadLetterService, DeadLetterStore, Redaction};
use crate::classify::{BoxErrors, HttpClassifier};
use crate::feedback::Stamped;
use crate::stats::EventCounter;

/// `tower_pacer_dead_letters_total{destination, stored}`, with the
/// `metrics` feature.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) stored: EventCounter,
    pub(crate) lost: EventCounter,
}

/// Records every request that finally failed in a [`DeadLetterStore`];
/// see [`DeadLetterService`].
pub struct DeadLetterLayer<C = Stamped<BoxErrors<HttpClassifier>>> {
    pub(crate) store: Arc<dyn DeadLetterStore>,
    pub(crate) destination: Arc<str>,
    pub(crate) classifier: Arc<C>,
    pub(crate) redaction: Arc<Redaction>,
    pub(crate) counters: Arc<Counters>,
}

impl DeadLetterLayer {
    /// Record into `store`, labelled `destination`, judging results by the
    /// verdict stamped below (a [`Pacer`](crate::Pacer) stack's, see
    /// [`feedback`](crate::feedback)), else with the default HTTP rules
    /// over boxed errors (the stack's, above retry).
    pub fn new(store: Arc<dyn DeadLetterStore>, destination: &str) -> Self {
        Self {
            store,
            destination: destination.into(),
            classifier: Arc::new(Stamped(BoxErrors(HttpClassifier::default()))),
            redaction: Arc::new(Redaction::default()),
            counters: Arc::new(Counters {
                stored: EventCounter::new(
                    "tower_pacer_dead_letters_total",
                    Some(destination),
                    ("stored", "true"),
                ),
                lost: EventCounter::new(
                    "tower_pacer_dead_letters_total",
                    Some(destination),
                    ("stored", "false"),
                ),
            }),
        }
    }
}

impl<C> DeadLetterLayer<C> {
    /// Judge results with `classifier` instead (a policy's, say).
    pub fn classifier<C2>(self, classifier: C2) -> DeadLetterLayer<C2> {
        DeadLetterLayer {
            store: self.store,
            destination: self.destination,
            classifier: Arc::new(classifier),
            redaction: self.redaction,
            counters: self.counters,
        }
    }

    /// Redact these headers (default: [`Redaction::default`]).
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = Arc::new(redaction);
        self
    }
}

impl<S, C> Layer<S> for DeadLetterLayer<C> {
    type Service = DeadLetterService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        DeadLetterService {
            inner,
            layer: self.clone(),
        }
    }
}

impl<C> Clone for DeadLetterLayer<C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            destination: self.destination.clone(),
            classifier: self.classifier.clone(),
            redaction: self.redaction.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<C> std::fmt::Debug for DeadLetterLayer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterLayer")
            .field("destination", &self.destination)
            .field("redaction", &self.redaction)
            .finish_non_exhaustive()
    }
}
