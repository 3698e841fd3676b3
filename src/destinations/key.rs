/// Says which destination a request goes to.
///
/// The default, [`ByAuthority`], uses the URI's host, and its port unless
/// it is the scheme's default.
/// Any `Fn(&Request) -> Option<String>` works too: an API key, a tenant, a
/// HubSpot portal id. `None` means the request has no destination, and it
/// fails with [`DestinationError::NoKey`](super::DestinationError::NoKey).
///
/// A key may be a credential (the API key a request carries), so where the
/// crate shows a destination — its pacer's name, the `destination` label
/// of metrics, log lines, error messages — it shows [`name`](Self::name),
/// which by default is the key's [`fingerprint`](crate::redact::fingerprint)
/// (`k-…`), never the key. [`ByAuthority`]'s host names are shown as they
/// are; wrap a key function whose keys are not secret (tenant ids) in
/// [`PlainKey`] to show its keys too.
pub trait DestinationKey<Request> {
    /// The destination of `request`.
    fn key(&self, request: &Request) -> Option<String>;

    /// How the destination `key` is shown: by default its fingerprint.
    fn name(&self, key: &str) -> String {
        crate::redact::fingerprint(key)
    }
}

/// A key function whose keys are not secret (a tenant, a region): its keys
/// are shown as they are, in metrics labels, logs and errors.
///
/// ```
/// use tower_pacer::destinations::{DestinationKey, PlainKey};
///
/// let by_tenant = PlainKey(|request: &http::Request<()>| {
///     request.headers().get("x-tenant")?.to_str().ok().map(str::to_owned)
/// });
/// assert_eq!(by_tenant.name("acme"), "acme");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PlainKey<F>(pub F);

impl<Request, F> DestinationKey<Request> for PlainKey<F>
where
    F: Fn(&Request) -> Option<String>,
{
    fn key(&self, request: &Request) -> Option<String> {
        (self.0)(request)
    }

    fn name(&self, key: &str) -> String {
        key.to_owned()
    }
}

/// Routes `http::Request`s by their URI's authority, in a normal form: one
/// server is one destination, with one quota, however its URIs are spelled.
///
/// - the host is lower-cased, and loses a trailing dot (`API.x.com.` is
///   `api.x.com`);
/// - userinfo is dropped (`user@api.x.com` is `api.x.com`);
/// - the port is dropped when it is the scheme's default (443 for `https`,
///   80 for `http`), and kept otherwise: services on one host behind
///   different ports (`127.0.0.1:8080`, `127.0.0.1:8081`) are different
///   destinations.
///
/// So `https://api.x.com/`, `https://api.x.com:443/` and
/// `https://user@API.x.com./` all go to the destination `api.x.com`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByAuthority;

impl<B> DestinationKey<http::Request<B>> for ByAuthority {
    fn key(&self, request: &http::Request<B>) -> Option<String> {
        let uri = request.uri();
        let authority = uri.authority()?;
        let default_port = uri.scheme_str().and_then(default_port);
        Some(normal_form(
            authority.host(),
            authority.port_u16(),
            default_port,
        ))
    }

    /// A host name is no secret: shown as it is.
    fn name(&self, key: &str) -> String {
        key.to_owned()
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else {
        None
    }
}

/// `host[:port]` as [`ByAuthority`] names it.
fn normal_form(host: &str, port: Option<u16>, default_port: Option<u16>) -> String {
    let host = host.to_ascii_lowercase();
    // `x.com.` is the fully qualified `x.com`; a lone `.` stays as it is.
    let host = match host.strip_suffix('.') {
        Some(bare) if !bare.is_empty() => bare,
        _ => host.as_str(),
    };
    match port {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

/// The names [`ByAuthority`] could have given a destination looked up as
/// `key` (without the scheme, which the key does not carry): its normal
/// form with the port, then without it if it is 80 or 443. Empty when `key`
/// is no authority (a custom key).
pub(crate) fn lookup_forms(key: &str) -> Vec<String> {
    let Ok(authority) = key.parse::<http::uri::Authority>() else {
        return Vec::new();
    };
    let (host, port) = (authority.host(), authority.port_u16());
    let mut forms = vec![normal_form(host, port, None)];
    if let Some(port @ (80 | 443)) = port {
        forms.push(normal_form(host, Some(port), Some(port)));
    }
    forms
}

impl<Request, F> DestinationKey<Request> for F
where
    F: Fn(&Request) -> Option<String>,
{
    fn key(&self, request: &Request) -> Option<String> {
        self(request)
    }
}
