//! Metric handles for layers outside the request counters: no-ops
//! without the `metrics` feature, so the layers need no `cfg` of their own.

/// A `destination`-labelled gauge; unnamed destinations report nothing,
/// as with [`Stats::new`](super::Stats::new).
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueGauge {
    #[cfg(feature = "metrics")]
    gauge: Option<metrics::Gauge>,
}

impl ValueGauge {
    /// The gauge `name` of `destination`, if it has a name.
    pub(crate) fn new(name: &'static str, destination: Option<&str>) -> Self {
        #[cfg(feature = "metrics")]
        {
            Self {
                gauge: destination.map(|d| metrics::gauge!(name, "destination" => d.to_owned())),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, destination);
            Self {}
        }
    }

    /// Report `value`.
    pub(crate) fn set(&self, value: f64) {
        #[cfg(feature = "metrics")]
        if let Some(gauge) = &self.gauge {
            gauge.set(value);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = value;
    }
}

/// A `destination`-labelled counter with one more label; unnamed
/// destinations report nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventCounter {
    #[cfg(feature = "metrics")]
    counter: Option<metrics::Counter>,
}

impl EventCounter {
    /// The counter `name{destination, label = value}`.
    pub(crate) fn new(
        name: &'static str,
        destination: Option<&str>,
        label: (&'static str, &'static str),
    ) -> Self {
        #[cfg(feature = "metrics")]
        {
            Self {
                counter: destination.map(
                    |d| metrics::counter!(name, "destination" => d.to_owned(), label.0 => label.1),
                ),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (name, destination, label);
            Self {}
        }
    }

    /// Count one.
    pub(crate) fn increment(&self) {
        #[cfg(feature = "metrics")]
        if let Some(counter) = &self.counter {
            counter.increment(1);
        }
    }
}
