use std::time::Duration;

use tower_layer::Layer;

use super::registry::Registry;
use super::{ByAuthority, Destinations, PolicyTable};
use crate::ConfigError;

/// Builds [`Destinations`]; see the [module docs](super).
///
/// Each `layer` call starts an empty table of live destinations; clone the
/// resulting service (not the layer) to share it.
#[derive(Debug, Clone)]
pub struct DestinationsLayer<K = ByAuthority> {
    table: PolicyTable,
    key: K,
    max_live: usize,
    min_idle: Duration,
}

/// Default bound on live destinations.
pub const DEFAULT_MAX_LIVE: usize = 1_024;

impl DestinationsLayer {
    /// Route by URI authority with the policies of `table`, at most
    /// [`DEFAULT_MAX_LIVE`] live destinations.
    pub fn new(table: PolicyTable) -> Self {
        Self {
            table,
            key: ByAuthority,
            max_live: DEFAULT_MAX_LIVE,
            min_idle: Duration::from_secs(60),
        }
    }
}

impl<K> DestinationsLayer<K> {
    /// Route by `key` instead (an API key, a tenant, a portal id).
    pub fn key<K2>(self, key: K2) -> DestinationsLayer<K2> {
        DestinationsLayer {
            table: self.table,
            key,
            max_live: self.max_live,
            min_idle: self.min_idle,
        }
    }

    /// At most `max_live` destinations at once (destinations can come from
    /// untrusted input; memory must stay bounded). When the table is full,
    /// destinations whose state is as good as new are forgotten; if none
    /// is, the new destination is refused with
    /// [`DestinationError::TooMany`](super::DestinationError::TooMany).
    /// A full table is swept at most every 100 ms; between sweeps a new
    /// destination is refused at once, without the table's write lock, so
    /// a stream of made-up host names costs the known ones nothing.
    ///
    /// # Errors
    ///
    /// `destinations.max_live: must be ≥ 1`.
    pub fn max_live(mut self, max_live: usize) -> Result<Self, ConfigError> {
        if max_live == 0 {
            return Err(ConfigError::new("destinations.max_live", "must be ≥ 1"));
        }
        self.max_live = max_live;
        Ok(self)
    }

    /// Keep an unused destination at least this long, even when its quotas
    /// refill sooner (default 60 s).
    pub fn min_idle(mut self, min_idle: Duration) -> Self {
        self.min_idle = min_idle;
        self
    }
}

impl<S: Clone, K: Clone> Layer<S> for DestinationsLayer<K> {
    type Service = Destinations<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Destinations::new(
            Registry::new(self.table.clone(), inner, self.max_live, self.min_idle),
            self.key.clone(),
        )
    }
}
