//! Keeping credentials out of dead letters.

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};

/// Which request headers never reach a dead-letter store.
///
/// By default `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Set-Cookie` and `X-Api-Key`: a dead-letter file must not become a
/// credential leak. Their values are replaced by [`REDACTED`]; the replay
/// service puts credentials back (an auth layer), they are never stored.
///
/// ```
/// use tower_pacer::dlq::Redaction;
///
/// let redaction = Redaction::default().with("x-hubspot-signature");
/// assert!(redaction.hides(&http::header::AUTHORIZATION));
/// assert!(redaction.hides(&"X-HubSpot-Signature".parse().unwrap()));
/// ```
#[derive(Debug, Clone)]
pub struct Redaction {
    names: Vec<HeaderName>,
}

/// What a redacted header's value becomes.
pub const REDACTED: &str = "[redacted]";

impl Default for Redaction {
    fn default() -> Self {
        Self {
            names: vec![
                AUTHORIZATION,
                PROXY_AUTHORIZATION,
                COOKIE,
                SET_COOKIE,
                HeaderName::from_static("x-api-key"),
            ],
        }
    }
}

impl Redaction {
    /// Also hide `name` (ignored if it is not a valid header name).
    pub fn with(mut self, name: &str) -> Self {
        if let Ok(name) = HeaderName::try_from(name) {
            self.names.push(name);
        }
        self
    }

    /// True if `name`'s value is kept out of dead letters.
    pub fn hides(&self, name: &HeaderName) -> bool {
        self.names.contains(name)
    }
}
