//! Keeping credentials out of everything the crate stores, logs or shows.
//!
//! A request carries its credentials in headers (`Authorization`,
//! `X-Shopify-Access-Token`, `x-goog-api-key`…), in its URL (userinfo,
//! `?key=…`, `?api_secret=…`, signed URLs' `sig=`), and errors repeat them
//! (a transport error that prints the URL). [`Redaction`] decides what is a
//! credential and replaces it with [`REDACTED`] wherever the crate writes
//! something down: dead letters (headers, URI, message), log lines, error
//! messages of its own making. Destinations keyed by something other than a
//! host name are shown by [`fingerprint`], never by value.
//!
//! The default treats as secret every header or query name that *looks*
//! like one: it contains `token`, `secret`, `key`, `signature`, `password`,
//! `passwd`, `credential`, `session` or `cookie`; one of its parts
//! (between `-`, `_` or `.`) starts with `auth` or `oauth`; or it is one of
//! `sig`, `pwd`, `pass`, `jwt`, or a preset's auth header
//! ([`AUTH_HEADERS`](crate::headers::names::AUTH_HEADERS)). Names are
//! compared after percent-decoding and lower-casing, so `api%5Fkey` and
//! `API_KEY` are `api_key`. A short allow-list keeps headers that only
//! look like secrets (`idempotency-key`, `x-idempotency-key`, `author`);
//! [`Redaction::allow`] adds to it. Header *values* that start with an
//! authorization scheme (`Bearer …`, `Basic …`) are hidden whatever the
//! header's name.
//!
//! ```
//! use tower_pacer::redact::Redaction;
//!
//! let redaction = Redaction::default();
//! assert!(redaction.hides_name("X-Shopify-Access-Token"));
//! assert!(redaction.hides_name("api%5Fkey"));
//! assert!(!redaction.hides_name("idempotency-key"));
//! assert_eq!(
//!     redaction.text("error sending request for url (https://u:pw@api.test/v1?key=AIza123&n=2)"),
//!     "error sending request for url (https://[redacted]@api.test/v1?key=[redacted]&n=2)"
//! );
//! ```

use std::borrow::Cow;

use http::HeaderName;

/// What a hidden value becomes.
pub const REDACTED: &str = "[redacted]";

/// Substrings that make a name secret.
const SECRET_PARTS: &[&str] = &[
    "token",
    "secret",
    "key",
    "signature",
    "password",
    "passwd",
    "credential",
    "session",
    "cookie",
];

/// Whole names that are secret though they contain none of the parts.
const SECRET_NAMES: &[&str] = &["sig", "pwd", "pass", "jwt"];

/// Names that look secret and are not.
const ALLOWED_NAMES: &[&str] = &["idempotency-key", "x-idempotency-key", "author"];

/// Authorization schemes: a value starting with one is a credential.
const AUTH_SCHEMES: &[&str] = &["bearer ", "basic ", "digest ", "token ", "apikey "];

/// Which names and values are credentials, and how to hide them.
///
/// See the [module docs](self) for the default rules. Extend it with
/// [`with`](Self::with) (one more secret name) or narrow it with
/// [`allow`](Self::allow) (a name that is not secret).
///
/// ```
/// use tower_pacer::redact::Redaction;
///
/// let redaction = Redaction::default().with("x-portal-id").allow("x-session-hint");
/// assert!(redaction.hides_name("X-Portal-Id"));
/// assert!(!redaction.hides_name("x-session-hint"));
/// assert!(redaction.hides(&http::header::AUTHORIZATION));
/// ```
#[derive(Debug, Clone)]
pub struct Redaction {
    /// Extra secret names, normalised.
    names: Vec<String>,
    /// Names that are not secret, normalised.
    allowed: Vec<String>,
}

impl Default for Redaction {
    fn default() -> Self {
        Self {
            names: crate::headers::names::AUTH_HEADERS
                .iter()
                .map(|(_, name)| normalise(name))
                .collect(),
            allowed: ALLOWED_NAMES.iter().map(|name| normalise(name)).collect(),
        }
    }
}

