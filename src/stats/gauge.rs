//! One value reported as a gauge through the `metrics` facade (a no-op
//! without the `metrics` feature), for controllers that move a setting.

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
