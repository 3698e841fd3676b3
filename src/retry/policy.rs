//! The retry decision: one pure function from a classified result and
//! the request's history to "stop", "fail fast" or "retry after this long".

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

use super::RetryBudget;
use super::config::Config;
use crate::classify::{Classification, Outcome};
use crate::feedback::daily_quota_spent;

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
    /// Send again after `delay` (the backoff drawn, which the next
    /// decision grows from, may be shorter than a server's delay).
    Retry { delay: Duration, backoff: Duration },
}

impl Config {
    /// Decides what to do with an attempt's result, at `now`. `replayable`
    /// says whether a copy of the request is at hand.
    ///
    /// A pure function of its arguments: it writes nothing (the limiter
    /// hears the verdict from the [`Steward`](crate::feedback::Steward),
    /// the retry budget is spent by the caller on a `Retry`), so it is
    /// tested as one. The jitter's stream is `session.seed` (0 when unset).
    pub(crate) fn decide(
        &self,
        verdict: &Classification,
        session: &Session,
        replayable: bool,
        now: Instant,
    ) -> Decision {
        let server_delay = verdict.retry_after();
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
        let seed = session.seed.unwrap_or(0);
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
        tracing::debug!(attempt, reason, ?delay, ?server_delay, "retrying");
        Decision::Retry { delay, backoff }
    }

    /// Spends one retry from the budget (if there is one); false when it
    /// is exhausted. Called on a `Retry` decision only, so that a retry
    /// refused for another reason costs no budget.
    pub(crate) fn spend_budget(&self) -> bool {
        let spent = self.budget.as_ref().is_none_or(RetryBudget::withdraw);
        if !spent {
            tracing::debug!("not retried: retry budget exhausted");
        }
        spent
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
}

#[cfg(test)]
mod tests {
    //! `decide` as the pure function it is: the same arguments give the
    //! same decision, and nothing outside it changes.

    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Decision, Session};
    use crate::classify::{Classification, Outcome};
    use crate::headers::RateLimitInfo;
    use crate::rate::{Limiter, Quota};
    use crate::retry::{Backoff, Jitter, RetryBudget, RetryLayer};

    fn session(attempts: u32, idempotent: bool) -> Session {
        Session {
            attempts,
            started: Instant::now(),
            previous: None,
            seed: Some(7),
            idempotent,
        }
    }

    fn throttled(retry_after: Option<Duration>) -> Classification {
        Classification::new(Outcome::RateLimited { retry_after })
    }

    fn layer() -> RetryLayer {
        RetryLayer::builder()
            .max_attempts(3)
            .backoff(
                Backoff::new(
                    Duration::from_millis(100),
                    Duration::from_secs(1),
                    Jitter::None,
                )
                .expect("valid"),
            )
            .no_budget()
            .build()
            .expect("valid")
    }

    #[test]
    fn the_same_arguments_give_the_same_decision() {
        let layer = layer();
        let config = &layer.shared().config;
        let now = Instant::now();
        let verdict = throttled(Some(Duration::from_secs(2)));
        let first = config.decide(&verdict, &session(1, true), true, now);
        let again = config.decide(&verdict, &session(1, true), true, now);
        assert_eq!(first, again);
        // The server's delay plus the 50 ms margin is the floor.
        assert_eq!(
            first,
            Decision::Retry {
                delay: Duration::from_millis(2050),
                backoff: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn each_rule_finishes_in_its_turn() {
        let layer = layer();
        let config = &layer.shared().config;
        let now = Instant::now();
        let transient = Classification::new(Outcome::Transient { retry_after: None });
        // Success and permanent failures are final.
        for outcome in [Outcome::Success, Outcome::Permanent] {
            let verdict = Classification::new(outcome);
            assert_eq!(
                config.decide(&verdict, &session(1, true), true, now),
                Decision::Finish
            );
        }
        // A transient failure of a non-idempotent request is not repeated…
        assert_eq!(
            config.decide(&transient, &session(1, false), true, now),
            Decision::Finish
        );
        // …unless it provably never left.
        assert!(matches!(
            config.decide(
                &transient.clone().with_not_sent(true),
                &session(1, false),
                true,
                now
            ),
            Decision::Retry { .. }
        ));
        // A refusal is retried whatever the method (retry_refused).
        assert!(matches!(
            config.decide(&throttled(None), &session(1, false), true, now),
            Decision::Retry { .. }
        ));
        // No copy of the request, no retry.
        assert_eq!(
            config.decide(&transient, &session(1, true), false, now),
            Decision::Finish
        );
        // Attempts exhausted.
        assert_eq!(
            config.decide(&transient, &session(3, true), true, now),
            Decision::Finish
        );
        // A server asking for longer than max_retry_after fails fast.
        let day = Duration::from_secs(86_400);
        assert_eq!(
            config.decide(&throttled(Some(day)), &session(1, true), true, now),
            Decision::TooLong { requested: day }
        );
        // A spent daily quota with no reset time is not retried.
        let spent = throttled(None).with_info(RateLimitInfo {
            daily_remaining: Some(0),
            ..RateLimitInfo::default()
        });
        assert_eq!(
            config.decide(&spent, &session(1, true), true, now),
            Decision::Finish
        );
    }

    #[test]
    fn the_deadline_counts_from_the_first_attempt() {
        let layer = RetryLayer::builder()
            .deadline(Duration::from_secs(1))
            .no_budget()
            .build()
            .expect("valid");
        let config = &layer.shared().config;
        let started = session(1, true);
        let verdict = throttled(Some(Duration::from_millis(500)));
        assert!(matches!(
            config.decide(&verdict, &started, true, started.started),
            Decision::Retry { .. }
        ));
        // 600 ms later, a 550 ms wait ends past the deadline.
        let later = started.started + Duration::from_millis(600);
        assert_eq!(
            config.decide(&verdict, &started, true, later),
            Decision::Finish
        );
    }

    #[tokio::test(start_paused = true)]
    async fn deciding_writes_nothing() {
        // A layer given a limiter still decides without touching it, and
        // without spending the budget: the steward and the caller do that.
        let limiter = Limiter::new(Quota::per_second(10).expect("valid"));
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.0).expect("valid");
        let layer = RetryLayer::builder()
            .limiter(limiter.clone())
            .budget(budget.clone())
            .build()
            .expect("valid");
        let config = &layer.shared().config;
        let verdict = throttled(Some(Duration::from_secs(5)));
        for _ in 0..3 {
            assert!(matches!(
                config.decide(&verdict, &session(1, true), true, Instant::now()),
                Decision::Retry { .. }
            ));
        }
        assert_eq!(limiter.paused_until(), None, "decide paused the limiter");
        assert!(limiter.snapshot().learned.is_none());
        // The budget (no reserve, no ratio) refuses the first withdrawal:
        // spent only by `spend_budget`.
        assert!(!config.spend_budget());
    }
}
