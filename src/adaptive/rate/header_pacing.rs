//! Header-driven pacing: spend what the server says is left over the time
//! it says is left.

use std::time::Duration;

use tokio::time::Instant;

use crate::headers::RateLimitInfo;

/// How far apart two responses' reset bounds may be and still describe
/// the same window: whole-second rounding, plus latency jitter.
const SAME_WINDOW_SLACK: Duration = Duration::from_secs(2);

/// What the latest response's quota headers allow, while they hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cap {
    /// Calls per second.
    pub(crate) rate: f64,
    /// When the cap lapses (the server's window reset, or later).
    pub(crate) until: Instant,
}

/// What the controller should do after a response's headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Action {
    /// Nothing to learn from this response.
    Keep,
    /// Enforce the (new) cap.
    Pace,
    /// Nothing is left before `until`: pause the limiter until then, and
    /// enforce the cap from then on.
    Pause { until: Instant },
}

/// Turns `remaining r` / `reset t` into a rate cap of `r / t`.
///
/// Why a cap and not a pause at 0 only: a client that spends the `r`
/// remaining calls at once is refused for the rest of the window, and its
/// waiters then leave together when it resets. Spreading them keeps every
/// call accepted and the flow even.
///
/// `r` counts the calls the server had seen when it answered. Calls sent
/// after this one were not counted yet (with equal latencies they arrive
/// later), so they are taken off `r` first: `sends_after` — with the
/// controller above the limiter, that includes calls still queued for a
/// slot, which will spend the quota too.
///
/// When the window resets, the cap lapses; if the server also gave its
/// quota and window, calls go on at the sustained pace (quota ÷ window) for
/// one more window, until fresh headers arrive, so that the waiters do not
/// spend the new window at once.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderPacing {
    cap: Option<Cap>,
    /// The earliest reset any response of the current window implied,
    /// and the `remaining` of the latest response.
    reset_at: Option<(Instant, u64)>,
    /// The sustained pace, from `cap.until` on.
    next: Option<Cap>,
}

impl HeaderPacing {
    /// The cap in force at `now`, if any.
    pub(crate) fn cap(&self, now: Instant) -> Option<f64> {
        [self.cap, self.next]
            .into_iter()
            .flatten()
            .find(|cap| now < cap.until)
            .map(|cap| cap.rate)
    }

    /// Learn from one response's headers.
    pub(crate) fn observe(
        &mut self,
        info: &RateLimitInfo,
        sends_after: u64,
        now: Instant,
    ) -> Action {
        let (Some(remaining), Some(reset)) = (info.remaining, info.reset_after) else {
            return Action::Keep;
        };
        // The sustained pace, if the server told us its quota and window.
        let sustained = match (info.limit, info.window) {
            (Some(limit), Some(window)) if !window.is_zero() && limit > 0 => {
                Some((limit as f64 / window.as_secs_f64(), window))
            }
            _ => None,
        };
        let Some(mut until) = now.checked_add(reset) else {
            return Action::Keep;
        };
        // `t` is whole seconds, typically rounded up: each response only
        // bounds the reset from above. Within one window, the tightest
        // bound seen so far is the best estimate. A response belongs to
        // the same window if that reset is still ahead, its `remaining`
        // has not gone up (a new window refills it) and its own bound is
        // within the rounding (a second, plus latency) of the earlier one.
        let same_window = |(at, last): &(Instant, u64)| {
            now < *at
                && *at < until
                && remaining <= *last
                && until.saturating_duration_since(*at) <= SAME_WINDOW_SLACK
        };
        if let Some((earlier, _)) = self.reset_at.filter(same_window) {
            until = earlier;
        }
        self.reset_at = Some((until, remaining));
        let reset = until.saturating_duration_since(now);
        self.next = sustained.and_then(|(rate, window)| {
            Some(Cap {
                rate,
                until: until.checked_add(window.max(Duration::from_secs(1)))?,
            })
        });
        if reset.is_zero() {
            // The window has just reset: only the sustained pace applies.
            self.cap = None;
            return Action::Pace;
        }
        let left = remaining.saturating_sub(sends_after);
        if left == 0 {
            // Nothing may go out before the reset.
            self.cap = None;
            return Action::Pause { until };
        }
        let rate = left as f64 / reset.as_secs_f64();
        self.cap = Some(Cap { rate, until });
        Action::Pace
    }
}
