//! Error types.

/// A request [`Destinations`](super::Destinations) could not route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The request names no destination (no URI authority, or the key
    /// function said `None`).
    #[error("the request has no destination")]
    NoKey,
    /// No policy matches the destination and the table has no default.
    #[error("no policy for destination {key:?}")]
    NoPolicy {
        /// The destination, as it may be shown ([`DestinationKey::name`](super::DestinationKey::name)).
        key: String,
    },
    /// The table of live destinations is full and none can be dropped
    /// without losing quota state.
    #[error("too many live destinations ({max}); {key:?} refused")]
    TooMany {
        /// The destination refused, as it may be shown ([`DestinationKey::name`](super::DestinationKey::name)).
        key: String,
        /// The most live destinations allowed.
        max: usize,
    },
    /// The destination's policy could not be built.
    #[error("destination {key:?}: {error}")]
    Config {
        /// The destination, as it may be shown ([`DestinationKey::name`](super::DestinationKey::name)).
        key: String,
        /// What is wrong with its policy.
        error: crate::ConfigError,
    },
}
