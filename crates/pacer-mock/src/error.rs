//! Errors of the mock server: bad flag strings, invalid configuration,
//! failure to start.
//!
//! The mock keeps its own error types (and its own duration parser, in
//! `units`): it is the test oracle of `tower-pacer` and shares no code with
//! the client it judges.

use std::borrow::Cow;
use std::io;

/// A configuration value was refused by [`MockConfig::validate`](super::MockConfig::validate),
/// naming the field (`windows[0].count`, `rate.burst`…).
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

    /// The configuration field that was rejected.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why the value was rejected.
    pub fn reason(&self) -> &str {
        &self.reason
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

/// Why [`MockServer::start`](super::MockServer::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The configuration was refused by [`MockConfig::validate`](super::MockConfig::validate).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The TLS certificate or key could not be read.
    #[error("TLS: {0}")]
    Tls(String),
}
