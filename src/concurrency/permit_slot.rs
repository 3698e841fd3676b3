use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{ConcurrencyLimiter, ConcurrencyPermit};

type Acquiring = Pin<Box<dyn Future<Output = ConcurrencyPermit> + Send + Sync>>;

/// The permit a service holds between `poll_ready` and `call`.
///
/// Free permits are taken without allocating; only a service that must
/// wait keeps a (boxed) acquire future, which keeps its place in the
/// semaphore's FIFO queue across polls.
pub(crate) struct PermitSlot {
    limiter: ConcurrencyLimiter,
    permit: Option<ConcurrencyPermit>,
    acquiring: Option<Acquiring>,
}

impl PermitSlot {
    pub(crate) fn new(limiter: ConcurrencyLimiter) -> Self {
        Self {
            limiter,
            permit: None,
            acquiring: None,
        }
    }

    pub(crate) fn limiter(&self) -> &ConcurrencyLimiter {
        &self.limiter
    }

    pub(crate) fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.permit.is_some() {
            return Poll::Ready(());
        }
        if self.acquiring.is_none() {
            if let Some(permit) = self.limiter.try_acquire() {
                self.permit = Some(permit);
                return Poll::Ready(());
            }
            let limiter = self.limiter.clone();
            self.acquiring = Some(Box::pin(async move { limiter.acquire().await }));
        }
        match self
            .acquiring
            .as_mut()
            .map(|acquiring| acquiring.as_mut().poll(cx))
        {
            Some(Poll::Ready(permit)) => {
                self.acquiring = None;
                self.permit = Some(permit);
                Poll::Ready(())
            }
            Some(Poll::Pending) | None => Poll::Pending,
        }
    }

    /// The permit for a call. `call` without a ready `poll_ready` breaks
    /// tower's contract; rather than panic (as tower does), take a free
    /// permit if there is one, and otherwise let the call through uncounted
    /// with a warning.
    pub(crate) fn take_for_call(&mut self) -> Option<ConcurrencyPermit> {
        let permit = self.permit.take().or_else(|| self.limiter.try_acquire());
        if permit.is_none() {
            tracing::warn!("call without poll_ready on a full concurrency cap; not counted");
        }
        permit
    }
}

impl Clone for PermitSlot {
    /// A clone shares the cap but not the permit: it must be made ready itself.
    fn clone(&self) -> Self {
        Self::new(self.limiter.clone())
    }
}

impl fmt::Debug for PermitSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitSlot")
            .field("limiter", &self.limiter)
            .field("holds_permit", &self.permit.is_some())
            .finish()
    }
}
