//! Progress while a run goes, and the report at its end.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::stats::StatsSnapshot;

/// A bulk run's state, published while it runs; see [`Bulk::progress`](super::Bulk::progress).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Items taken from the queue so far.
    pub submitted: u64,
    /// Items that succeeded.
    pub succeeded: u64,
    /// Items that failed (with their error returned by the stack, or dead-lettered by it).
    pub failed: u64,
    /// Items waiting in the queue.
    pub queued: usize,
    /// Items being sent.
    pub in_flight: usize,
    /// Items finished in the last second.
    pub current_rate: f64,
    /// Time since the run started.
    pub elapsed: Duration,
}

impl Progress {
    /// Items finished, well or not.
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// What a bulk run did; see [`Bulk::run`](super::Bulk::run).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// Items taken from the queue and sent.
    pub submitted: u64,
    /// Items that succeeded.
    pub succeeded: u64,
    /// Items that failed for good (the stack returned the error, or recorded
    /// a dead letter and returned it).
    pub failed: u64,
    /// Items still queued when the run was stopped: never sent, handed back
    /// in [`Finished::unsent`](super::Finished::unsent).
    pub not_started: u64,
    /// How many items took how many attempts (from the retry layer's
    /// `Attempts` extension, where the stack reports it).
    pub attempts: BTreeMap<u32, u64>,
    /// The destination's counters (calls, 429s, waits), if a
    /// [`Pacer`](crate::Pacer) was attached with
    /// [`Bulk::observe`](super::Bulk::observe).
    pub stats: Option<StatsSnapshot>,
    /// From the first item taken to the last one finished (zero if none
    /// finished).
    pub wall: Duration,
}

impl Report {
    /// Items that succeeded per second of wall time.
    pub fn records_per_second(&self) -> f64 {
        if self.wall.is_zero() {
            0.0
        } else {
            self.succeeded as f64 / self.wall.as_secs_f64()
        }
    }

    /// Attempts beyond the first, over all items that reported attempts.
    pub fn retries(&self) -> u64 {
        self.attempts
            .iter()
            .map(|(attempts, items)| u64::from(attempts.saturating_sub(1)) * items)
            .sum()
    }

    /// True when every submitted item is accounted for: it succeeded or
    /// failed (and the stack returned or dead-lettered it).
    pub fn nothing_lost(&self) -> bool {
        self.succeeded + self.failed == self.submitted
    }
}
