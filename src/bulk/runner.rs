//! The bulk runner: a bounded queue in, a few calls in flight, a report out.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tower_service::Service;

use super::judge::{Judge, OkIsSuccess};
use super::report::{Progress, Report};
use crate::{BoxError, ConfigError, Pacer};

/// Drives a queue of items through a service; see the [module docs](super).
pub struct Bulk<S, I, J = OkIsSuccess> {
    service: S,
    intake: mpsc::Receiver<I>,
    max_in_flight: usize,
    judge: J,
    pacer: Option<Pacer>,
    progress: watch::Sender<Progress>,
    stop: StopHandle,
}

/// Hands items to a [`Bulk`] run; waits while its queue is full
/// (backpressure). The run ends when every `Submitter` is dropped and the
/// queue is drained.
#[derive(Debug)]
pub struct Submitter<I> {
    queue: mpsc::Sender<I>,
}

impl<I> Clone for Submitter<I> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<I> Submitter<I> {
    /// Queue `item`, waiting for room.
    ///
    /// # Errors
    ///
    /// The item back, if the run has stopped taking items.
    pub async fn submit(&self, item: I) -> Result<(), I> {
        self.queue.send(item).await.map_err(|refused| refused.0)
    }
}

/// Stops a [`Bulk`] run gracefully: no new item is sent, the ones in flight
/// finish (succeed, fail, or are dead-lettered by the stack), and the ones
/// still queued come back in [`Finished::unsent`].
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    inner: Arc<StopInner>,
}

#[derive(Debug, Default)]
struct StopInner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopHandle {
    /// Ask the run to stop (for example on Ctrl-C).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }
}

/// The end of a [`Bulk`] run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Finished<I> {
    /// What the run did.
    pub report: Report,
    /// Items queued but never sent (after a stop, or when the service
    /// failed): handed back, never dropped.
    pub unsent: Vec<I>,
    /// The service's readiness error, if it failed and ended the run.
    pub service_error: Option<BoxError>,
}

impl<S, I> Bulk<S, I> {
    /// A run of `service` with a queue of `queue` items and at most
    /// `in_flight` items sent at once; feed it through the [`Submitter`].
    ///
    /// # Errors
    ///
    /// `bulk.queue` and `bulk.in_flight` must be ≥ 1.
    pub fn new(
        service: S,
        queue: usize,
        in_flight: usize,
    ) -> Result<(Self, Submitter<I>), ConfigError> {
        if queue == 0 {
            return Err(ConfigError::new("bulk.queue", "must be ≥ 1"));
        }
        if in_flight == 0 {
            return Err(ConfigError::new("bulk.in_flight", "must be ≥ 1"));
        }
        let (submit, intake) = mpsc::channel(queue);
        let bulk = Bulk {
            service,
            intake,
            max_in_flight: in_flight,
            judge: OkIsSuccess,
            pacer: None,
            progress: watch::Sender::new(Progress::default()),
            stop: StopHandle::default(),
        };
        Ok((bulk, Submitter { queue: submit }))
    }
}

impl<S, I, J> Bulk<S, I, J> {
    /// Judge results with `judge` (default: `Ok` is success; use
    /// [`HttpSuccess`](super::HttpSuccess) for HTTP responses).
    pub fn judge<J2>(self, judge: J2) -> Bulk<S, I, J2> {
        Bulk {
            service: self.service,
            intake: self.intake,
            max_in_flight: self.max_in_flight,
            judge,
            pacer: self.pacer,
            progress: self.progress,
            stop: self.stop,
        }
    }

    /// Put this destination's counters (calls, 429s, waits) in the report.
    pub fn observe(mut self, pacer: Pacer) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// Progress while the run goes (updated as items finish).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// A handle to stop the run gracefully.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }
}

