//! Transport errors: always transient; "not sent" when the connection was
//! never made.

use std::error::Error;
use std::io::ErrorKind;

/// A predicate that recognises errors raised before any byte of the request
/// was sent. See [`is_not_sent`].
pub type NotSentFn = fn(&(dyn Error + 'static)) -> bool;

/// True when some error in `error`'s `source()` chain is a
/// [`std::io::Error`] that can only happen before a connection exists:
/// connection refused, address not available, network or host unreachable,
/// network down. A request that failed so was never sent, so retrying it is
/// safe for any method (RFC 9110 §9.2.2).
///
/// Timeouts and resets are deliberately absent: they can happen after the
/// request left, so only idempotent requests may retry them. Clients that
/// know more (hyper-util's `Error::is_connect`, reqwest's
/// `Error::is_connect`) can say so through the classifiers' `not_sent_when`.
pub fn is_not_sent(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkDown
            ) {
                return true;
            }
        }
        next = err.source();
    }
    false
}
