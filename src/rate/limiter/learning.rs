//! What refusals teach: [`Limiter::note_refusal`] counts a limit mismatch
//! and narrows the band that binds; the narrowing relaxes step by step.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::clock::nanos;
use super::super::learn::{EPISODE, Learning};
use super::super::quota::QuotaKind;
use super::super::{Headroom, LearnedBand};
use super::Limiter;
use super::bands::Band;
use crate::ConfigError;

impl Limiter {
    /// Tell the limiter that the server refused a call it had granted (a
    /// 429, or a 503/403 read as a rate limit), that asked for a pause of
    /// `pause` (if any). The [`Retry`](crate::retry::Retry) layer calls it
    /// for every rate-limited answer when it is given this limiter.
    ///
    /// Every call the limiter lets out had room in its books, so a refusal
    /// means the server counts differently: arrival skew, another client on
    /// the same key, a stricter limit than documented. The first refusal of
    /// an episode (the calls already in flight are refused too; they count
    /// once, for the pause and at least 100 ms) is a **limit mismatch**: it is
    /// counted ([`LimiterSnapshot::limit_mismatches`](super::super::LimiterSnapshot::limit_mismatches), the metric
    /// `tower_pacer_limit_mismatch_total`), logged at WARN the first time
    /// with the figures, and the band that binds (the one counting over the
    /// shortest span) is narrowed to [`LEARN_STEP`](super::super::LEARN_STEP) of
    /// what it granted (never below [`LEARN_FLOOR`](super::super::LEARN_FLOOR)).
    /// The narrowing holds for [`LEARN_HOLD_SPANS`](super::super::LEARN_HOLD_SPANS)
    /// spans of that band (at least [`LEARN_MIN_HOLD`](super::super::LEARN_MIN_HOLD)),
    /// then gives back [`LEARN_RELAX`](super::super::LEARN_RELAX) of the quota per
    /// span without a mismatch. Returns true for a mismatch.
    ///
    /// `named` is the server's own figure for the limit it refused on, if
    /// its rate-limit headers gave one (`limit` calls per `window`): the
    /// window band of that length (within 10 %) is then the one narrowed,
    /// at once to the share the server named if that is lower than a
    /// step, and relaxing never goes past it.
    ///
    /// Nothing is learned by a limiter without quotas, one built with
    /// [`learn_from_refusals(false)`](super::super::LimiterBuilder::learn_from_refusals),
    /// or one shared through Redis (its bands live there).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_pacer::rate::{Limiter, Quota};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_pacer::ConfigError> {
    /// # tokio::time::pause();
    /// let limiter = Limiter::builder()
    ///     .quota(Quota::window(100, Duration::from_secs(10))?)
    ///     .build()?;
    /// // A 429 whose headers say "80 per 10 s": another client shares the key.
    /// assert!(limiter.note_refusal(Some(Duration::from_secs(1)), Some((80, Duration::from_secs(10)))));
    /// let snapshot = limiter.snapshot();
    /// assert_eq!(snapshot.limit_mismatches, 1);
    /// assert_eq!(snapshot.learned.map(|learned| learned.factor), Some(0.8));
    /// # Ok(()) }
    /// ```
    pub fn note_refusal(&self, pause: Option<Duration>, named: Option<(u64, Duration)>) -> bool {
        let now = self.now_nanos();
        let mut learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if now < learning.quiet_until {
            return false;
        }
        let quiet = pause.map_or(0, nanos).max(EPISODE);
        learning.quiet_until = now.saturating_add(quiet);
        self.record_mismatch();
        let Some((band, span, named)) = self.refused_band(named) else {
            return true;
        };
        let learnable = learning.enabled && !self.shared.backend.is_remote();
        if learnable && learning.band.is_some_and(|learned| learned != band) {
            // One learned band at a time: the other goes back to its quota.
            if let Some(learned) = learning.band.take() {
                let _ = self.narrow_to(learned, 1.0);
            }
            learning.factor = 1.0;
            learning.ceiling = 1.0;
        }
        let before = learning.factor;
        if learnable {
            let factor = learning.narrowed(named);
            if self.narrow_to(band, factor).is_ok() {
                learning.factor = factor;
                learning.band = Some(band);
                if let Some(named) = named {
                    learning.ceiling = named.max(factor);
                }
                let (hold, step) = Learning::timing(span);
                learning.step = step;
                self.shared
                    .relax_at
                    .store(now.saturating_add(hold), Ordering::Relaxed);
            }
        }
        let quota = self.quotas().get(band).copied();
        let action = if learning.factor < before {
            "narrowing the binding band"
        } else {
            "the binding band stays as it is (learning is off, or at its floor)"
        };
        if !learning.logged {
            learning.logged = true;
            tracing::warn!(
                destination = self.shared.name.as_deref().unwrap_or(""),
                band,
                ?quota,
                from = before,
                to = learning.factor,
                "limit mismatch: the server refused a call the limiter had room for \
                 (arrival skew, a shared key, or a stricter limit than the policy); {action}"
            );
        } else {
            tracing::debug!(
                band,
                from = before,
                to = learning.factor,
                "limit mismatch; {action}"
            );
        }
        true
    }

