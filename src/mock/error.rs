//! Errors of the mock server: bad flag strings, invalid configuration,
//! failure to start.

use std::io;

/// A flag string (duration, quota, latency, enum name) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {input:?}: {reason}")]
pub struct ParseError {
    input: String,
    reason: String,
}

impl ParseError {
    pub(crate) fn new(input: &str, reason: &str) -> Self {
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

/// A [`MockConfig`](super::MockConfig) that cannot be served, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mock config: `{field}` {reason}")]
pub struct ConfigError {
    /// The offending field, as named in `MockConfig` (e.g. `windows[1].limit`).
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why [`MockServer::start`](super::MockServer::start) failed.
#[derive(Debug, thiserror::Error)]
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
}
