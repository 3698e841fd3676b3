//! The `metrics` facade (feature `metrics`): the same events as [`Stats`],
//! as counters, histograms and gauges labelled with the destination.
//!
//! Handles are registered once, when the counters are created, so the
//! recorder (Prometheus exporter, …) must be installed before building
//! pacers; each event is then one atomic operation on the handle.
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `tower_pacer_requests_total{destination, outcome}` | counter | requests ended, `outcome` = `succeeded` or `failed` |
//! | `tower_pacer_attempts_total{destination}` | counter | attempts that reached the server |
//! | `tower_pacer_retries_total{destination}` | counter | attempts beyond the first |
//! | `tower_pacer_rate_limited_total{destination}` | counter | attempts answered 429 |
//! | `tower_pacer_server_errors_total{destination}` | counter | attempts answered 5xx |
//! | `tower_pacer_transport_errors_total{destination}` | counter | attempts without a response |
//! | `tower_pacer_attempts{destination}` | histogram | attempts per finished request |
//! | `tower_pacer_wait_seconds{destination}` | histogram | time a call waited for its slot |
//! | `tower_pacer_quota_exhausted_total{destination}` | counter | calls refused beyond `max_wait` |
//! | `tower_pacer_in_flight{destination}` | gauge | attempts in flight |
//! | `tower_pacer_adaptive_rate{destination}` | gauge | the adaptive rate in force, calls per second (`+Inf` while unlimited) |
//! | `tower_pacer_adaptive_concurrency{destination}` | gauge | the adaptive concurrency cap in force |
//! | `tower_pacer_dead_letters_total{destination, stored}` | counter | requests that failed for good, `stored` = `true`, or `false` when the store refused the letter |
//! | `tower_pacer_bulk_queued`, `tower_pacer_bulk_in_flight` | gauge | a bulk run's queue and calls in flight |
//!
//! [`Stats`]: super::Stats

use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};

use crate::rate::LimiterObserver;

/// Gives every metric of the crate its unit and help text, so an exporter
/// shows `# HELP` and `# TYPE` lines for them.
///
/// Called whenever a pacer, limiter or bulk run registers its handles (the
/// recorder must be installed before that anyway); call it yourself if
/// you install a recorder afterwards.
pub fn describe() {
    describe_counter!(
        "tower_pacer_requests_total",
        Unit::Count,
        "Requests ended, by outcome (succeeded or failed)."
    );
    describe_counter!(
        "tower_pacer_attempts_total",
        Unit::Count,
        "Attempts that reached the server."
    );
    describe_counter!(
        "tower_pacer_retries_total",
        Unit::Count,
        "Attempts beyond the first."
    );
    describe_counter!(
        "tower_pacer_rate_limited_total",
        Unit::Count,
        "Attempts answered 429 (or refused as rate limited)."
    );
    describe_counter!(
        "tower_pacer_server_errors_total",
        Unit::Count,
        "Attempts answered 5xx."
    );
    describe_counter!(
        "tower_pacer_transport_errors_total",
        Unit::Count,
        "Attempts that got no response."
    );
    describe_histogram!(
        "tower_pacer_attempts",
        Unit::Count,
        "Attempts per finished request."
    );
    describe_gauge!("tower_pacer_in_flight", Unit::Count, "Attempts in flight.");
    describe_histogram!(
        "tower_pacer_wait_seconds",
        Unit::Seconds,
        "Time a call waited for its slot."
    );
    describe_counter!(
        "tower_pacer_quota_exhausted_total",
        Unit::Count,
        "Calls refused because no slot came within max_wait."
    );
    describe_counter!(
        "tower_pacer_limit_mismatch_total",
        Unit::Count,
        "Refusals the limiter's books did not expect (the server is stricter than the policy)."
    );
    describe_gauge!(
        "tower_pacer_adaptive_rate",
        "The adaptive send rate in force, calls per second (+Inf while unlimited)."
    );
    describe_gauge!(
        "tower_pacer_adaptive_concurrency",
        Unit::Count,
        "The adaptive concurrency cap in force."
    );
    describe_counter!(
        "tower_pacer_dead_letters_total",
        Unit::Count,
        "Requests that failed for good; stored=false when the store refused the letter."
    );
    describe_gauge!(
        "tower_pacer_bulk_queued",
        Unit::Count,
        "Items in a bulk run's queue."
    );
    describe_gauge!(
        "tower_pacer_bulk_in_flight",
        Unit::Count,
        "A bulk run's calls in flight."
    );
}

