use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::ConfigError;

/// A concurrency cap shared by every clone, resizable at run time.
///
/// Growing the cap adds permits at once. Shrinking takes free permits away
/// at once and, if too few are free, takes back the rest as calls in flight
/// finish, so the number in flight never rises while it drains down to the
/// new cap.
///
/// ```
/// use tower_pacer::concurrency::ConcurrencyLimiter;
///
/// let cap = ConcurrencyLimiter::new(10)?;
/// let permit = cap.try_acquire().expect("free");
/// cap.resize(2)?;
/// assert_eq!(cap.limit(), 2);
/// assert_eq!(cap.in_flight(), 1);
/// drop(permit);
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ConcurrencyLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    semaphore: Arc<Semaphore>,
    limit: AtomicUsize,
    /// Permits to retire as they come back, after a shrink found too few free.
    debt: AtomicUsize,
    /// Serialises resizes (rare) so limit and debt move together.
    resizing: Mutex<()>,
}

impl ConcurrencyLimiter {
    /// A cap of `limit` calls in flight.
    ///
    /// # Errors
    ///
    /// `concurrency.limit` must be ≥ 1 and at most [`Semaphore::MAX_PERMITS`].
    pub fn new(limit: usize) -> Result<Self, ConfigError> {
        check_limit(limit)?;
        Ok(Self {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(limit)),
                limit: AtomicUsize::new(limit),
                debt: AtomicUsize::new(0),
                resizing: Mutex::new(()),
            }),
        })
    }

    /// A cap so high it never binds ([`Semaphore::MAX_PERMITS`]), for
    /// destinations without a concurrency limit.
    pub fn unlimited() -> Self {
        Self {
            shared: Arc::new(Shared {
                semaphore: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
                limit: AtomicUsize::new(Semaphore::MAX_PERMITS),
                debt: AtomicUsize::new(0),
                resizing: Mutex::new(()),
            }),
        }
    }

    /// The cap in force.
    pub fn limit(&self) -> usize {
        self.shared.limit.load(Ordering::Acquire)
    }

    /// Calls holding a permit now (may briefly exceed the cap just after a
    /// shrink, while calls in flight finish).
    pub fn in_flight(&self) -> usize {
        let shared = &self.shared;
        let outstanding =
            shared.limit.load(Ordering::Acquire) + shared.debt.load(Ordering::Acquire);
        outstanding.saturating_sub(shared.semaphore.available_permits())
    }

    /// Change the cap.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); the cap is unchanged on error.
    pub fn resize(&self, limit: usize) -> Result<(), ConfigError> {
        check_limit(limit)?;
        let shared = &self.shared;
        let _guard = shared
            .resizing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = shared.limit.load(Ordering::Acquire);
        if limit > old {
            let mut grow = limit - old;
            // Cancel debt first: permits still out will simply stay in use.
            let _ = shared
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                    let cancelled = debt.min(grow);
                    grow -= cancelled;
                    Some(debt - cancelled)
                });
            shared.semaphore.add_permits(grow);
        } else if limit < old {
            let shrink = old - limit;
            let forgotten = shared.semaphore.forget_permits(shrink);
            shared.debt.fetch_add(shrink - forgotten, Ordering::AcqRel);
        }
        shared.limit.store(limit, Ordering::Release);
        Ok(())
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<ConcurrencyPermit> {
        match self.shared.semaphore.clone().try_acquire_owned() {
            Ok(permit) => Some(self.wrap(permit)),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }

    /// Wait for a permit (first come, first served).
    pub async fn acquire(&self) -> ConcurrencyPermit {
        match self.shared.semaphore.clone().acquire_owned().await {
            Ok(permit) => self.wrap(permit),
            // The semaphore is never closed; if it were, waiting again
            // would never end, so hand out an untracked permit instead.
            Err(_) => ConcurrencyPermit {
                permit: None,
                shared: self.shared.clone(),
            },
        }
    }

    fn wrap(&self, permit: OwnedSemaphorePermit) -> ConcurrencyPermit {
        ConcurrencyPermit {
            permit: Some(permit),
            shared: self.shared.clone(),
        }
    }

    /// True if both handles share one cap.
    pub fn same_as(&self, other: &ConcurrencyLimiter) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

fn check_limit(limit: usize) -> Result<(), ConfigError> {
    if limit == 0 {
        return Err(ConfigError::new("concurrency.limit", "must be ≥ 1"));
    }
    if limit > Semaphore::MAX_PERMITS {
        return Err(ConfigError::new(
            "concurrency.limit",
            "too large for a semaphore",
        ));
    }
    Ok(())
}

impl fmt::Debug for ConcurrencyLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimiter")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// A place under a [`ConcurrencyLimiter`]'s cap, given back when dropped.
pub struct ConcurrencyPermit {
    permit: Option<OwnedSemaphorePermit>,
    shared: Arc<Shared>,
}

impl Drop for ConcurrencyPermit {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Pay down a shrink's debt by retiring this permit instead.
        let paid = self
            .shared
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |debt| {
                debt.checked_sub(1)
            })
            .is_ok();
        if paid {
            permit.forget();
        }
    }
}

impl fmt::Debug for ConcurrencyPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyPermit").finish_non_exhaustive()
    }
}
