//! Errors of the mock server: bad flag strings, invalid configuration,
//! failure to start.

use std::io;

use crate::ConfigError;
pub use crate::ParseError;

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
