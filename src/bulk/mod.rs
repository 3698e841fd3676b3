//! Bulk runs: a queue of records through a paced stack, with progress, a
//! graceful stop and a report.
//!
//! This is the article's rate-limited worker pool, done with the crate's
//! layers doing the hard parts: the [`Bulk`] runner only keeps a bounded
//! queue (a producer waits while it is full), keeps a few calls in flight,
//! publishes [`Progress`], and stops gracefully — on
//! [`StopHandle::stop`] it sends nothing new, lets the calls in flight
//! finish (succeed, fail, or go to the stack's dead-letter store), and hands
//! back what was still queued in [`Finished::unsent`]. Nothing is dropped:
//! [`Report::nothing_lost`] checks it.
//!
//! Pacing, retries, batching and dead letters belong to the service you
//! give it (normally a [`Pacer`](crate::Pacer) stack).
//!
//! ```
//! use tower::service_fn;
//! use tower_pacer::bulk::Bulk;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let api = service_fn(|n: u32| async move {
//!     if n % 10 == 0 { Err::<u32, _>(tower_pacer::BoxError::from("rejected")) } else { Ok(n) }
//! });
//! let (bulk, submitter) = Bulk::new(api, 100, 8)?;
//! tokio::spawn(async move {
//!     for n in 1..=100 {
//!         if submitter.submit(n).await.is_err() { break; }
//!     }
//! });
//! let finished = bulk.run().await;
//! assert_eq!((finished.report.succeeded, finished.report.failed), (90, 10));
//! assert!(finished.report.nothing_lost());
//! # Ok(()) }
//! ```

mod judge;
mod report;
mod runner;

pub use judge::{HttpSuccess, Judge, OkIsSuccess, Verdict};
pub use report::{Progress, Report};
pub use runner::{Bulk, Finished, StopHandle, Submitter};