    /// One relax step of the learned narrowing, if it is due.
    #[cold]
    pub(super) fn relax(&self, now: u64) {
        let mut learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if now < self.shared.relax_at.load(Ordering::Relaxed) {
            return;
        }
        let Some(band) = learning.band else {
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
            return;
        };
        let factor = learning.relaxed();
        if self.narrow_to(band, factor).is_err() {
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
            return;
        }
        learning.factor = factor;
        if factor >= 1.0 {
            learning.band = None;
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
        } else if factor >= learning.ceiling {
            // As far as the server's own figures allow: stay there.
            self.shared.relax_at.store(u64::MAX, Ordering::Relaxed);
        } else {
            self.shared
                .relax_at
                .store(now.saturating_add(learning.step), Ordering::Relaxed);
        }
    }

    /// The band a refusal speaks of, its span, and the share of its quota
    /// the server named: the window band whose length matches the window
    /// `named` by the server's headers (within 10 %), else the band that
    /// binds first.
    fn refused_band(&self, named: Option<(u64, Duration)>) -> Option<(usize, u64, Option<f64>)> {
        let headroom = &self.shared.headroom;
        if let Some((limit, window)) = named {
            let window = nanos(window);
            let matched = self.quotas().iter().enumerate().find_map(|(index, quota)| {
                let QuotaKind::Window {
                    limit: ours,
                    window: length,
                } = quota.kind()
                else {
                    return None;
                };
                let length = nanos(length);
                let close = length.abs_diff(window) <= length / 10;
                let share = limit as f64 / (ours as f64 * headroom.fraction);
                close.then(|| {
                    (
                        index,
                        Band::new(quota, headroom).span(),
                        share.clamp(0.0, 1.0),
                    )
                })
            });
            if let Some((index, span, share)) = matched {
                return Some((index, span, Some(share)));
            }
        }
        self.binding_band().map(|(index, span)| (index, span, None))
    }

    /// The band that binds first, and its span (nanoseconds).
    fn binding_band(&self) -> Option<(usize, u64)> {
        let headroom = &self.shared.headroom;
        self.quotas()
            .iter()
            .enumerate()
            .map(|(index, quota)| (index, Band::new(quota, headroom).span()))
            .min_by_key(|&(_, span)| span)
    }

    /// The headroom band `band` is narrowed by: the configured one, and
    /// what refusals taught for the binding band.
    pub(super) fn band_headroom(&self, band: usize) -> Headroom {
        let mut headroom = self.shared.headroom;
        let learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let learning = (learning.band == Some(band)).then_some(learning.factor);
        if let Some(factor) = learning {
            headroom.fraction *= factor;
        }
        headroom
    }

    /// Narrow band `band` to `factor` of its quota (after the headroom).
    fn narrow_to(&self, band: usize, factor: f64) -> Result<(), ConfigError> {
        let Some(quota) = self.quotas().get(band).copied() else {
            return Err(ConfigError::new(
                format!("quotas[{band}]"),
                "no such quota band",
            ));
        };
        let mut headroom = self.shared.headroom;
        headroom.fraction *= factor;
        headroom.check_band(band, &quota)?;
        match self
            .shared
            .backend
            .replace_band(band, Band::new(&quota, &headroom))
        {
            Ok(true) => {}
            Err(reason) => return Err(ConfigError::new(format!("quotas[{band}]"), reason)),
            Ok(false) => {
                return Err(ConfigError::new(
                    format!("quotas[{band}]"),
                    "not learnable here",
                ));
            }
        }
        self.forget_orphans();
        Ok(())
    }

    /// The band narrowed by refusals, while it is.
    pub(super) fn learned(&self) -> Option<LearnedBand> {
        let learning = self
            .shared
            .learning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let band = learning.band?;
        Some(LearnedBand {
            band,
            quota: self.quotas().get(band).copied()?,
            factor: learning.factor,
        })
    }
}
