//! Keeping credentials out of dead letters.

use http::HeaderName;
use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};

/// Which request headers never reach a dead-letter store.
///
/// By default `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Set-Cookie` and `X-Api-Key`: a dead-letter file must not become a
/// credential leak. Their values are replaced by [`REDACTED`]; the replay
/// service puts credentials back (an auth layer), they are never stored.
/// Keys travel in URLs too: the userinfo (`https://user:password@host/`)
/// and the query parameters `access_token`, `api_key`, `apikey`, `hapikey`
/// (HubSpot's legacy key), `client_secret` and `token` are redacted in the
/// stored URI the same way.
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
    /// Query parameters (lower case) whose values are hidden in the URI.
    params: Vec<String>,
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
            params: [
                "access_token",
                "api_key",
                "apikey",
                "hapikey",
                "client_secret",
                "token",
            ]
            .map(String::from)
            .to_vec(),
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

    /// Also hide the query parameter `name` (case-insensitive).
    pub fn with_query_param(mut self, name: &str) -> Self {
        self.params.push(name.to_ascii_lowercase());
        self
    }

    /// True if `name`'s value is kept out of dead letters.
    pub fn hides(&self, name: &HeaderName) -> bool {
        self.names.contains(name)
    }

    /// `uri` with its userinfo (`user:password@`) and the values of hidden
    /// query parameters replaced by [`REDACTED`].
    ///
    /// ```
    /// use tower_pacer::dlq::Redaction;
    ///
    /// let uri = "https://me:pw@api.test/x?token=t&n=1".parse().unwrap();
    /// assert_eq!(
    ///     Redaction::default().uri(&uri),
    ///     "https://[redacted]@api.test/x?token=[redacted]&n=1"
    /// );
    /// ```
    pub fn uri(&self, uri: &http::Uri) -> String {
        let mut text = uri.to_string();
        // The whole userinfo: a user name alone may be the key (`sk_live_…:`).
        let authority = uri.authority().map_or("", |a| a.as_str());
        if let Some((_, host)) = authority.rsplit_once('@') {
            // The authority's first occurrence is the authority itself:
            // only the scheme comes before it.
            text = text.replacen(authority, &format!("{REDACTED}@{host}"), 1);
        }
        let Some((head, query)) = text.split_once('?') else {
            return text;
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if self.params.contains(&name.to_ascii_lowercase()) => {
                    format!("{name}={REDACTED}")
                }
                _ => pair.to_owned(),
            })
            .collect();
        format!("{head}?{}", pairs.join("&"))
    }
}

/// `uri` without the userinfo [`Redaction::uri`] redacted, for a replay:
/// the replay service supplies credentials, as it does for headers.
pub(crate) fn without_redacted_userinfo(uri: &str) -> std::borrow::Cow<'_, str> {
    let stripped = uri.split_once("://").and_then(|(scheme, rest)| {
        let host = rest.strip_prefix(REDACTED)?.strip_prefix('@')?;
        Some(format!("{scheme}://{host}"))
    });
    stripped.map_or(uri.into(), Into::into)
}
