//! The configuration error shared by every builder in the crate.

use std::borrow::Cow;

/// A configuration value was rejected at construction time.
///
/// Every builder in the crate validates its input up front and returns this
/// error, naming the offending field (`quota.burst`, `retry.max_attempts`…),
/// so that bad configuration never turns into a panic later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    field: Cow<'static, str>,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// A new error for `field`, explaining what is wrong with it.
    pub fn new(field: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The configuration field that was rejected, e.g. `quota.burst`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why the value was rejected, e.g. `must be ≥ 1`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error, with its field placed under `prefix`
    /// (`burst` under `quotas[1]` becomes `quotas[1].burst`).
    pub fn within(self, prefix: &str) -> Self {
        Self {
            field: Cow::Owned(format!("{prefix}.{}", self.field)),
            reason: self.reason,
        }
    }
}
