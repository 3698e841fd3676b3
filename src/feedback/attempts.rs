//! [`Attempts`]: how many attempts a response took.

/// The number of attempts (1 = no retry) that produced a response, put in
/// the response's extensions by the retry layer's
/// [`HttpReplay`](crate::retry::HttpReplay); read by the stats, batch, bulk
/// and dead-letter layers above it. Also at `tower_pacer::retry::Attempts`.
///
/// ```
/// # use tower_pacer::feedback::Attempts;
/// # let response = http::Response::new(());
/// let attempts = response.extensions().get::<Attempts>().map_or(1, |a| a.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attempts(pub u32);
