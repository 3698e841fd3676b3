//! What both classifiers share: the clock, per-code overrides and the
//! "never sent" test for transport errors.

use std::error::Error;
use std::time::SystemTime;

use http::HeaderMap;

use super::error::{NotSentFn, is_final_refusal, is_not_sent};
use super::{Classification, Outcome, StatusRule};
use crate::headers::RateLimitInfo;

/// Configuration common to [`HttpClassifier`](super::HttpClassifier) (keyed
/// by HTTP status) and [`GrpcClassifier`](super::GrpcClassifier) (keyed by
/// gRPC code).
#[derive(Debug, Clone)]
pub(crate) struct Rules<K> {
    pub(crate) clock: fn() -> SystemTime,
    overrides: Vec<(K, StatusRule)>,
    pub(crate) not_sent_when: Option<NotSentFn>,
}

impl<K> Default for Rules<K> {
    fn default() -> Self {
        Self {
            clock: SystemTime::now,
            overrides: Vec::new(),
            not_sent_when: None,
        }
    }
}

impl<K: PartialEq + Copy> Rules<K> {
    /// Sets the rule for `key`; a later call replaces an earlier one.
    pub(crate) fn set(&mut self, key: K, rule: StatusRule) {
        self.overrides.retain(|(k, _)| *k != key);
        self.overrides.push((key, rule));
    }

    /// The user's rule for `key`, if any.
    pub(crate) fn get(&self, key: K) -> Option<StatusRule> {
        self.overrides
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, rule)| *rule)
    }

    pub(crate) fn info(&self, headers: &HeaderMap) -> RateLimitInfo {
        RateLimitInfo::from_headers(headers, (self.clock)())
    }

    /// Every transport error is transient (whether a retry is *allowed* is
    /// the retry layer's call, from the method and `not_sent`), except the
    /// limiter's final refusals, which are permanent: a retry cannot help.
    pub(crate) fn classify_error(&self, error: &(dyn Error + 'static)) -> Classification {
        let not_sent = is_not_sent(error) || self.not_sent_when.is_some_and(|f| f(error));
        let outcome = if is_final_refusal(error) {
            Outcome::Permanent
        } else {
            Outcome::Transient { retry_after: None }
        };
        Classification::new(outcome).with_not_sent(not_sent)
    }
}

/// The builder methods both classifiers share, over their `rules` field.
macro_rules! common_builders {
    () => {
        /// The default rules (see the type's documentation).
        pub fn new() -> Self {
            Self::default()
        }

        /// The clock that `Retry-After` dates are measured against when the
        /// response has no `Date` header (default `SystemTime::now`).
        pub fn with_clock(mut self, clock: fn() -> std::time::SystemTime) -> Self {
            self.rules.clock = clock;
            self
        }

        /// An extra test for "the request never left the client", on top of
        /// [`is_not_sent`](super::is_not_sent), e.g. for hyper-util:
        /// `|e| e.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|e| e.is_connect())`.
        pub fn not_sent_when(mut self, predicate: super::NotSentFn) -> Self {
            self.rules.not_sent_when = Some(predicate);
            self
        }
    };
}
pub(crate) use common_builders;
