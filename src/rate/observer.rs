//! [`LimiterObserver`]: a hook that sees what a limiter does, so that
//! metrics (or logs, or tests) live outside the limiter.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Sees a [`Limiter`](super::Limiter)'s events as they happen; attach one
/// with [`LimiterBuilder::observer`](super::LimiterBuilder::observer).
///
/// The limiter keeps its own counts for [`Limiter::snapshot`](super::Limiter::snapshot)
/// (`waited`, `refused`, `limit_mismatches`); an observer gets the same
/// events one by one. None is called for a call whose slot is free at once,
/// so the fast path pays nothing for it. Every method does nothing by
/// default; implement those you need. They run on the caller's task,
/// inside the reservation: keep them short and never block.
///
/// With the `metrics` feature, `stats::metrics::limiter_observer` reports
/// them through the `metrics` facade; a [`Policy`](crate::policy::Policy)
/// attaches that one to the limiters it builds.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use tower_pacer::rate::{Limiter, LimiterObserver, Quota};
///
/// #[derive(Default)]
/// struct Refusals(AtomicU64);
///
/// impl LimiterObserver for Refusals {
///     fn refused(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let refusals = Arc::new(Refusals::default());
/// let limiter = Limiter::builder()
///     .quota(Quota::window(1, Duration::from_secs(10))?)
///     .max_wait(Duration::ZERO)
///     .observer(refusals.clone())
///     .build()?;
/// assert!(limiter.try_acquire(1).is_ok());
/// assert!(limiter.try_acquire(1).is_err());
/// assert_eq!(refusals.0.load(Ordering::Relaxed), 1);
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
pub trait LimiterObserver: Send + Sync + 'static {
    /// A reservation was granted a slot `wait` from now (it did not go out
    /// at once).
    fn waited(&self, wait: Duration) {
        let _ = wait;
    }

    /// A reservation was refused: room was further away than `max_wait`
    /// ([`RateError::QuotaExhausted`](super::RateError::QuotaExhausted)).
    fn refused(&self) {}

    /// The server refused a call the limiter had room for: a limit
    /// mismatch (see [`Limiter::note_refusal`](super::Limiter::note_refusal)).
    fn mismatch(&self) {}
}

/// A shared observer observes: keep an `Arc` to read what yours gathered.
impl<T: LimiterObserver + ?Sized> LimiterObserver for Arc<T> {
    fn waited(&self, wait: Duration) {
        (**self).waited(wait);
    }

    fn refused(&self) {
        (**self).refused();
    }

    fn mismatch(&self) {
        (**self).mismatch();
    }
}

/// An attached observer: cloned with the builder, printed by name only.
#[derive(Clone)]
pub(crate) struct Observer(pub(crate) Arc<dyn LimiterObserver>);

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimiterObserver")
    }
}
