//! Where a limiter reads the time: the public [`LimiterClock`] choice, and
//! the crate-private [`Clock`] trait with its tokio and time-stamp-counter
//! implementations.

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
///
/// The limiter reads it on every reservation and hands the reading to its
/// bands, which keep every figure in these nanoseconds.
pub(crate) trait Clock {
    /// Nanoseconds from `epoch` to now.
    fn now(&self, epoch: Instant) -> u64;

    /// Re-align with tokio's clock, before a caller sleeps until a slot.
    fn resync(&self, _epoch: Instant) {}
}

/// `tokio::time::Instant::now()`: follows tokio's paused test clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self, epoch: Instant) -> u64 {
        nanos(Instant::now().saturating_duration_since(epoch))
    }
}

/// The clock a limiter was built with. An enum rather than a boxed trait
/// object: the read stays a direct, inlinable call on the hot path.
#[derive(Debug)]
pub(crate) enum AnyClock {
    Tokio(TokioClock),
    #[cfg(feature = "fast-clock")]
    Fast(fast::FastClock),
}

impl AnyClock {
    pub(crate) fn new(kind: LimiterClock) -> Self {
        match kind {
            LimiterClock::Tokio => AnyClock::Tokio(TokioClock),
            #[cfg(feature = "fast-clock")]
            LimiterClock::Fast => AnyClock::Fast(fast::FastClock::new()),
        }
    }
}

impl Clock for AnyClock {
    #[inline]
    fn now(&self, epoch: Instant) -> u64 {
        match self {
            AnyClock::Tokio(clock) => clock.now(epoch),
            #[cfg(feature = "fast-clock")]
            AnyClock::Fast(clock) => clock.now(epoch),
        }
    }

    fn resync(&self, epoch: Instant) {
        match self {
            AnyClock::Tokio(clock) => clock.resync(epoch),
            #[cfg(feature = "fast-clock")]
            AnyClock::Fast(clock) => clock.resync(epoch),
        }
    }
}

#[cfg(feature = "fast-clock")]
mod fast {
    use std::sync::atomic::{AtomicI64, Ordering};

    use tokio::time::Instant;

    use super::{Clock, TokioClock};

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
    }

    impl Clock for FastClock {
        /// The counter alone: `epoch` is only read when re-aligning.
        #[inline]
        fn now(&self, _epoch: Instant) -> u64 {
            let offset = self.offset.load(Ordering::Relaxed);
            self.counter_nanos().saturating_add_signed(offset)
        }

        fn resync(&self, epoch: Instant) {
            let tokio_nanos = TokioClock.now(epoch);
            let counter = self.counter_nanos();
            let offset = i64::try_from(i128::from(tokio_nanos) - i128::from(counter)).unwrap_or(0);
            self.offset.store(offset, Ordering::Relaxed);
        }
    }
}