impl Redaction {
    /// Also hide headers and query parameters named `name`
    /// (case-insensitive), even one the allow-list keeps.
    pub fn with(mut self, name: &str) -> Self {
        let name = normalise(name);
        self.allowed.retain(|n| *n != name);
        self.names.push(name);
        self
    }

    /// Also hide the query parameter `name`; the same as [`with`](Self::with)
    /// (one list serves headers and query parameters).
    pub fn with_query_param(self, name: &str) -> Self {
        self.with(name)
    }

    /// Never hide `name`, though it looks like a secret (say a
    /// `sort_key` query parameter that replays must keep).
    pub fn allow(mut self, name: &str) -> Self {
        let name = normalise(name);
        self.names.retain(|n| *n != name);
        self.allowed.push(name);
        self
    }

    /// True if the header `name`'s value is kept out of what the crate
    /// stores and prints.
    pub fn hides(&self, name: &HeaderName) -> bool {
        self.hides_name(name.as_str())
    }

    /// True if a header or query parameter called `name` (percent-encoded
    /// or not, any case) holds a credential.
    pub fn hides_name(&self, name: &str) -> bool {
        let name = normalise(name);
        if name.is_empty() || self.allowed.contains(&name) {
            return false;
        }
        self.names.contains(&name)
            || SECRET_NAMES.contains(&name.as_str())
            || SECRET_PARTS.iter().any(|part| name.contains(part))
            || name
                .split(['-', '_', '.'])
                .any(|word| word.starts_with("auth") || word.starts_with("oauth"))
    }

