//! The admission gate: callers wait for the controller's *current* rate
//! before they reserve a slot on the limiter.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{Either, select};
use tokio::sync::{Mutex, Notify};
use tokio::time::{Instant, sleep_until};

use crate::adaptive::Rate;

/// Why a gate exists at all: the limiter hands out FIFO slots that are
/// fixed once reserved. If the rate collapses to 0.5/s, 64 queued callers
/// hold slots up to 128 s away, and a rate increase cannot bring them
/// closer; at a low rate, every waiter would reserve far ahead. The gate
/// keeps them out of the limiter until the current rate lets them go, so
/// the limiter's queue stays short and a new rate takes effect at once.
///
/// A token bucket (refilled at the rate in force at each check, with the
/// controller's burst), behind an async FIFO mutex: only the head of the
/// line sleeps on a timer, and it is woken early when the rate changes.
pub(crate) struct Gate {
    bucket: Mutex<Bucket>,
    changed: Notify,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Option<Instant>,
}

impl Bucket {
    /// Take a token at `now`, or say how long until one is there.
    fn take(&mut self, now: Instant, (rate, burst): (Rate, f64)) -> Option<Duration> {
        let Rate::PerSecond(rate) = rate else {
            self.refilled = Some(now);
            return None;
        };
        let elapsed = self.refilled.map_or(0.0, |then| {
            now.saturating_duration_since(then).as_secs_f64()
        });
        self.tokens = (self.tokens + elapsed * rate).min(burst.max(1.0));
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        // Rates are > 0 (the controller clamps them); an hour caps a
        // nonsensical wait, and the loop looks again afterwards.
        Some(Duration::from_secs_f64(
            ((1.0 - self.tokens) / rate).min(3600.0),
        ))
    }
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                tokens: 1.0,
                refilled: None,
            }),
            changed: Notify::new(),
        }
    }

    /// The rate changed: wake the head of the line to look again.
    pub(crate) fn rate_changed(&self) {
        self.changed.notify_waiters();
    }

    /// A pass at once, if nobody is in line and the bucket has a token.
    pub(crate) fn try_pass(&self, pace: (Rate, f64)) -> bool {
        match self.bucket.try_lock() {
            Ok(mut bucket) => bucket.take(Instant::now(), pace).is_none(),
            Err(_) => false,
        }
    }

    /// Wait for a pass; `pace` gives the rate and burst in force.
    pub(crate) async fn pass(&self, pace: impl Fn() -> (Rate, f64)) {
        let mut bucket = self.bucket.lock().await;
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the rate is read, so no change is missed.
            changed.as_mut().enable();
            let now = Instant::now();
            let Some(wait) = bucket.take(now, pace()) else {
                return;
            };
            // At most an hour ahead, so this cannot fail; if it did,
            // letting the caller on to the limiter is the safe side.
            let Some(deadline) = now.checked_add(wait) else {
                return;
            };
            let sleep = std::pin::pin!(sleep_until(deadline));
            match select(sleep, changed).await {
                Either::Left(_) | Either::Right(_) => {}
            }
        }
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

pub(crate) type Passing = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// One service clone's place at the gate, between `poll_ready` and `call`.
pub(crate) struct GateSlot {
    passed: bool,
    passing: Option<Passing>,
}

impl GateSlot {
    pub(crate) fn new() -> Self {
        Self {
            passed: false,
            passing: None,
        }
    }

    /// Ready once this clone holds a pass; `start` makes the wait.
    pub(crate) fn poll_pass(
        &mut self,
        cx: &mut Context<'_>,
        start: impl FnOnce() -> Passing,
    ) -> Poll<()> {
        if self.passed {
            return Poll::Ready(());
        }
        let passing = self.passing.get_or_insert_with(start);
        match passing.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.passing = None;
                self.passed = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn is_passed(&self) -> bool {
        self.passed
    }

    /// Record a pass taken without waiting.
    pub(crate) fn set_passed(&mut self) {
        self.passed = true;
    }

    /// Use the pass for a call. A call without `poll_ready` (against
    /// tower's contract) goes through ungated rather than panicking.
    pub(crate) fn take(&mut self) {
        self.passed = false;
    }
}

impl fmt::Debug for GateSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateSlot")
            .field("passed", &self.passed)
            .finish()
    }
}
