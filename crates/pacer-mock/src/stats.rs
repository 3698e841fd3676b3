//! [`MockStats`]: what `GET /__stats` returns and [`MockServer::stats`](super::MockServer::stats) gives.
//!
//! Scripts read this JSON, so the documented top-level fields are stable;
//! fields may be added, never renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::limits::RejectReason;

/// Counters since start or since the last reset.
///
/// Every request other than `/__stats` and `/__reset` is counted once, as
/// accepted (it passed the quotas and was served) or rejected (by a quota,
/// the concurrency cap or an injected fault).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MockStats {
    /// Requests that passed every quota.
    pub accepted: u64,
    /// Requests refused by a quota, the concurrency cap or a fault.
    pub rejected: u64,
    /// `rejected`, split by reason.
    pub rejected_by_reason: RejectedByReason,
    /// Highest number of accepted requests of one key in flight at once.
    pub max_in_flight: u64,
    /// Items received by `POST /batch` (valid batches only).
    pub batch_items: u64,
    /// Batches answered from the idempotency table (an `Idempotency-Key`
    /// seen before): their items were not processed again.
    #[serde(default)]
    pub idempotent_replays: u64,
    /// Requests answered 401 because their key was not
    /// [`MockConfig::require_key`](super::MockConfig::require_key) (not
    /// counted as accepted or rejected).
    #[serde(default)]
    pub unauthorized: u64,
    /// Batch items by their `"id"` (with [`MockConfig::track_ids`](super::MockConfig::track_ids)).
    #[serde(default)]
    pub ids: IdStats,
    /// One entry per window quota, in configuration order.
    pub windows: Vec<WindowStats>,
    /// Per key, named by [`key_fingerprint`](crate::key_fingerprint), never
    /// by the key itself (`anonymous` when the request carried none).
    pub keys: BTreeMap<String, KeyStats>,
}

/// Rejections by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedByReason {
    /// Windows shorter than a day and the GCRA rate.
    pub rate: u64,
    /// The concurrency cap.
    pub concurrency: u64,
    /// Windows of a day or more.
    pub daily: u64,
    /// Injected 503, 500 and connection resets.
    pub fault: u64,
}

impl RejectedByReason {
    pub(crate) fn add(&mut self, reason: RejectReason) {
        match reason {
            RejectReason::Rate => self.rate += 1,
            RejectReason::Concurrency => self.concurrency += 1,
            RejectReason::Daily => self.daily += 1,
            RejectReason::Fault => self.fault += 1,
        }
    }
}

/// One window quota's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Requests allowed per window.
    pub limit: u64,
    /// Real window length in milliseconds (after `time_scale`).
    pub window_ms: u64,
    /// Largest number of accepted requests of one key seen in any interval
    /// of `window_ms`. Never above `limit` for a sliding window.
    pub max_seen: u64,
}

/// One key's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    /// Requests of this key that passed every quota.
    pub accepted: u64,
    /// Requests of this key that were refused.
    pub rejected: u64,
}

/// Batch items counted by their `"id"` field: how many distinct ids were
/// processed, and how many were processed more than once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IdStats {
    /// Items processed that carried an id.
    pub received: u64,
    /// Distinct ids processed.
    pub distinct: u64,
    /// Ids processed more than once.
    pub repeated: u64,
    /// Distinct ids answered `ok` (not refused) at least once.
    #[serde(default)]
    pub acknowledged: u64,
}