    /// True if a header value is a credential whatever its header's name:
    /// it starts with an authorization scheme (`Bearer`, `Basic`…).
    pub fn hides_value(&self, value: &[u8]) -> bool {
        AUTH_SCHEMES.iter().any(|scheme| {
            value.len() > scheme.len()
                && value[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
        })
    }

    /// `uri` with its userinfo (`user:password@`) and the values of secret
    /// query parameters replaced by [`REDACTED`].
    ///
    /// ```
    /// use tower_pacer::redact::Redaction;
    ///
    /// let uri = "https://me:pw@api.test/x?token=t&n=1".parse().unwrap();
    /// assert_eq!(
    ///     Redaction::default().uri(&uri),
    ///     "https://[redacted]@api.test/x?token=[redacted]&n=1"
    /// );
    /// ```
    pub fn uri(&self, uri: &http::Uri) -> String {
        self.url(&uri.to_string())
    }

    /// [`uri`](Self::uri) for a URL held as text (it need not parse): the
    /// userinfo, and secret pairs in the query and the fragment
    /// (`#access_token=…`). The path is left alone.
    pub fn url(&self, url: &str) -> String {
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((head, fragment)) => (head, Some(fragment)),
            None => (url, None),
        };
        let (head, query) = match before_fragment.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (before_fragment, None),
        };
        let mut out = without_userinfo(head).into_owned();
        if let Some(query) = query {
            out.push('?');
            out.push_str(&self.pairs(query));
        }
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(&self.pairs(fragment));
        }
        out
    }

    /// Free text (an error's message, a log field) with every credential it
    /// shows hidden: URLs as [`url`](Self::url) hides them, values after an
    /// authorization scheme (`Bearer abc…`), and values of secret names
    /// written `name=value`, `name: value` or `"name": "value"`.
    pub fn text(&self, text: &str) -> String {
        let text = self.urls_in(text);
        let text = schemes_in(&text);
        self.named_values_in(&text)
    }

    /// `a=1&key=2` with secret values hidden.
    fn pairs(&self, pairs: &str) -> String {
        pairs
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if self.hides_name(name) && !value.is_empty() => {
                    Cow::Owned(format!("{name}={REDACTED}"))
                }
                _ => Cow::Borrowed(pair),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Every `scheme://…` in `text`, as [`url`](Self::url) shows it.
    fn urls_in(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("://") {
            let start = rest[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
                .map_or(0, |i| after_char(rest, i));
            let end = rest[at..]
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | '\\')
                })
                .map_or(rest.len(), |i| at + i);
            out.push_str(&rest[..start]);
            out.push_str(&self.url(&rest[start..end]));
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// `name=value`, `name: value`, `"name": "value"` with secret values
    /// hidden.
    fn named_values_in(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut i = 0;
        while i < bytes.len() {
            if !matches!(bytes[i], b'=' | b':') {
                i += 1;
                continue;
            }
            // The name just before the separator, maybe in quotes.
            let mut name_end = i;
            if name_end > 0 && matches!(bytes[name_end - 1], b'"' | b'\'') {
                name_end -= 1;
            }
            let name_start = text[..name_end]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '%')))
                .map_or(0, |j| after_char(text, j));
            // The value just after, maybe in quotes.
            let mut value_start = i + 1;
            while value_start < bytes.len() && bytes[value_start] == b' ' {
                value_start += 1;
            }
            let quote = bytes
                .get(value_start)
                .copied()
                .filter(|b| matches!(b, b'"' | b'\''));
            if quote.is_some() {
                value_start += 1;
            }
            let value_end = text[value_start..]
                .find(|c: char| match quote {
                    Some(q) => c as u32 == u32::from(q),
                    None => {
                        c.is_whitespace()
                            || matches!(c, '&' | ';' | ',' | ')' | ']' | '}' | '"' | '\'')
                    }
                })
                .map_or(text.len(), |j| value_start + j);
            let value = &text[value_start..value_end];
            let hidden = name_start < name_end
                && !value.is_empty()
                && !text[value_start..].starts_with(REDACTED)
                && !value.starts_with("//")
                && self.hides_name(&text[name_start..name_end]);
            if hidden {
                out.push_str(&text[copied..value_start]);
                out.push_str(REDACTED);
                copied = value_end;
                i = value_end;
            } else {
                i += 1;
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// The index just after the character that starts at `at` in `text`
/// (`rfind` gives a character's start, which may be several bytes long).
fn after_char(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(1, char::len_utf8)
}

/// The values after authorization schemes (`Bearer abc…`) hidden.
fn schemes_in(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        // Bytes, not `str` slices: `i` may fall inside a multi-byte
        // character (a scheme, all ASCII, never starts there).
        let bytes = lower.as_bytes();
        let found = AUTH_SCHEMES.iter().find(|scheme| {
            bytes[i..].starts_with(scheme.as_bytes())
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        });
        let Some(scheme) = found else {
            i += 1;
            continue;
        };
        let value_start = i + scheme.len();
        let value_end = text[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ')'))
            .map_or(text.len(), |j| value_start + j);
        let value = &text[value_start..value_end];
        // A word after "token " is prose; a credential is long.
        if value.len() >= 8 && !text[value_start..].starts_with(REDACTED) {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        i = value_end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// `scheme://user:pw@host/…` without `user:pw` (as [`REDACTED`]); the rest
/// as it is.
fn without_userinfo(url: &str) -> Cow<'_, str> {
    let Some(at) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority_start = at + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    match url[authority_start..authority_end].rfind('@') {
        Some(userinfo_end) if &url[authority_start..authority_start + userinfo_end] != REDACTED => {
            Cow::Owned(format!(
                "{}{REDACTED}{}",
                &url[..authority_start],
                &url[authority_start + userinfo_end..]
            ))
        }
        _ => Cow::Borrowed(url),
    }
}

/// Lower case, percent-decoded, `_` and `.` as `-`: `API%5FKey` → `api-key`.
fn normalise(name: &str) -> String {
    let bytes = name.trim().as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let (hi, lo) = (hex(hi).unwrap_or(0), hex(lo).unwrap_or(0));
                decoded.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded)
        .to_lowercase()
        .replace(['_', '.'], "-")
}

