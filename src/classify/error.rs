//! Transport errors: transient, "not sent" when the connection was never
//! made; the limiter's own final refusals: permanent.

use std::error::Error;
use std::io::ErrorKind;

use crate::error::RateError;

/// A predicate that recognises errors raised before any byte of the request
/// was sent. See [`is_not_sent`].
pub type NotSentFn = fn(&(dyn Error + 'static)) -> bool;

/// True when some error in `error`'s `source()` chain is a
/// [`std::io::Error`] that can only happen before a connection exists
/// (connection refused, address not available), or a
/// [`RateError`]: the limiter refused the call, so
/// it never left. A request that failed so was never sent, so retrying it is
/// safe for any method (RFC 9110 §9.2.2).
///
/// Timeouts and resets are deliberately absent: they can happen after the
/// request left, so only idempotent requests may retry them. So are
/// "host unreachable", "network unreachable" and "network down": an ICMP
/// error ends an *established* connection with them too, after the server
/// may have processed the request. Clients that know more (hyper-util's
/// `Error::is_connect`, reqwest's `Error::is_connect`) can say so through
/// the classifiers' `not_sent_when`.
pub fn is_not_sent(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable
            )
        {
            return true;
        }
        if err.is::<RateError>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// True when some error in `error`'s `source()` chain is a refusal by the
/// destination's own limiter that a retry cannot turn around: a call that
/// costs more than a band can ever hold, or room further away than
/// `max_wait` (which exists to fail fast, not to be retried after a
/// backoff). [`RateError::Unavailable`] (a shared limiter that could not
/// decide) is not final: it may answer next time.
pub(crate) fn is_final_refusal(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(rate) = err.downcast_ref::<RateError>() {
            return matches!(
                rate,
                RateError::CostTooLarge { .. } | RateError::QuotaExhausted { .. }
            );
        }
        next = err.source();
    }
    false
}
