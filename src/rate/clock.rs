//! Where a limiter reads the time.

use std::time::Duration;

use tokio::time::Instant;

/// The clock a [`Limiter`](super::Limiter) reads on every reservation.
///
/// Sleeping always goes through `tokio::time`; this only chooses how "now"
/// is read when a slot is reserved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimiterClock {
    /// `tokio::time::Instant::now()`: follows tokio's paused test clock
    /// (`tokio::time::pause`, `advance`), so tests are exact. The default.
    #[default]
    Tokio,
    /// The CPU's time-stamp counter through the `quanta` crate (feature
    /// `fast-clock`): several times cheaper to read than the OS clock on
    /// many machines, which matters when millions of calls a second go
    /// through one limiter. It does **not** follow tokio's paused clock:
    /// use it in production, not in tests with `tokio::time::pause`. It is
    /// re-aligned with tokio's clock whenever a caller has to wait, so the
    /// slots callers sleep until stay accurate.
    #[cfg(feature = "fast-clock")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fast-clock")))]
    Fast,
}

/// Whole nanoseconds of `d`, saturating.
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A clock reading nanoseconds since a limiter's epoch.
#[derive(Debug)]
pub(crate) enum Clock {
    Tokio,
    #[cfg(feature = "fast-clock")]
    Fast(fast::FastClock),
}

impl Clock {
    pub(crate) fn new(kind: LimiterClock) -> Self {
        match kind {
            LimiterClock::Tokio => Clock::Tokio,
            #[cfg(feature = "fast-clock")]
            LimiterClock::Fast => Clock::Fast(fast::FastClock::new()),
        }
    }

    #[inline]
    pub(crate) fn now(&self, epoch: Instant) -> u64 {
        match self {
            Clock::Tokio => nanos(Instant::now().saturating_duration_since(epoch)),
            #[cfg(feature = "fast-clock")]
            Clock::Fast(clock) => clock.now(),
        }
    }

    /// Re-align a fast clock with tokio's, before a caller sleeps.
    #[cfg_attr(not(feature = "fast-clock"), allow(unused_variables))]
    pub(crate) fn resync(&self, epoch: Instant) {
        match self {
            Clock::Tokio => {}
            #[cfg(feature = "fast-clock")]
            Clock::Fast(clock) => {
                clock.resync(nanos(Instant::now().saturating_duration_since(epoch)))
            }
        }
    }
}

#[cfg(feature = "fast-clock")]
mod fast {
    use std::sync::atomic::{AtomicI64, Ordering};

    /// Time-stamp-counter nanoseconds, plus an offset that keeps them on
    /// tokio's time line (they drift apart by a few parts per million).
    #[derive(Debug)]
    pub(crate) struct FastClock {
        clock: quanta::Clock,
        start: u64,
        offset: AtomicI64,
    }

    impl FastClock {
        pub(crate) fn new() -> Self {
            let clock = quanta::Clock::new();
            let start = clock.raw();
            Self {
                clock,
                start,
                offset: AtomicI64::new(0),
            }
        }

        fn counter_nanos(&self) -> u64 {
            self.clock.delta_as_nanos(self.start, self.clock.raw())
        }

        #[inline]
        pub(crate) fn now(&self) -> u64 {
            let offset = self.offset.load(Ordering::Relaxed);
            self.counter_nanos().saturating_add_signed(offset)
        }

        pub(crate) fn resync(&self, tokio_nanos: u64) {
            let counter = self.counter_nanos();
            let offset = i64::try_from(i128::from(tokio_nanos) - i128::from(counter)).unwrap_or(0);
            self.offset.store(offset, Ordering::Relaxed);
        }
    }
}
