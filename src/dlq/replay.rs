//! Draining a store through a service.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tower::ServiceExt;
use tower_service::Service;

use super::{DeadLetter, DeadLetterStore, FailedAgain, StoreError};
use crate::BoxError;

/// Replays dead letters through a service: a letter is deleted only after
/// its replay succeeds (a 1xx–3xx response); one that fails again stays,
/// with its attempt count raised.
///
/// The pace is the service's: give it a [`Pacer`](crate::Pacer) stack or a
/// [`RateLimit`](crate::rate::RateLimit), so a backlog drains at a
/// controlled rate instead of as a burst. Credentials were never stored:
/// the service puts them back (an auth layer, `map_request`…).
///
/// Letters are leased while they are replayed, so two replayers never send
/// the same letter, and a replayer that dies leaves its letters to reappear
/// when the lease expires.
#[derive(Clone)]
pub struct Replayer {
    store: Arc<dyn DeadLetterStore>,
    batch: usize,
    lease_for: Duration,
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Letters sent again.
    pub replayed: u64,
    /// Letters whose replay succeeded, now deleted.
    pub succeeded: u64,
    /// Letters that failed again, kept with one more attempt.
    pub failed_again: u64,
}

impl Replayer {
    /// Drain `store`, leasing 100 letters at a time for 5 minutes.
    pub fn new(store: Arc<dyn DeadLetterStore>) -> Self {
        Self {
            store,
            batch: 100,
            lease_for: Duration::from_secs(300),
        }
    }

    /// Lease `batch` letters at a time (at least 1), for `lease_for`.
    pub fn leases(mut self, batch: usize, lease_for: Duration) -> Self {
        self.batch = batch.max(1);
        self.lease_for = lease_for;
        self
    }

    /// Replay every letter the store holds now, once, through `service`.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] if the store fails; letters already handled stay
    /// handled.
    pub async fn run<S, B, RB>(&self, service: S) -> Result<ReplayReport, StoreError>
    where
        S: Service<http::Request<B>, Response = http::Response<RB>> + Clone,
        S::Error: Into<BoxError>,
        B: From<Bytes>,
    {
        let mut report = ReplayReport::default();
        // Letters that fail again are released and could be leased again
        // at once: stop after one pass over what was there at the start.
        let mut budget = self.store.len().await?;
        while budget > 0 {
            let letters = self
                .store
                .lease(self.batch.min(budget as usize), self.lease_for)
                .await?;
            if letters.is_empty() {
                break;
            }
            budget = budget.saturating_sub(letters.len() as u64);
            for letter in letters {
                report.replayed += 1;
                let outcome = match request(&letter) {
                    Ok(request) => match service.clone().oneshot(request).await {
                        Ok(response)
                            if !response.status().is_client_error()
                                && !response.status().is_server_error() =>
                        {
                            Ok(())
                        }
                        Ok(response) => Err(format!("replay: HTTP {}", response.status())),
                        Err(error) => Err(format!("replay: {}", error.into())),
                    },
                    Err(error) => Err(format!(
                        "replay: the letter is not a valid request: {error}"
                    )),
                };
                match outcome {
                    Ok(()) => {
                        self.store.ack(&letter.id).await?;
                        report.succeeded += 1;
                    }
                    Err(message) => {
                        self.store
                            .release(&letter.id, FailedAgain::now(message))
                            .await?;
                        report.failed_again += 1;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// The request a letter describes (redacted headers left out: the service
/// supplies credentials).
fn request<B: From<Bytes>>(letter: &DeadLetter) -> Result<http::Request<B>, http::Error> {
    let mut builder = http::Request::builder()
        .method(letter.method.as_str())
        .uri(letter.uri.as_str());
    for (name, value) in &letter.headers {
        if value.as_ref() != super::REDACTED.as_bytes() {
            builder = builder.header(name.as_str(), value.as_ref());
        }
    }
    builder.body(B::from(letter.body.clone()))
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("batch", &self.batch)
            .field("lease_for", &self.lease_for)
            .finish_non_exhaustive()
    }
}
