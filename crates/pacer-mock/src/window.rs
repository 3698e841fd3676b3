//! One window quota's exact accounting, as a pure struct driven by explicit
//! instants (so it is tested exactly, without a server or a clock).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::config::{WindowMode, WindowQuota};

/// Accounting of one window quota for one key.
///
/// A request at `t` is counted against the interval `(t - window, t]`: a
/// request accepted at `s` stops counting at exactly `s + window`. The
/// accepted timestamps of the last window are kept (at most `limit` for a
/// sliding window, `2 × limit` for a fixed one), which is both what the
/// sliding check needs and what makes `max_seen` exact.
#[derive(Debug, Clone)]
pub struct WindowCounter {
    quota: WindowQuota,
    /// Real (scaled) window length.
    window: Duration,
    /// Fixed windows are aligned on this instant.
    origin: Instant,
    /// Accepted timestamps within the last `window`, oldest first.
    recent: VecDeque<Instant>,
    /// Fixed mode: index of the current window and its count.
    fixed_index: u128,
    fixed_count: u64,
    /// Only acceptances at or after this instant count towards `max_seen`
    /// (moved forward when statistics are reset).
    stats_since: Instant,
    max_seen: u64,
    /// Latest instant seen, so a caller's slightly stale `now` cannot move
    /// time backwards.
    last: Instant,
}

/// Where a quota stands at one instant, for rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaStatus {
    /// `true` for the GCRA rate, `false` for a window quota.
    pub rate: bool,
    /// Requests allowed per window (or burst, for a rate).
    pub limit: u64,
    /// Nominal window (or period) length, unscaled.
    pub nominal: Duration,
    /// Real (scaled) window length.
    pub window: Duration,
    /// Requests that could be accepted now.
    pub remaining: u64,
    /// Time until `remaining` next grows (zero when nothing is counted; for
    /// a rate that still has room, until the burst is whole again).
    pub reset: Duration,
}

impl WindowCounter {
    /// A counter for `quota` whose real window is `window`, with fixed
    /// windows aligned on `origin`.
    pub fn new(quota: WindowQuota, window: Duration, origin: Instant) -> Self {
        Self {
            quota,
            window: window.max(Duration::from_nanos(1)),
            origin,
            recent: VecDeque::new(),
            fixed_index: 0,
            fixed_count: 0,
            stats_since: origin,
            max_seen: 0,
            last: origin,
        }
    }

    /// The quota this counter enforces.
    pub fn quota(&self) -> &WindowQuota {
        &self.quota
    }

    /// Real window length.
    pub fn window(&self) -> Duration {
        self.window
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last);
        self.last = now;
        while let Some(&front) = self.recent.front() {
            if now.duration_since(front) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.quota.mode == WindowMode::Fixed {
            let index = self.fixed_index_at(now);
            if index != self.fixed_index {
                self.fixed_index = index;
                self.fixed_count = 0;
            }
        }
        now
    }

    fn fixed_index_at(&self, now: Instant) -> u128 {
        now.saturating_duration_since(self.origin).as_nanos() / self.window.as_nanos()
    }

    fn fixed_end(&self) -> Instant {
        // index + 1 windows after the origin; u32 overflow is impossible for
        // validated windows within the server's life, saturate anyway.
        let nanos = (self.fixed_index + 1).saturating_mul(self.window.as_nanos());
        let offset = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.origin.checked_add(offset).unwrap_or(self.last)
    }

    fn used(&self) -> u64 {
        match self.quota.mode {
            WindowMode::Sliding => self.recent.len() as u64,
            WindowMode::Fixed => self.fixed_count,
        }
    }

    /// Time until `remaining` grows by one, measured from `now` (already advanced).
    fn next_room(&self, now: Instant) -> Duration {
        match self.quota.mode {
            WindowMode::Sliding => self
                .recent
                .front()
                .map(|&front| (front + self.window).saturating_duration_since(now))
                .unwrap_or_default(),
            WindowMode::Fixed if self.fixed_count > 0 => {
                self.fixed_end().saturating_duration_since(now)
            }
            WindowMode::Fixed => Duration::ZERO,
        }
    }

    /// How long from `now` until a request would find room (zero if it
    /// would now). Waiting that long is enough, unless others consume it.
    pub fn wait(&mut self, now: Instant) -> Duration {
        let now = self.advance(now);
        if self.used() < self.quota.limit {
            Duration::ZERO
        } else {
            self.next_room(now)
        }
    }

    /// Records an accepted request at `now`. Call only after [`wait`](Self::wait)
    /// returned zero for the same instant.
    pub fn admit(&mut self, now: Instant) {
        let now = self.advance(now);
        self.recent.push_back(now);
        self.fixed_count += 1;
        // `recent` is sorted, so the acceptances since the last stats reset
        // are a suffix of it.
        let since = self.recent.partition_point(|&t| t < self.stats_since);
        self.max_seen = self.max_seen.max((self.recent.len() - since) as u64);
    }

    /// Largest number of accepted requests seen in any interval of the
    /// window's length (since the last [`reset_stats`](Self::reset_stats)).
    pub fn max_seen(&self) -> u64 {
        self.max_seen
    }

    /// Forgets `max_seen`; acceptances before `now` no longer count towards it.
    pub fn reset_stats(&mut self, now: Instant) {
        self.stats_since = now.max(self.last);
        self.max_seen = 0;
    }

    /// The quota's standing at `now`.
    pub fn status(&mut self, now: Instant) -> QuotaStatus {
        let now = self.advance(now);
        QuotaStatus {
            rate: false,
            limit: self.quota.limit,
            nominal: self.quota.window,
            window: self.window,
            remaining: self.quota.limit.saturating_sub(self.used()),
            reset: self.next_room(now),
        }
    }
}
