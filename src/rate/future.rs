//! Future types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use super::limiter::{Release, RemoteReservation};
use super::precise::{FineWait, coarse_deadline};
use super::{RateError, Reservation};
use crate::BoxError;

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit): sleeps until
    /// the request's slot if it has not come yet, then calls the service.
    pub struct ResponseFuture<S, Request>
    where
        S: Service<Request>,
    {
        #[pin]
        state: State<S::Future, S, Request>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, Request> {
        Called { #[pin] future: F },
        Reserving {
            remote: RemoteReservation,
            pending: Option<(S, Request)>,
        },
        Waiting {
            // tokio's timer until shortly before the slot, then the fine
            // wait (see `precise.rs`).
            #[pin]
            sleep: Sleep,
            fine: Option<FineWait>,
            pending: Option<Pending<S, Request>>,
        },
        Failed { error: Option<RateError> },
    }
}

/// A request waiting for its slot, with the ready service to send it.
/// Dropped before the slot, the reservation gives the slot back.
struct Pending<S, Request> {
    service: S,
    request: Request,
    reservation: Reservation,
}

impl<S: Service<Request>, Request> ResponseFuture<S, Request> {
    pub(crate) fn called(future: S::Future) -> Self {
        Self {
            state: State::Called { future },
        }
    }

    pub(crate) fn waiting(reservation: Reservation, service: S, request: Request) -> Self {
        Self {
            state: State::Waiting {
                sleep: sleep_until(coarse_deadline(
                    reservation.slot(),
                    reservation.limiter().fine_waits(),
                )),
                fine: None,
                pending: Some(Pending {
                    service,
                    request,
                    reservation,
                }),
            },
        }
    }

    pub(crate) fn reserving(remote: RemoteReservation, service: S, request: Request) -> Self {
        Self {
            state: State::Reserving {
                remote,
                pending: Some((service, request)),
            },
        }
    }

    pub(crate) fn failed(error: RateError) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<S, Request> Future for ResponseFuture<S, Request>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Called { future } => return future.poll(cx).map_err(Into::into),
                StateProj::Reserving { remote, pending } => {
                    let reservation = ready!(remote.as_mut().poll(cx));
                    let Some((mut service, request)) = pending.take() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let reservation = match reservation {
                        Ok(reservation) => reservation,
                        Err(error) => return Poll::Ready(Err(error.into())),
                    };
                    if reservation.delay().is_zero() && reservation.release() == Release::Go {
                        reservation.consume();
                        let future = service.call(request);
                        state.set(State::Called { future });
                    } else {
                        state.set(State::Waiting {
                            sleep: sleep_until(coarse_deadline(
                                reservation.slot(),
                                reservation.limiter().fine_waits(),
                            )),
                            fine: None,
                            pending: Some(Pending {
                                service,
                                request,
                                reservation,
                            }),
                        });
                    }
                }
                StateProj::Waiting {
                    mut sleep,
                    fine,
                    pending,
                } => {
                    ready!(sleep.as_mut().poll(cx));
                    let Some(held) = pending.as_mut() else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let slot = held.reservation.slot();
                    if Instant::now() < slot && held.reservation.limiter().fine_waits() {
                        let wait = fine.get_or_insert_with(|| FineWait::new(slot));
                        ready!(Pin::new(wait).poll(cx));
                    }
                    *fine = None;
                    match held.reservation.release() {
                        Release::Go => {}
                        Release::NotBefore(at) => {
                            held.reservation.not_before(at);
                            sleep.reset(coarse_deadline(
                                held.reservation.slot(),
                                held.reservation.limiter().fine_waits(),
                            ));
                            continue;
                        }
                        Release::Reserve => {
                            // A pause began while this call waited (it
                            // must not go out into a server that said
                            // stop), or the call stalled past what a
                            // window band's guard covers.
                            if let Err(error) = held.reservation.renew(None) {
                                return Poll::Ready(Err(error.into()));
                            }
                            sleep.reset(coarse_deadline(
                                held.reservation.slot(),
                                held.reservation.limiter().fine_waits(),
                            ));
                            continue;
                        }
                    }
                    let Some(Pending {
                        mut service,
                        request,
                        reservation,
                    }) = pending.take()
                    else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    reservation.consume();
                    let future = service.call(request);
                    state.set(State::Called { future });
                }
                StateProj::Failed { error } => {
                    let error = error
                        .take()
                        .map_or_else(polled_after_completion, Into::into);
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

fn polled_after_completion() -> BoxError {
    "rate-limit future polled after completion".into()
}

impl<S, Request> std::fmt::Debug for ResponseFuture<S, Request>
where
    S: Service<Request>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
