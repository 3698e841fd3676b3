//! How late calls really go out after their slots.
//!
//! tokio's timer wakes a sleeper on a whole millisecond, and a busy machine
//! runs it later still. A call sent late and the next one sent on time are
//! closer together at the wire than their slots were; each window band
//! keeps its grants counted for the recent lateness on top of the window,
//! remembered for one to two of its windows (as long as a late call can
//! share a window with later ones).

/// The largest lateness seen over the last one to two spans of a window
/// band, so one stall is forgotten once it can no longer matter.
#[derive(Debug, Default)]
pub(crate) struct Lateness {
    current: u64,
    previous: u64,
    since: u64,
}

impl Lateness {
    /// A call granted `late` ns before `now` went out at `now`.
    pub(crate) fn record(&mut self, late: u64, now: u64, span: u64) {
        let span = span.max(1);
        let elapsed = now.saturating_sub(self.since);
        if elapsed >= span {
            self.previous = if elapsed >= span.saturating_mul(2) {
                0
            } else {
                self.current
            };
            self.current = 0;
            self.since = now;
        }
        self.current = self.current.max(late);
    }

    /// The extra time a window band should keep its grants counted: the
    /// recent lateness, at most an eighth of the span (a process stalled
    /// for seconds is not the timer's doing, and must not stop its band).
    pub(crate) fn guard(&self, span: u64) -> u64 {
        self.current.max(self.previous).min(Self::cap(span))
    }

    /// The most lateness a window band's guard covers: an eighth of the
    /// span. A call later than that would reach the server among a
    /// window's worth of calls granted after it, so it must not go out on
    /// its old slot.
    pub(crate) fn cap(span: u64) -> u64 {
        span / 8
    }
}
