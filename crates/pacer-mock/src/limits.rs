//! All quotas of one key together: a request is accepted only if every
//! window and the rate have room, and then it counts against all of them.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::config::MockConfig;
use super::gcra::Gcra;
use super::window::{QuotaStatus, WindowCounter};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A window shorter than a day, or the GCRA rate.
    Rate,
    /// The per-key concurrency cap.
    Concurrency,
    /// A window of a day or more.
    Daily,
    /// An injected fault (503, 500 or reset).
    Fault,
}

impl RejectReason {
    /// The name used in statistics and error bodies.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::Rate => "rate",
            RejectReason::Concurrency => "concurrency",
            RejectReason::Daily => "daily",
            RejectReason::Fault => "fault",
        }
    }
}

/// A refusal by the quotas: the binding reason and how long until a retry
/// finds room in every quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The quota with the longest wait.
    pub reason: RejectReason,
    /// Time until every quota has room again (if nobody else uses it).
    pub wait: Duration,
}

/// Quota accounting of one key.
#[derive(Debug, Clone)]
pub struct KeyLimits {
    windows: Vec<WindowCounter>,
    rate: Option<Gcra>,
}

impl KeyLimits {
    /// Fresh accounting for the quotas of `config`, fixed windows aligned on `origin`.
    pub fn new(config: &MockConfig, origin: Instant) -> Self {
        Self {
            windows: config
                .windows
                .iter()
                .map(|w| WindowCounter::new(*w, config.scaled(w.window), origin))
                .collect(),
            rate: config.rate.map(|r| Gcra::new(r, config.scaled(r.period))),
        }
    }

    /// Accepts the request at `now` and counts it in every quota, or refuses
    /// it without counting it anywhere.
    ///
    /// Each quota's wait only shrinks as time passes without acceptances, so
    /// the largest wait is the earliest instant at which all have room.
    pub fn try_admit(&mut self, now: Instant) -> Result<(), Refusal> {
        let mut worst: Option<Refusal> = None;
        let mut consider = |reason, wait: Duration| {
            if !wait.is_zero() && worst.is_none_or(|w| wait > w.wait) {
                worst = Some(Refusal { reason, wait });
            }
        };
        for w in &mut self.windows {
            let reason = if w.quota().is_daily() {
                RejectReason::Daily
            } else {
                RejectReason::Rate
            };
            consider(reason, w.wait(now));
        }
        if let Some(rate) = &self.rate {
            consider(RejectReason::Rate, rate.wait(now));
        }
        if let Some(refusal) = worst {
            return Err(refusal);
        }
        for w in &mut self.windows {
            w.admit(now);
        }
        if let Some(rate) = &mut self.rate {
            rate.admit(now);
        }
        Ok(())
    }

    /// The standing of each window (in configuration order), then the rate.
    pub fn status(&mut self, now: Instant) -> Vec<QuotaStatus> {
        let mut out: Vec<QuotaStatus> = self.windows.iter_mut().map(|w| w.status(now)).collect();
        out.extend(self.rate.as_ref().map(|r| r.status(now)));
        out
    }

    /// `max_seen` of each window, in configuration order.
    pub fn max_seen(&self) -> impl Iterator<Item = u64> + '_ {
        self.windows.iter().map(WindowCounter::max_seen)
    }

    /// Restarts `max_seen` tracking at `now`.
    pub fn reset_stats(&mut self, now: Instant) {
        for w in &mut self.windows {
            w.reset_stats(now);
        }
    }
}