/// One destination's metric handles.
#[derive(Debug, Clone)]
pub(crate) struct Handles {
    pub(crate) succeeded: Counter,
    pub(crate) failed: Counter,
    pub(crate) attempts: Counter,
    pub(crate) retries: Counter,
    pub(crate) rate_limited: Counter,
    pub(crate) server_errors: Counter,
    pub(crate) transport_errors: Counter,
    pub(crate) attempts_per_request: Histogram,
    pub(crate) in_flight: Gauge,
}

impl Handles {
    pub(crate) fn new(destination: &str) -> Self {
        describe();
        let d = destination.to_owned();
        Self {
            succeeded: counter!("tower_pacer_requests_total", "destination" => d.clone(), "outcome" => "succeeded"),
            failed: counter!("tower_pacer_requests_total", "destination" => d.clone(), "outcome" => "failed"),
            attempts: counter!("tower_pacer_attempts_total", "destination" => d.clone()),
            retries: counter!("tower_pacer_retries_total", "destination" => d.clone()),
            rate_limited: counter!("tower_pacer_rate_limited_total", "destination" => d.clone()),
            server_errors: counter!("tower_pacer_server_errors_total", "destination" => d.clone()),
            transport_errors: counter!("tower_pacer_transport_errors_total", "destination" => d.clone()),
            attempts_per_request: histogram!("tower_pacer_attempts", "destination" => d.clone()),
            in_flight: gauge!("tower_pacer_in_flight", "destination" => d),
        }
    }
}

/// A limiter's metrics: a [`LimiterObserver`] that reports waits
/// (`tower_pacer_wait_seconds`), refusals beyond `max_wait`
/// (`tower_pacer_quota_exhausted_total`) and limit mismatches
/// (`tower_pacer_limit_mismatch_total`), labelled with the destination.
/// Made by [`limiter_observer`].
#[derive(Debug, Clone)]
pub struct LimiterMetrics {
    wait: Histogram,
    exhausted: Counter,
    mismatches: Counter,
}

/// The metrics of the limiter pacing `destination`, to attach with
/// [`LimiterBuilder::observer`](crate::rate::LimiterBuilder::observer). A
/// [`Policy`](crate::policy::Policy) attaches it to the limiters it builds.
///
/// ```
/// use tower_pacer::rate::{Limiter, Quota};
/// use tower_pacer::stats::metrics::limiter_observer;
///
/// let limiter = Limiter::builder()
///     .name("crm")
///     .quota(Quota::per_second(10)?)
///     .observer(limiter_observer("crm"))
///     .build()?;
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
pub fn limiter_observer(destination: &str) -> LimiterMetrics {
    describe();
    let d = destination.to_owned();
    LimiterMetrics {
        wait: histogram!("tower_pacer_wait_seconds", "destination" => d.clone()),
        exhausted: counter!("tower_pacer_quota_exhausted_total", "destination" => d.clone()),
        mismatches: counter!("tower_pacer_limit_mismatch_total", "destination" => d),
    }
}

impl LimiterObserver for LimiterMetrics {
    fn waited(&self, wait: Duration) {
        self.wait.record(wait.as_secs_f64());
    }

    fn refused(&self) {
        self.exhausted.increment(1);
    }

    fn mismatch(&self) {
        self.mismatches.increment(1);
    }
}

/// A bulk run's gauges.
#[derive(Debug, Clone)]
pub(crate) struct BulkHandles {
    pub(crate) queued: Gauge,
    pub(crate) in_flight: Gauge,
}

impl BulkHandles {
    pub(crate) fn new() -> Self {
        describe();
        Self {
            queued: gauge!("tower_pacer_bulk_queued"),
            in_flight: gauge!("tower_pacer_bulk_in_flight"),
        }
    }
}
