/// Says which destination a request goes to.
///
/// The default, [`ByAuthority`], uses the URI's authority (host and port).
/// Any `Fn(&Request) -> Option<String>` works too: an API key, a tenant, a
/// HubSpot portal id. `None` means the request has no destination, and it
/// fails with [`DestinationError::NoKey`](super::DestinationError::NoKey).
pub trait DestinationKey<Request> {
    /// The destination of `request`.
    fn key(&self, request: &Request) -> Option<String>;
}

/// Routes `http::Request`s by their URI's authority, lower-cased.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByAuthority;

impl<B> DestinationKey<http::Request<B>> for ByAuthority {
    fn key(&self, request: &http::Request<B>) -> Option<String> {
        request
            .uri()
            .authority()
            .map(|authority| authority.as_str().to_ascii_lowercase())
    }
}

impl<Request, F> DestinationKey<Request> for F
where
    F: Fn(&Request) -> Option<String>,
{
    fn key(&self, request: &Request) -> Option<String> {
        self(request)
    }
}
