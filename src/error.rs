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

    /// The same error, with a leading `from` in its field replaced by `to`
    /// (`quota.burst` becomes `quotas[1].burst`).
    pub fn renamed(self, from: &str, to: &str) -> Self {
        let field = match self.field.strip_prefix(from) {
            Some(rest) if rest.is_empty() || rest.starts_with('.') => {
                Cow::Owned(format!("{to}{rest}"))
            }
            _ => self.field,
        };
        Self {
            field,
            reason: self.reason,
        }
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

/// A string (a duration, a quota, a flag value) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {input:?}: {reason}")]
pub struct ParseError {
    input: String,
    reason: String,
}

impl ParseError {
    /// A new error: `input` could not be read, because `reason`.
    pub fn new(input: &str, reason: &str) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The text that was refused.
    pub fn input(&self) -> &str {
        &self.input
    }
}
