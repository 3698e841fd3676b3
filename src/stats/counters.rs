use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters shared by every clone; see the [module docs](super).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    counters: Arc<Counters>,
    /// The destination, for tracing spans and metric labels.
    name: Option<Arc<str>>,
    #[cfg(feature = "metrics")]
    handles: Option<Arc<super::metrics::Handles>>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    attempts: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

/// A copy of a [`Stats`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Requests that entered the stack.
    pub requests: u64,
    /// Requests that ended in a 1xx–3xx response.
    pub succeeded: u64,
    /// Requests that ended in an error or a 4xx/5xx response.
    pub failed: u64,
    /// Attempts that reached the inner service (requests plus retries).
    pub attempts: u64,
    /// Attempts answered with 429 Too Many Requests.
    pub rate_limited: u64,
    /// Attempts answered with a 5xx status.
    pub server_errors: u64,
    /// Attempts that failed without a response.
    pub transport_errors: u64,
    /// Calls that had to wait for their slot on the limiter (filled in by
    /// [`Pacer::stats`](crate::Pacer::stats)).
    pub waited: u64,
    /// Their total wait.
    pub total_wait: Duration,
    /// The adaptive rate in force (calls per second; `Some(∞)` while
    /// unlimited), when the destination has one.
    pub adaptive_rate: Option<f64>,
    /// The adaptive concurrency cap in force, when the destination has one.
    pub adaptive_concurrency: Option<usize>,
    /// Refusals by the server that came while the limiter's books said
    /// there was room — the server counts differently from the policy
    /// (filled in by [`Pacer::stats`](crate::Pacer::stats); see
    /// [`Limiter::note_refusal`](crate::rate::Limiter::note_refusal)).
    pub limit_mismatch: u64,
    /// The share of its quota the binding band grants after what those
    /// refusals taught (1 = as configured; filled in by
    /// [`Pacer::stats`](crate::Pacer::stats)).
    pub learned_factor: Option<f64>,
}

impl StatsSnapshot {
    /// Attempts beyond the first of each request.
    pub fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.requests)
    }

    /// The share of attempts answered with 429, in `[0, 1]` (0 with no
    /// attempts). Above 0.05, the article's alert line, pacing is off.
    pub fn rate_limited_ratio(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.rate_limited as f64 / self.attempts as f64
        }
    }
}

impl Stats {
    /// New counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// New counters for the destination `name`; with the `metrics` feature
    /// they also report through the `metrics` facade, labelled with it.
    pub fn named(name: &str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = name;
        Self {
            counters: Arc::default(),
            name: Some(Arc::from(name)),
            #[cfg(feature = "metrics")]
            handles: Some(Arc::new(super::metrics::Handles::new(name))),
        }
    }

    /// The destination's name, if given to [`named`](Self::named).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: load(&c.requests),
            succeeded: load(&c.succeeded),
            failed: load(&c.failed),
            attempts: load(&c.attempts),
            rate_limited: load(&c.rate_limited),
            server_errors: load(&c.server_errors),
            transport_errors: load(&c.transport_errors),
            waited: 0,
            total_wait: Duration::ZERO,
            adaptive_rate: None,
            adaptive_concurrency: None,
            limit_mismatch: 0,
            learned_factor: None,
        }
    }

    pub(crate) fn request(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A request ended, well or not, after `attempts` (if known).
    pub(crate) fn request_ended(&self, succeeded: bool, attempts: Option<u32>) {
        let counter = if succeeded {
            &self.counters.succeeded
        } else {
            &self.counters.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.handles {
            if succeeded { &m.succeeded } else { &m.failed }.increment(1);
            if let Some(attempts) = attempts {
                m.attempts_per_request.record(f64::from(attempts));
                m.retries.increment(u64::from(attempts.saturating_sub(1)));
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = attempts;
    }

    pub(crate) fn attempt(&self) {
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.handles {
            m.attempts.increment(1);
            m.in_flight.increment(1.0);
        }
    }

    /// An attempt dropped before its answer (the caller went away, or a
    /// timeout above cut it short): it is no longer in flight.
    pub(crate) fn attempt_cancelled(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.handles {
            m.in_flight.decrement(1.0);
        }
    }

    /// An attempt's answer: its status, or `None` for a transport error.
    pub(crate) fn answer(&self, status: Option<http::StatusCode>) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.handles {
            m.in_flight.decrement(1.0);
            match status {
                Some(http::StatusCode::TOO_MANY_REQUESTS) => m.rate_limited.increment(1),
                Some(status) if status.is_server_error() => m.server_errors.increment(1),
                Some(_) => {}
                None => m.transport_errors.increment(1),
            }
        }
        let counter = match status {
            Some(http::StatusCode::TOO_MANY_REQUESTS) => &self.counters.rate_limited,
            Some(status) if status.is_server_error() => &self.counters.server_errors,
            Some(_) => return,
            None => &self.counters.transport_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// True if both handles count into the same counters.
    pub fn same_as(&self, other: &Stats) -> bool {
        Arc::ptr_eq(&self.counters, &other.counters)
    }
}
