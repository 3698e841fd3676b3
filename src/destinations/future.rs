//! Future types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower_service::Service;

use super::DestinationError;
use super::registry::InFlight;
use crate::BoxError;
use crate::pacer::PacerService;

pin_project! {
    /// The response future of [`Destinations`](super::Destinations): the
    /// request going through its destination's own stack.
    pub struct ResponseFuture<S, Request>
    where
        PacerService<S>: Service<Request>,
    {
        #[pin]
        state: State<Oneshot<PacerService<S>, Request>, InFlight>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, G> {
        Routed { #[pin] call: F, _hold: G },
        Failed { error: Option<DestinationError> },
    }
}

impl<S, Request> ResponseFuture<S, Request>
where
    PacerService<S>: Service<Request>,
{
    pub(crate) fn routed(stack: PacerService<S>, hold: InFlight, request: Request) -> Self {
        Self {
            state: State::Routed {
                call: Oneshot::new(stack, request),
                _hold: hold,
            },
        }
    }

    pub(crate) fn failed(error: DestinationError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<S, Request, Response> Future for ResponseFuture<S, Request>
where
    PacerService<S>: Service<Request, Response = Response, Error = BoxError>,
{
    type Output = Result<Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Routed { call, .. } => call.poll(cx),
            StateProj::Failed { error } => Poll::Ready(Err(match error.take() {
                Some(error) => error.into(),
                None => "destination future polled after completion".into(),
            })),
        }
    }
}

impl<S, Request> std::fmt::Debug for ResponseFuture<S, Request>
where
    PacerService<S>: Service<Request>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
