//! Draining a store through a service.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tower::ServiceExt;
use tower_service::Service;

use super::{DeadLetter, DeadLetterStore, FailedAgain, StoreError};
use crate::BoxError;
use crate::redact::without_redacted_userinfo;

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
/// when the lease expires. A letter whose body was not captured
/// ([`BODY_NOT_CAPTURED`](super::BODY_NOT_CAPTURED)) is never sent: it
/// stays in the store and is counted [`skipped`](ReplayReport::skipped).
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
    /// Letters not sent because their body was not captured
    /// ([`BODY_NOT_CAPTURED`](super::BODY_NOT_CAPTURED)): kept as they
    /// were, for a person to handle.
    pub skipped: u64,
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
    ///
    /// Letters that fail again stay leased until the whole
    /// [`run`](Self::run) ends, so `lease_for` should outlast a run: once it
    /// expires, another replayer may take them.
    pub fn leases(mut self, batch: usize, lease_for: Duration) -> Self {
        self.batch = batch.max(1);
        self.lease_for = lease_for;
        self
    }

    /// Replay the letters the store holds now, in one pass through
    /// `service`: each is tried at most once (letters another replayer
    /// holds are left to it).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] if the store fails; letters already handled stay
    /// handled, and the leases this run holds are ended if the store still
    /// answers (otherwise they expire).
    pub async fn run<S, B, RB>(&self, service: S) -> Result<ReplayReport, StoreError>
    where
        S: Service<http::Request<B>, Response = http::Response<RB>> + Clone,
        S::Error: Into<BoxError>,
        B: From<Bytes>,
    {
        let mut report = ReplayReport::default();
        // Letters failed or skipped in this pass keep their lease until it
        // ends: given back at once, they would be the oldest again and this
        // same pass would lease them over and over, never reaching the rest.
        let mut held: Vec<(String, Option<FailedAgain>)> = Vec::new();
        let pass = self.pass(service, &mut report, &mut held).await;
        let mut ended = Ok(());
        for (id, failure) in held {
            let result = match failure {
                Some(failure) => self.store.release(&id, failure).await,
                None => self.store.unlease(&id).await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, id, "dead letter left leased until its lease expires");
                if ended.is_ok() {
                    ended = Err(error);
                }
            }
        }
        pass.and(ended)?;
        Ok(report)
    }

    async fn pass<S, B, RB>(
        &self,
        service: S,
        report: &mut ReplayReport,
        held: &mut Vec<(String, Option<FailedAgain>)>,
    ) -> Result<(), StoreError>
    where
        S: Service<http::Request<B>, Response = http::Response<RB>> + Clone,
        S::Error: Into<BoxError>,
        B: From<Bytes>,
    {
        // No more letters than the store held at the start, so a run ends
        // even while new ones keep arriving.
        let mut budget = self.store.len().await?;
        // A lease that outlived a long pass hands back letters already
        // tried; they are not tried twice, and only they left means done.
        let mut tried: HashSet<String> = HashSet::new();
        while budget > 0 {
            let leased = self
                .store
                .lease(
                    usize::try_from(budget).map_or(self.batch, |b| b.min(self.batch)),
                    self.lease_for,
                )
                .await?;
            let letters: Vec<DeadLetter> = leased
                .into_iter()
                .filter(|letter| tried.insert(letter.id.clone()))
                .collect();
            if letters.is_empty() {
                break;
            }
            budget = budget.saturating_sub(letters.len() as u64);
            for letter in letters {
                if letter
                    .headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case(super::BODY_NOT_CAPTURED))
                {
                    report.skipped += 1;
                    held.push((letter.id, None));
                    continue;
                }
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
                        // Errors repeat URLs and headers; this message is stored.
                        let message = crate::redact::default_rules().text(&message);
                        held.push((letter.id, Some(FailedAgain::now(message))));
                        report.failed_again += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The request a letter describes (redacted headers and userinfo left out:
/// the service supplies credentials).
fn request<B: From<Bytes>>(letter: &DeadLetter) -> Result<http::Request<B>, http::Error> {
    let mut builder = http::Request::builder()
        .method(letter.method.as_str())
        .uri(without_redacted_userinfo(&letter.uri).as_ref());
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
