//! Future types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;

use super::capture::Snapshot;
use super::layer::DeadLetterLayer;
use super::{DeadLetter, FailureKind};
use crate::BoxError;
use crate::classify::{Classify, Outcome};
use crate::feedback::Attempts;
use crate::rate::RateError;
use crate::retry::RetryError;

type Put = Pin<Box<dyn Future<Output = Result<String, super::StoreError>> + Send>>;

pin_project! {
    /// The response future of [`DeadLetterService`](super::DeadLetterService):
    /// the call, then, if it failed for good, the store's `put`.
    pub struct ResponseFuture<F, C, RB> {
        #[pin]
        state: State<F, RB>,
        snapshot: Option<Snapshot>,
        layer: DeadLetterLayer<C>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, RB> {
        Calling { #[pin] call: F },
        Storing { put: Put, result: Option<Result<http::Response<RB>, BoxError>> },
    }
}

impl<F, C, RB> ResponseFuture<F, C, RB> {
    pub(crate) fn new(call: F, snapshot: Snapshot, layer: DeadLetterLayer<C>) -> Self {
        Self {
            state: State::Calling { call },
            snapshot: Some(snapshot),
            layer,
        }
    }
}

impl<F, E, C, RB> Future for ResponseFuture<F, C, RB>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    E: Into<BoxError>,
    C: Classify<http::Response<RB>, BoxError>,
{
    type Output = Result<http::Response<RB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { call } => {
                    let result = ready!(call.poll(cx)).map_err(Into::into);
                    let Some((kind, attempts, message)) = failure(&result, &*this.layer.classifier)
                    else {
                        return Poll::Ready(result);
                    };
                    let Some(snapshot) = this.snapshot.take() else {
                        return Poll::Ready(result);
                    };
                    let mut letter: DeadLetter = snapshot.into_letter(&this.layer.destination);
                    letter.kind = kind;
                    letter.attempts = attempts;
                    // Errors repeat URLs and headers; the message is stored too.
                    letter.message = this.layer.redaction.text(&message);
                    let store = this.layer.store.clone();
                    let put: Put = Box::pin(async move { store.put(letter).await });
                    this.state.set(State::Storing {
                        put,
                        result: Some(result),
                    });
                }
                StateProj::Storing { put, result } => {
                    match ready!(put.as_mut().poll(cx)) {
                        Ok(id) => {
                            this.layer.counters.stored.increment();
                            tracing::debug!(
                                id,
                                destination = &*this.layer.destination,
                                "dead letter stored"
                            )
                        }
                        // The caller's own error matters more than the store's.
                        Err(error) => {
                            this.layer.counters.lost.increment();
                            tracing::error!(
                                error = %this.layer.redaction.text(&error.to_string()),
                                "dead letter NOT stored"
                            )
                        }
                    }
                    return Poll::Ready(match result.take() {
                        Some(result) => result,
                        None => Err("dead-letter future polled after completion".into()),
                    });
                }
            }
        }
    }
}

/// Why `result` is a failure for good, if it is: kind, attempts, message.
fn failure<RB, C>(
    result: &Result<http::Response<RB>, BoxError>,
    classifier: &C,
) -> Option<(FailureKind, u32, String)>
where
    C: Classify<http::Response<RB>, BoxError>,
{
    match result {
        Ok(response) => {
            let attempts = response.extensions().get::<Attempts>().map_or(1, |a| a.0);
            let kind = match classifier.classify(result).outcome {
                Outcome::Success => return None,
                Outcome::Permanent => FailureKind::Permanent,
                _ => FailureKind::RetriesExhausted,
            };
            Some((kind, attempts, format!("HTTP {}", response.status())))
        }
        Err(error) => {
            let (kind, attempts) = if let Some(RetryError::RetryAfterTooLong { attempts, .. }) =
                error.downcast_ref()
            {
                (FailureKind::RetryAfterTooLong, *attempts)
            } else if let Some(RateError::QuotaExhausted { .. }) = error.downcast_ref() {
                (FailureKind::QuotaExhausted, 0)
            } else if classifier.classify(result).outcome == Outcome::Permanent {
                (FailureKind::Permanent, 1)
            } else {
                (FailureKind::Transport, 1)
            };
            Some((kind, attempts, error.to_string()))
        }
    }
}

impl<F, C, RB> std::fmt::Debug for ResponseFuture<F, C, RB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