impl<S, I, J> Bulk<S, I, J>
where
    S: Service<I>,
    S::Error: Into<BoxError>,
    J: Judge<S::Response, S::Error>,
{
    /// Run until every submitter is dropped and every item is done, or
    /// until stopped.
    pub async fn run(self) -> Finished<I> {
        let Bulk {
            mut service,
            mut intake,
            max_in_flight,
            judge,
            pacer,
            progress,
            stop,
        } = self;
        let start = Instant::now();
        // The report's wall time: a producer that starts late or lingers
        // after its last item must not dilute records per second.
        let mut first_taken: Option<Instant> = None;
        let mut last_finished: Option<Instant> = None;
        let mut state = Progress::default();
        let mut attempts: BTreeMap<u32, u64> = BTreeMap::new();
        let mut recent: VecDeque<Instant> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut next: Option<I> = None;
        let mut intake_open = true;
        let mut service_error: Option<BoxError> = None;
        #[cfg(feature = "metrics")]
        let gauges = crate::stats::metrics::BulkHandles::new();
        let mut stopped = pin!(stop.inner.notify.notified());
        stopped.as_mut().enable();

        loop {
            let stopping = stop.is_stopped() || service_error.is_some();
            // Stopping: wait only for the calls in flight. Otherwise: until
            // the intake is closed and drained.
            if in_flight.is_empty() && (stopping || (!intake_open && next.is_none())) {
                break;
            }
            enum Event<R> {
                Finished(R),
                Sent,
                Stop,
                Closed,
            }
            let event = poll_fn(|cx| {
                if let Poll::Ready(Some(result)) = in_flight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Finished(result));
                }
                if stopping {
                    return Poll::Pending;
                }
                if stopped.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Stop);
                }
                if next.is_none() && in_flight.len() < max_in_flight && intake_open {
                    match intake.poll_recv(cx) {
                        Poll::Ready(Some(item)) => {
                            first_taken.get_or_insert_with(Instant::now);
                            next = Some(item);
                        }
                        Poll::Ready(None) => return Poll::Ready(Event::Closed),
                        Poll::Pending => {}
                    }
                }
                if next.is_some() {
                    match service.poll_ready(cx) {
                        Poll::Ready(Ok(())) => {
                            if let Some(item) = next.take() {
                                in_flight.push(service.call(item));
                                return Poll::Ready(Event::Sent);
                            }
                        }
                        Poll::Ready(Err(error)) => {
                            service_error = Some(error.into());
                            return Poll::Ready(Event::Stop);
                        }
                        Poll::Pending => {}
                    }
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::Finished(result) => {
                    let verdict = judge.judge(&result);
                    if verdict.succeeded {
                        state.succeeded += 1;
                    } else {
                        state.failed += 1;
                    }
                    if let Some(n) = verdict.attempts {
                        *attempts.entry(n).or_default() += 1;
                    }
                    let now = Instant::now();
                    last_finished = Some(now);
                    recent.push_back(now);
                    while recent
                        .front()
                        .is_some_and(|t| now.duration_since(*t).as_secs_f64() > 1.0)
                    {
                        recent.pop_front();
                    }
                    state.current_rate = recent.len() as f64;
                }
                Event::Sent => state.submitted += 1,
                Event::Stop => {
                    tracing::info!("bulk run stopping: no new items; in-flight ones finish")
                }
                Event::Closed => intake_open = false,
            }
            state.in_flight = in_flight.len();
            state.queued = intake.len();
            state.elapsed = start.elapsed();
            #[cfg(feature = "metrics")]
            {
                gauges.queued.set(state.queued as f64);
                gauges.in_flight.set(state.in_flight as f64);
            }
            progress.send_replace(state);
        }

        // Whatever is still queued goes back to the caller.
        intake.close();
        let mut unsent: Vec<I> = next.into_iter().collect();
        while let Ok(item) = intake.try_recv() {
            unsent.push(item);
        }
        state.queued = 0;
        progress.send_replace(state);
        Finished {
            report: Report {
                submitted: state.submitted,
                succeeded: state.succeeded,
                failed: state.failed,
                not_started: unsent.len() as u64,
                attempts,
                stats: pacer.map(|pacer| pacer.stats()),
                wall: match (first_taken, last_finished) {
                    (Some(first), Some(last)) => last.saturating_duration_since(first),
                    _ => Duration::ZERO,
                },
            },
            unsent,
            service_error,
        }
    }
}

impl<S, I, J> std::fmt::Debug for Bulk<S, I, J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bulk")
            .field("max_in_flight", &self.max_in_flight)
            .field("stopped", &self.stop.is_stopped())
            .finish_non_exhaustive()
    }
}
