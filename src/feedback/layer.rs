//! [`ClassifyLayer`]: configuration only.

use std::sync::Arc;

use tower_layer::Layer;

use super::service::{Classified, Settings};
use super::steward::Steward;

/// Wraps a client in [`Classified`]: each attempt classified once, its
/// verdict stamped on the result (see the [module docs](super)).
#[derive(Debug, Clone)]
pub struct ClassifyLayer<C> {
    settings: Arc<Settings<C>>,
}

impl<C> ClassifyLayer<C> {
    /// Classify with `classifier`; stamp only.
    pub fn new(classifier: C) -> Self {
        Self {
            settings: Arc::new(Settings {
                classifier,
                steward: None,
            }),
        }
    }

    /// Classify with `classifier`, and have `steward` apply each
    /// rate-limited verdict to the destination's limiter (pause, learn).
    pub fn with_steward(classifier: C, steward: Steward) -> Self {
        Self {
            settings: Arc::new(Settings {
                classifier,
                steward: Some(steward),
            }),
        }
    }
}

impl<S, C> Layer<S> for ClassifyLayer<C> {
    type Service = Classified<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Classified::new(inner, Arc::clone(&self.settings))
    }
}