/// A short, stable name for a secret value: `k-` and 12 hex digits of a
/// 64-bit FNV-1a hash. It tells two keys apart in logs and metrics without
/// showing either. `pacer-mock` names the keys it sees the same way, so a
/// test (or an operator) can match its statistics to a destination.
///
/// It identifies, it does not protect: a guessable key can be guessed and
/// checked against it.
///
/// ```
/// use tower_pacer::redact::fingerprint;
///
/// let name = fingerprint("pat-na1-0123456789");
/// assert!(name.starts_with("k-") && name.len() == 14);
/// assert_eq!(name, fingerprint("pat-na1-0123456789"));
/// assert!(!name.contains("0123456789"));
/// ```
pub fn fingerprint(secret: &str) -> String {
    let hash = secret.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("k-{:012x}", hash >> 16)
}

/// The default rules, built once (errors' `Display` uses them).
pub(crate) fn default_rules() -> &'static Redaction {
    static DEFAULT: std::sync::LazyLock<Redaction> = std::sync::LazyLock::new(Redaction::default);
    &DEFAULT
}

/// `uri` without the userinfo [`Redaction::uri`] redacted, for a replay:
/// the replay service supplies credentials, as it does for headers.
pub(crate) fn without_redacted_userinfo(uri: &str) -> Cow<'_, str> {
    let stripped = uri.split_once("://").and_then(|(scheme, rest)| {
        let host = rest.strip_prefix(REDACTED)?.strip_prefix('@')?;
        Some(format!("{scheme}://{host}"))
    });
    stripped.map_or(uri.into(), Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_secret_are_secret() {
        let r = Redaction::default();
        for name in [
            "authorization",
            "proxy-authorization",
            "x-auth-token",
            "x-goog-api-key",
            "api-key",
            "api%5Fkey",
            "API_SECRET",
            "sig",
            "password",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "x-amz-security-token",
            "oauth_consumer_key",
            "cookie",
            "hapikey",
        ] {
            assert!(r.hides_name(name), "{name}");
        }
        for name in [
            "idempotency-key",
            "content-type",
            "limit",
            "after",
            "n",
            "author",
        ] {
            assert!(!r.hides_name(name), "{name}");
        }
    }

    #[test]
    fn text_hides_every_shape() {
        let r = Redaction::default();
        let cases = [
            ("Authorization: Bearer ya29.a0AfH6SMB", "ya29"),
            (r#"{"x-api-key": "abc123def"}"#, "abc123def"),
            ("failed: api_key=s3cr3t; retrying", "s3cr3t"),
            ("ftp://user:hunter2@host/x", "hunter2"),
            ("https://h/x#access_token=tok123&state=1", "tok123"),
            ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ];
        for (text, secret) in cases {
            let shown = r.text(text);
            assert!(!shown.contains(secret), "{text} -> {shown}");
            assert!(shown.contains(REDACTED), "{text} -> {shown}");
        }
        // Prose and paths stay readable.
        assert_eq!(r.text("token expired at 12:00"), "token expired at 12:00");
        assert_eq!(
            r.url("https://h.test/v1/keys:lookup?n=1"),
            "https://h.test/v1/keys:lookup?n=1"
        );
        // Any text, any characters: no panic, non-ASCII kept.
        let accented = r.text("échec: Bearer ünïcødé-tøkèn-123 — clé=secret ✓ key=ß");
        assert!(
            !accented.contains("tøkèn") && accented.contains("échec") && accented.contains('✓')
        );
        for text in [
            "é", "Bé", "bearer", "x=", ":", "\"\":\"", "key=\"", "a://", "://@",
        ] {
            let _ = r.text(text);
        }
        // Twice is once.
        let once = r.text("https://u:p@h/?key=1 Bearer abcdefghij");
        assert_eq!(r.text(&once), once);
    }

    proptest::proptest! {
        /// Any text, any URL: no panic, and redacting twice changes nothing more.
        #[test]
        fn any_text_is_handled(text in ".{0,80}", name in "[a-zA-Z_%-]{0,12}") {
            let r = Redaction::default();
            let framed = format!("GET https://u:p@h/?{name}={text} {name}: {text} Bearer {text}");
            for input in [text.as_str(), framed.as_str()] {
                let once = r.text(input);
                proptest::prop_assert_eq!(r.text(&once), once.clone());
                let _ = r.url(input);
                let _ = r.hides_name(input);
            }
        }
    }
}
