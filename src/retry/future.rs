//! [`ResponseFuture`]: one request's attempts, as a state machine.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep};
use tower_service::Service;

use super::config::Shared;
use super::policy::{Decision, Session};
use super::{Replay, RetryError};
use crate::BoxError;
use crate::classify::Classify;
use crate::feedback::unstamp;

pin_project! {
    /// The response future of [`Retry`](super::Retry): sends, classifies
    /// the result, and sleeps and sends again while the policy says so.
    pub struct ResponseFuture<S, C, R, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        pending: Option<Pending<S, Req>>,
        shared: Arc<Shared<C, R>>,
        session: Session,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is in flight.
        Called { #[pin] future: F },
        // Waiting out the delay before the next attempt.
        Sleeping { #[pin] sleep: Sleep },
        // Waiting for the inner service to be ready for the next attempt.
        Readying,
        // The output was returned.
        Done,
    }
}

/// What a retry needs: a service to send with and the request to copy.
pub(crate) struct Pending<S, Req> {
    pub(crate) service: S,
    pub(crate) request: Req,
}

impl<S: Service<Req>, C, R, Req> ResponseFuture<S, C, R, Req> {
    pub(crate) fn new(
        future: S::Future,
        pending: Option<Pending<S, Req>>,
        shared: Arc<Shared<C, R>>,
        session: Session,
    ) -> Self {
        Self {
            state: State::Called { future },
            pending,
            shared,
            session,
        }
    }
}

impl<S, C, R, Req> Future for ResponseFuture<S, C, R, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req, S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    let verdict = this.shared.classifier.classify(&result);
                    let config = &this.shared.config;
                    if let Some(steward) = &config.steward {
                        steward.on_verdict(&verdict);
                    }
                    if verdict.is_retryable() && this.session.seed.is_none() {
                        // Drawn at the first retryable answer, so requests
                        // that never retry never touch the shared counter.
                        this.session.seed = Some(config.seeds.next());
                    }
                    let decision = match config.decide(
                        &verdict,
                        this.session,
                        this.pending.is_some(),
                        Instant::now(),
                    ) {
                        Decision::Retry { .. } if !config.spend_budget() => Decision::Finish,
                        decision => decision,
                    };
                    match decision {
                        Decision::Retry { delay, backoff } => {
                            this.session.previous = Some(backoff);
                            this.state.set(State::Sleeping {
                                sleep: sleep(delay),
                            });
                        }
                        Decision::Finish => {
                            this.state.set(State::Done);
                            let attempts = this.session.attempts;
                            let replay = &this.shared.replay;
                            return Poll::Ready(match result {
                                Ok(mut response) => {
                                    replay.record_attempts(&mut response, attempts);
                                    Ok(response)
                                }
                                // The caller sees the client's own error.
                                Err(error) => Err(unstamp(error.into())),
                            });
                        }
                        Decision::TooLong { requested } => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(RetryError::RetryAfterTooLong {
                                requested,
                                max: this.shared.config.max_retry_after,
                                attempts: this.session.attempts,
                            }
                            .into()));
                        }
                    }
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(pending) = this.pending.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    if let Err(error) = ready!(pending.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error.into()));
                    }
                    this.session.attempts = this.session.attempts.saturating_add(1);
                    let last = this.session.attempts >= this.shared.config.max_attempts;
                    // More attempts may follow: send a copy, keep the original.
                    let copy = if last {
                        None
                    } else {
                        this.shared.replay.replay(&pending.request)
                    };
                    let future = match copy {
                        Some(copy) => pending.service.call(copy),
                        // The last attempt (or a copy failed): send the
                        // original itself; nothing is left to retry with.
                        None => match this.pending.take() {
                            Some(Pending {
                                mut service,
                                request,
                            }) => service.call(request),
                            None => return Poll::Ready(Err(polled_after_completion())),
                        },
                    };
                    this.state.set(State::Called { future });
                }
                StateProj::Done => return Poll::Ready(Err(polled_after_completion())),
            }
        }
    }
}

fn polled_after_completion() -> BoxError {
    "retry future polled after completion".into()
}

impl<S, C, R, Req> fmt::Debug for ResponseFuture<S, C, R, Req>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}
