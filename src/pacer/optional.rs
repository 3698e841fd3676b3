//! [`Optional`]: a part of the stack that a policy turns on or off.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tower_service::Service;

use crate::BoxError;

/// A part of a [`PacerService`](super::PacerService) that the policy turns
/// on or off (the adaptive controllers): `On` is the layer's service
/// around `S`, `Off` is `S` itself.
///
/// The crate's own type rather than `tower::util::Either`, so the stack's
/// public type does not change with tower's. Errors are boxed, as tower's
/// middleware errors are.
#[derive(Debug, Clone)]
pub enum Optional<On, Off> {
    /// The part is in the stack.
    On(On),
    /// The part is left out.
    Off(Off),
}

impl<On, Off, Request> Service<Request> for Optional<On, Off>
where
    On: Service<Request>,
    On::Error: Into<BoxError>,
    Off: Service<Request, Response = On::Response>,
    Off::Error: Into<BoxError>,
{
    type Response = On::Response;
    type Error = BoxError;
    type Future = OptionalFuture<On::Future, Off::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Optional::On(service) => service.poll_ready(cx).map_err(Into::into),
            Optional::Off(service) => service.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self {
            Optional::On(service) => OptionalFuture {
                inner: Inner::On {
                    future: service.call(request),
                },
            },
            Optional::Off(service) => OptionalFuture {
                inner: Inner::Off {
                    future: service.call(request),
                },
            },
        }
    }
}

pin_project! {
    /// The response future of [`Optional`].
    #[derive(Debug)]
    pub struct OptionalFuture<On, Off> {
        #[pin]
        inner: Inner<On, Off>,
    }
}

pin_project! {
    #[project = InnerProj]
    #[derive(Debug)]
    enum Inner<On, Off> {
        On { #[pin] future: On },
        Off { #[pin] future: Off },
    }
}

impl<On, Off, T, E1, E2> Future for OptionalFuture<On, Off>
where
    On: Future<Output = Result<T, E1>>,
    Off: Future<Output = Result<T, E2>>,
    E1: Into<BoxError>,
    E2: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.project() {
            InnerProj::On { future } => future.poll(cx).map_err(Into::into),
            InnerProj::Off { future } => future.poll(cx).map_err(Into::into),
        }
    }
}
