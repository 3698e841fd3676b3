//! The retry decision: one pure-ish function from a classified result and
//! the request's history to "stop", "fail fast" or "retry after this long".

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use super::config::Config;
use crate::classify::{Classification, Outcome};

/// What one request has been through so far.
#[derive(Debug)]
pub(crate) struct Session {
    /// Attempts sent so far (1 after the first send).
    pub(crate) attempts: u32,
    /// When the first attempt was sent; the deadline counts from here.
    pub(crate) started: Instant,
    /// The previous backoff delay (decorrelated jitter grows from it).
    pub(crate) previous: Option<Duration>,
    /// This request's RNG stream, drawn at its first retry (so requests
    /// that never retry never touch the shared seed counter).
    pub(crate) seed: Option<u64>,
    /// Whether the request may be repeated after it reached the server.
    pub(crate) idempotent: bool,
}

/// The verdict on one attempt's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Return this result to the caller.
    Finish,
    /// The server asked for a longer wait than allowed: fail fast.
    TooLong { requested: Duration },
    /// Send again after this delay.
    Retry(Duration),
}

impl Config {
    /// Decides what to do with an attempt's result. `replayable` says
    /// whether a copy of the request is at hand.
    ///
    /// Checks run cheapest and most final first; the budget comes last so
    /// that a retry refused for another reason costs no budget.
    pub(crate) fn decide(
        &self,
        verdict: &Classification,
        session: &mut Session,
        replayable: bool,
    ) -> Decision {
        let now = Instant::now();
        let server_delay = verdict.retry_after();
        if let Outcome::RateLimited { retry_after } = verdict.outcome {
            // The server's word holds for the destination, whether or not
            // this request is retried. A refusal the books did not expect
            // also teaches the limiter (once per episode).
            // A spent daily quota says nothing about the short band's
            // spacing: no lesson to learn from it.
            if let Some(limiter) = self
                .limiter
                .as_ref()
                .filter(|_| !daily_quota_spent(verdict))
            {
                // The server's own figures for the band it refused on.
                let named = verdict
                    .info
                    .as_ref()
                    .and_then(|info| Some((info.limit?, info.window?)));
                limiter.note_refusal(retry_after.map(|wait| self.pause_length(wait)), named);
            }
            if let Some(wait) = retry_after {
                self.pause_destination(now, wait);
            }
        }
        let (reason, refused) = match verdict.outcome {
            Outcome::RateLimited { .. } => ("rate_limited", self.retry_refused),
            Outcome::Transient { .. } => ("transient", false),
            _ => return Decision::Finish,
        };
        let attempt = session.attempts;
        // A refusal was not processed: safe to send again, any method.
        if !(session.idempotent || verdict.not_sent || refused) {
            tracing::debug!(attempt, reason, "not retried: request is not idempotent");
            return Decision::Finish;
        }
        if !replayable {
            tracing::debug!(attempt, reason, "not retried: request cannot be replayed");
            return Decision::Finish;
        }
        if attempt >= self.max_attempts {
            tracing::debug!(attempt, reason, "not retried: attempts exhausted");
            return Decision::Finish;
        }
        if server_delay.is_none() && daily_quota_spent(verdict) {
            // HubSpot's and Salesforce's daily caps say no reset time: a
            // retry a backoff later is refused too, and only spends calls.
            tracing::debug!(attempt, reason, "not retried: the daily quota is spent");
            return Decision::Finish;
        }
        if let Some(requested) = server_delay.filter(|d| *d > self.max_retry_after) {
            tracing::debug!(attempt, reason, ?requested, max = ?self.max_retry_after, "not retried: server asked for too long a wait");
            return Decision::TooLong { requested };
        }
        let retry = attempt.saturating_sub(1);
        let seed = *session.seed.get_or_insert_with(|| self.seeds.next());
        let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(u64::from(retry)));
        let backoff = self.backoff.delay(retry, session.previous, &mut rng);
        let delay = self.delay(backoff, server_delay);
        if self.past_deadline(session.started, now, delay) {
            tracing::debug!(
                attempt,
                reason,
                ?delay,
                "not retried: the deadline would pass"
            );
            return Decision::Finish;
        }
        if self.budget.as_ref().is_some_and(|b| !b.withdraw()) {
            tracing::debug!(attempt, reason, "not retried: retry budget exhausted");
            return Decision::Finish;
        }
        session.previous = Some(backoff);
        tracing::debug!(attempt, reason, ?delay, ?server_delay, "retrying");
        Decision::Retry(delay)
    }

    /// `max(backoff, server delay + margin)`: the server's delay is a floor
    /// that jitter never shortens. The margin guards the edge of the
    /// server's window, so it is added only to a server delay, and not to
    /// a zero one (a past date: the window is already open).
    pub(crate) fn delay(&self, backoff: Duration, server: Option<Duration>) -> Duration {
        match server {
            Some(wait) if !wait.is_zero() => backoff.max(wait.saturating_add(self.margin)),
            _ => backoff,
        }
    }

    fn past_deadline(&self, started: Instant, now: Instant, delay: Duration) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        match (started.checked_add(deadline), now.checked_add(delay)) {
            (Some(end), Some(retry_at)) => retry_at > end,
            (None, _) => false,
            (Some(_), None) => true,
        }
    }

    /// Holds every caller of the destination back until the server's delay
    /// (plus the margin) has passed; they then resume at the limiter's pace.
    ///
    /// The pause is at most `max_retry_after`: a server (or a hostile
    /// header) asking for a day must not park every caller for a day. The
    /// first calls after a clamped pause ask again, and if the server still
    /// refuses for longer they fail fast with
    /// [`RetryError::RetryAfterTooLong`](super::RetryError::RetryAfterTooLong).
    fn pause_destination(&self, now: Instant, wait: Duration) {
        let Some(limiter) = &self.limiter else {
            return;
        };
        if wait.is_zero() {
            return;
        }
        if let Some(until) = now.checked_add(self.pause_length(wait)) {
            tracing::debug!(?wait, "rate limited: pausing the destination");
            limiter.pause_until(until);
        }
    }
}

impl Config {
    /// How long a server's delay of `wait` pauses the destination: the
    /// delay, at most `max_retry_after`, plus the safety margin.
    fn pause_length(&self, wait: Duration) -> Duration {
        wait.min(self.max_retry_after).saturating_add(self.margin)
    }
}

/// A rate-limited answer whose headers say the daily quota is at zero.
fn daily_quota_spent(verdict: &Classification) -> bool {
    matches!(verdict.outcome, Outcome::RateLimited { .. })
        && verdict
            .info
            .as_ref()
            .is_some_and(|info| info.daily_remaining == Some(0))
}
