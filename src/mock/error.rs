//! Errors of the mock server: bad flag strings, invalid configuration,
//! failure to start.

use std::io;

use crate::ConfigError;

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
