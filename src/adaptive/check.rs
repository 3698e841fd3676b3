//! Validation shared by the strategies' builders.

use crate::ConfigError;

/// The largest rate a strategy may ask for: one call per microsecond.
/// Above it the limiter is effectively off, and [`Rate::Unlimited`]
/// says so more plainly.
///
/// [`Rate::Unlimited`]: super::Rate::Unlimited
pub(crate) const MAX_RATE: f64 = 1e6;

/// `min ≤ max`, both finite, in `(0, MAX_RATE]`.
pub(crate) fn check_rate_bounds(prefix: &str, min: f64, max: f64) -> Result<(), ConfigError> {
    let in_range = |rate: f64| rate.is_finite() && rate > 0.0 && rate <= MAX_RATE;
    if !in_range(min) {
        return Err(ConfigError::new(
            format!("{prefix}.min_rate"),
            "must be > 0 and at most 1 000 000 calls per second",
        ));
    }
    if !in_range(max) || max < min {
        return Err(ConfigError::new(
            format!("{prefix}.max_rate"),
            "must be ≥ min_rate and at most 1 000 000 calls per second",
        ));
    }
    Ok(())
}

/// `low < value < high`, finite.
pub(crate) fn check_factor(
    field: &'static str,
    value: f64,
    low: f64,
    high: f64,
) -> Result<(), ConfigError> {
    if value.is_finite() && value > low && value < high {
        Ok(())
    } else if high == f64::MAX {
        Err(ConfigError::new(field, format!("must be > {low}")))
    } else {
        Err(ConfigError::new(
            field,
            format!("must lie strictly between {low} and {high}"),
        ))
    }
}
