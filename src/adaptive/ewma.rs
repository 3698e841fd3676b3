//! An exponentially weighted mean and variance (Vector's `EwmaVar`).

/// Mean and variance of a series, recent values weighted by `alpha`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EwmaVar {
    alpha: f64,
    state: Option<(f64, f64)>,
}

impl EwmaVar {
    pub(crate) fn new(alpha: f64) -> Self {
        Self { alpha, state: None }
    }

    /// Adds `x`; the first value starts the mean with no variance.
    pub(crate) fn update(&mut self, x: f64) {
        let alpha = self.alpha;
        self.state = Some(match self.state {
            None => (x, 0.0),
            Some((mean, var)) => {
                let d = x - mean;
                (mean + alpha * d, (1.0 - alpha) * (var + alpha * d * d))
            }
        });
    }

    /// The mean, if any value was added.
    pub(crate) fn mean(&self) -> Option<f64> {
        self.state.map(|(mean, _)| mean)
    }

    /// The standard deviation (0 before two values).
    pub(crate) fn deviation(&self) -> f64 {
        self.state.map_or(0.0, |(_, var)| var.max(0.0).sqrt())
    }
}
