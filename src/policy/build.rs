//! Checking a policy and turning it into the parts of a stack.

use crate::ConfigError;
use crate::adaptive::{Aimd, ConcurrencyController, Cubic, RateController};
use crate::classify::{BoxErrors, HttpClassifier, MinWait};
use crate::concurrency::ConcurrencyLimiter;
use crate::feedback::Stamped;
use crate::rate::{BandRole, Limiter, Quota};
use crate::retry::{Backoff, HttpReplay, Jitter, RetryBudget, RetryLayer, RetryLayerBuilder};

use super::{BackendSpec, JitterSpec, Policy, QuotaSpec, StrategySpec};

/// The classifier a [`Policy`] configures: HTTP rules over the stack's
/// boxed errors, with the policy's floor under rate-limited waits.
pub type PolicyClassifier = BoxErrors<MinWait<HttpClassifier>>;

/// The retry layer a [`Policy`] configures.
pub type PolicyRetryLayer = RetryLayer<PolicyClassifier, HttpReplay>;

/// The retry layer of a [`Pacer`](crate::Pacer) stack.
pub(crate) type StampedRetryLayer = RetryLayer<Stamped<PolicyClassifier>, HttpReplay>;

impl Policy {
    /// Checks every field; the error names the first one at fault.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] such as `quotas[1].window: must be longer than
    /// zero` or `retry.max_attempts: must be ≥ 1`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        let limiter = self.limiter()?;
        if self
            .classify
            .rate_limited_min_wait
            .is_some_and(|min| min > crate::headers::MAX_DELAY)
        {
            // Like any server delay, clamped at a day; a longer floor would
            // park every refused call (and its destination) for it.
            return Err(ConfigError::new(
                "classify.rate_limited_min_wait",
                "must be at most a day (headers::MAX_DELAY)",
            ));
        }
        self.concurrency_limiter()?;
        self.retry_layer(&limiter)?;
        self.rate_controller(&limiter)?;
        if self.adaptive_concurrency.is_some() && self.concurrency.is_some() {
            return Err(ConfigError::new(
                "adaptive_concurrency",
                "replaces `concurrency`: set one or the other",
            ));
        }
        self.concurrency_controller(&ConcurrencyLimiter::unlimited())?;
        if let Some(batch) = &self.batch {
            if batch.max_items == 0 {
                return Err(ConfigError::new("batch.max_items", "must be ≥ 1"));
            }
            if batch.max_latency.is_zero() {
                return Err(ConfigError::new(
                    "batch.max_latency",
                    "must be longer than zero",
                ));
            }
        }
        Ok(())
    }

    /// The same policy with every quota window and period multiplied by
    /// `factor` (0.01 makes "100 per 10 s" last 100 ms), for tests against
    /// a time-scaled mock server. Waits and retries are left alone.
    pub fn time_scaled(mut self, factor: f64) -> Self {
        let scale = |d: &mut Option<std::time::Duration>| {
            if let Some(d) = d {
                // A factor that makes no duration (NaN, negative) changes nothing.
                if let Ok(scaled) = std::time::Duration::try_from_secs_f64(d.as_secs_f64() * factor)
                {
                    *d = scaled;
                }
            }
        };
        for quota in &mut self.quotas {
            scale(&mut quota.window);
            scale(&mut quota.per);
        }
        self
    }

    /// The quota bands, checked.
    ///
    /// # Errors
    ///
    /// `quotas[i]…` naming the band and its field.
    pub fn quotas(&self) -> Result<Vec<Quota>, ConfigError> {
        self.quotas
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                spec.to_quota()
                    .map_err(|e| e.renamed("quota", &format!("quotas[{i}]")))
            })
            .collect()
    }

    /// A new limiter for this policy's quotas, headroom and `max_wait`. A
    /// policy without quotas gets [`Limiter::unlimited`] (the cooldown gate
    /// only). With `backend` Redis (feature `redis`), the limiter shares
    /// its quotas and cooldown with every process using the same Redis key
    /// (see [`RedisLimiter`](crate::rate::RedisLimiter)); it connects on
    /// its first reservation.
    ///
    /// # Errors
    ///
    /// As [`quotas`](Self::quotas), and `headroom.fraction`,
    /// `headroom.margin`, or `quotas[i]` for a rate whose burst the headroom
    /// stretches beyond a year (see
    /// [`LimiterBuilder::build`](crate::rate::LimiterBuilder::build)); for a Redis
    /// backend `backend.url`, `backend.key`, `backend.timeout`,
    /// `backend.fallback.share`, or `backend` itself without the `redis`
    /// feature.
    pub fn limiter(&self) -> Result<Limiter, ConfigError> {
        let quotas = self.quotas()?;
        let mut builder = Limiter::builder()
            .name(self.name.clone())
            .headroom(self.headroom.fraction)
            .margin(self.headroom.margin)
            .learn_from_refusals(self.headroom.learn && self.adaptive_rate.is_none())
            // The adaptive band's burst of 1 paces; it is not the server's.
            .wire_spacing(self.adaptive_rate.is_none());
        if let Some(max_wait) = self.max_wait {
            builder = builder.max_wait(max_wait);
        }
        #[cfg(feature = "metrics")]
        {
            builder = builder.observer(crate::stats::metrics::limiter_observer(&self.name));
        }
        // The adaptive controller drives a band of its own, after the quotas.
        let adaptive_band = self
            .adaptive_rate
            .as_ref()
            .map(|_| Quota::per_second(1).map(|quota| (quota, BandRole::Adaptive)))
            .transpose()?;
        let all: Vec<(Quota, BandRole)> = quotas
            .into_iter()
            .map(|quota| (quota, BandRole::Quota))
            .chain(adaptive_band)
            .collect();
        if let BackendSpec::Redis { .. } = &self.backend {
            return self.redis_limiter(all);
        }
        if all.is_empty() {
            builder.build_unlimited()
        } else {
            all.into_iter()
                .fold(builder, |b, (quota, role)| b.band(quota, role))
                .build()
        }
    }

    /// The limiter of a `backend = redis` policy (it connects on first use).
    #[cfg(feature = "redis")]
    fn redis_limiter(&self, bands: Vec<(Quota, BandRole)>) -> Result<Limiter, ConfigError> {
        use super::FallbackSpec;
        use crate::rate::{Fallback, RedisLimiter};
        let BackendSpec::Redis {
            url,
            key,
            fallback,
            timeout,
        } = &self.backend
        else {
            return Err(ConfigError::new("backend", "is not redis"));
        };
        let mut builder = RedisLimiter::builder(url.clone(), key.clone())
            .name(self.name.clone())
            .headroom(self.headroom.fraction)
            .margin(self.headroom.margin)
            .fallback(match *fallback {
                FallbackSpec::FailClosed => Fallback::FailClosed,
                FallbackSpec::Local { share } => Fallback::Local { share },
            });
        if let Some(max_wait) = self.max_wait {
            builder = builder.max_wait(max_wait);
        }
        if let Some(timeout) = *timeout {
            builder = builder.timeout(timeout);
        }
        #[cfg(feature = "metrics")]
        {
            builder = builder.observer(crate::stats::metrics::limiter_observer(&self.name));
        }
        bands
            .into_iter()
            .fold(builder, |b, (quota, role)| b.band(quota, role))
            .build()
            .map_err(|e| {
                ["url", "key", "timeout", "fallback"]
                    .iter()
                    .fold(e, |e, field| e.renamed(field, &format!("backend.{field}")))
            })
    }

    /// Without the `redis` feature, a Redis backend cannot be built.
    #[cfg(not(feature = "redis"))]
    fn redis_limiter(&self, _bands: Vec<(Quota, BandRole)>) -> Result<Limiter, ConfigError> {
        Err(ConfigError::new(
            "backend",
            "a redis backend needs tower-pacer's `redis` feature",
        ))
    }

    /// A new adaptive rate controller driving `limiter`'s adaptive band
    /// ([`BandRole::Adaptive`], which [`limiter`](Self::limiter) adds), if
    /// the policy asks for one.
    ///
    /// # Errors
    ///
    /// `adaptive_rate.…` naming the field.
    pub fn rate_controller(
        &self,
        limiter: &Limiter,
    ) -> Result<Option<RateController>, ConfigError> {
        let Some(spec) = &self.adaptive_rate else {
            return Ok(None);
        };
        // The strategies name their own fields (`cubic.min_rate`…): file
        // them under the policy's.
        let field = |e: ConfigError| {
            ["aimd", "cubic", "adaptive"]
                .iter()
                .fold(e, |e, prefix| e.renamed(prefix, "adaptive_rate"))
        };
        // A limiter built elsewhere names no adaptive band: its last one,
        // as before roles existed.
        let band = limiter
            .band(BandRole::Adaptive)
            .unwrap_or_else(|| limiter.quotas().len().saturating_sub(1));
        let builder = match spec.strategy {
            StrategySpec::Cubic => {
                let mut cubic = Cubic::builder();
                if let Some(min) = spec.min_rate {
                    cubic = cubic.min_rate(min);
                }
                if let Some(max) = spec.max_rate {
                    cubic = cubic.max_rate(max);
                }
                RateController::builder(limiter.clone(), cubic.build().map_err(field)?)
            }
            StrategySpec::Aimd => {
                let initial = spec.initial_rate.ok_or_else(|| {
                    ConfigError::new("adaptive_rate.initial_rate", "is required by AIMD")
                })?;
                let mut aimd = Aimd::builder(initial);
                if let Some(min) = spec.min_rate {
                    aimd = aimd.min_rate(min);
                }
                if let Some(max) = spec.max_rate {
                    aimd = aimd.max_rate(max);
                }
                RateController::builder(limiter.clone(), aimd.build().map_err(field)?)
            }
        };
        builder
            .band(band)
            .destination(self.name.clone())
            .header_pacing(spec.header_pacing)
            .max_pause(
                self.retry
                    .max_retry_after
                    .saturating_add(self.retry.safety_margin),
            )
            .build()
            .map(Some)
            .map_err(field)
    }

    /// A new adaptive concurrency controller over `limiter`, if the policy
    /// asks for one.
    ///
    /// # Errors
    ///
    /// `adaptive_concurrency.…` naming the field.
    pub fn concurrency_controller(
        &self,
        limiter: &ConcurrencyLimiter,
    ) -> Result<Option<ConcurrencyController>, ConfigError> {
        let Some(spec) = &self.adaptive_concurrency else {
            return Ok(None);
        };
        ConcurrencyController::builder(limiter.clone())
            .destination(self.name.clone())
            .initial(spec.initial)
            .min(spec.min)
            .max(spec.max)
            .build()
            .map(Some)
    }

    /// A new concurrency cap, if the policy sets one.
    ///
    /// # Errors
    ///
    /// `concurrency: must be ≥ 1`.
    pub fn concurrency_limiter(&self) -> Result<Option<ConcurrencyLimiter>, ConfigError> {
        self.concurrency
            .map(|limit| {
                ConcurrencyLimiter::new(limit)
                    .map_err(|e| e.renamed("concurrency.limit", "concurrency"))
            })
            .transpose()
    }

    /// The batch settings, as a [`BatchConfig`](crate::batch::BatchConfig)
    /// for the batch layer above the pacer, if the policy batches.
    ///
    /// # Errors
    ///
    /// `batch.…` naming the field.
    pub fn batch_config<Item>(
        &self,
    ) -> Result<Option<crate::batch::BatchConfig<Item>>, ConfigError> {
        self.batch
            .as_ref()
            .map(|spec| crate::batch::BatchConfig::new(spec.max_items, spec.max_latency))
            .transpose()
    }

    /// The classifier this policy describes.
    pub fn classifier(&self) -> PolicyClassifier {
        let http = HttpClassifier::default()
            .with_forbidden_rate_limits(self.classify.forbidden_rate_limits)
            .with_should_retry_header(self.classify.should_retry_header);
        BoxErrors(match self.classify.rate_limited_min_wait {
            Some(min) => MinWait::new(http, min),
            None => MinWait::none(http),
        })
    }

    /// A new retry layer (with a new budget) that pauses `limiter` on 429s.
    ///
    /// # Errors
    ///
    /// `retry.…` naming the field.
    pub fn retry_layer(&self, limiter: &Limiter) -> Result<PolicyRetryLayer, ConfigError> {
        let builder = RetryLayer::builder()
            .classifier(self.classifier())
            .replay(HttpReplay::new().retry_unsafe_methods(self.retry.retry_unsafe_methods));
        self.retry_settings(builder, limiter)?.build()
    }

    /// `builder` with this policy's retry settings (attempts, backoff,
    /// delays, a new budget, deadline, seed) and `limiter` to pause; its
    /// classifier and replay rules are left alone, for stacks over other
    /// protocols (gRPC).
    ///
    /// # Errors
    ///
    /// `retry.…` naming the field.
    pub fn retry_settings<C, R>(
        &self,
        builder: RetryLayerBuilder<C, R>,
        limiter: &Limiter,
    ) -> Result<RetryLayerBuilder<C, R>, ConfigError> {
        Ok(self.retry_figures(builder)?.limiter(limiter.clone()))
    }

    /// The retry layer of a [`Pacer`](crate::Pacer) stack: it reads the
    /// verdict its [`ClassifyLayer`](crate::feedback::ClassifyLayer)
    /// stamped, and leaves the limiter to that layer's
    /// [`Steward`](crate::feedback::Steward).
    pub(crate) fn stamped_retry_layer(&self) -> Result<StampedRetryLayer, ConfigError> {
        let builder = RetryLayer::builder()
            .classifier(Stamped(self.classifier()))
            .replay(HttpReplay::new().retry_unsafe_methods(self.retry.retry_unsafe_methods));
        self.retry_figures(builder)?.build()
    }

    /// `builder` with this policy's retry figures, no limiter.
    fn retry_figures<C, R>(
        &self,
        builder: RetryLayerBuilder<C, R>,
    ) -> Result<RetryLayerBuilder<C, R>, ConfigError> {
        let spec = &self.retry;
        let jitter = match spec.jitter {
            JitterSpec::Full => Jitter::Full,
            JitterSpec::Decorrelated => Jitter::Decorrelated,
            JitterSpec::None => Jitter::None,
        };
        let mut builder = builder
            .max_attempts(spec.max_attempts)
            .backoff(
                // The policy spells them `retry.base` / `retry.cap`.
                Backoff::new(spec.base, spec.cap, jitter)
                    .map_err(|e| e.renamed("retry.backoff", "retry"))?,
            )
            .max_retry_after(spec.max_retry_after)
            .safety_margin(spec.safety_margin)
            .retry_refused(spec.retry_refused);
        builder = match &spec.budget {
            Some(budget) => builder.budget(RetryBudget::new(
                budget.ttl,
                budget.min_per_sec,
                budget.ratio,
            )?),
            None => builder.no_budget(),
        };
        if let Some(deadline) = spec.deadline {
            builder = builder.deadline(deadline);
        }
        if let Some(seed) = spec.seed {
            builder = builder.seed(seed);
        }
        Ok(builder)
    }
}

impl QuotaSpec {
    /// The band this spec describes.
    ///
    /// # Errors
    ///
    /// `quota.…`: a spec must be either a window (`limit`, `window`) or a
    /// rate (`rate`, `per`, optional `burst`), with valid figures.
    pub fn to_quota(&self) -> Result<Quota, ConfigError> {
        match (self.limit, self.window, self.rate, self.per) {
            (Some(limit), Some(window), None, None) => {
                if self.burst.is_some() {
                    return Err(ConfigError::new(
                        "quota.burst",
                        "a window quota has no burst",
                    ));
                }
                Quota::window(limit, window)
            }
            (None, None, Some(rate), Some(per)) => {
                let quota = Quota::rate(rate, per)?;
                match self.burst {
                    Some(burst) => quota.with_burst(burst),
                    None => Ok(quota),
                }
            }
            (Some(_), None, None, None) => {
                Err(ConfigError::new("quota.window", "is missing (with limit)"))
            }
            (None, Some(_), None, None) => {
                Err(ConfigError::new("quota.limit", "is missing (with window)"))
            }
            (None, None, Some(_), None) => {
                Err(ConfigError::new("quota.per", "is missing (with rate)"))
            }
            (None, None, None, Some(_)) => {
                Err(ConfigError::new("quota.rate", "is missing (with per)"))
            }
            (None, None, None, None) => Err(ConfigError::new(
                "quota",
                "is empty: give limit + window, or rate + per",
            )),
            _ => Err(ConfigError::new(
                "quota",
                "mixes a window (limit, window) and a rate (rate, per)",
            )),
        }
    }
}
