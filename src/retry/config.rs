//! [`RetryLayerBuilder`] and the validated configuration it produces.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::{Backoff, HttpReplay, RetryBudget, RetryLayer};
use crate::ConfigError;
use crate::classify::{BoxErrors, HttpClassifier};
use crate::feedback::Steward;
use crate::rate::Limiter;

/// Default `max_attempts`: the first try and two retries (the AWS SDKs'
/// default; the SRE book advises at most 3).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Default `max_retry_after`: a server asking for a longer wait fails the
/// call fast. A minute covers per-second and per-minute windows; a daily
/// quota's hours-long reset is better left to the caller or a dead-letter
/// replay than to a sleeping task.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Default safety margin added to a server's `Retry-After`: retries have
/// been seen landing up to 11 ms early (timer granularity, clock skew;
/// dotnet/extensions#7001), and an early retry is another 429.
pub const DEFAULT_SAFETY_MARGIN: Duration = Duration::from_millis(50);

/// Builds a [`RetryLayer`]; see [`RetryLayer::builder`].
///
/// `C` classifies each attempt's result
/// ([`Classify`](crate::classify::Classify)); `R` copies requests and
/// judges their idempotency ([`Replay`](super::Replay)). The defaults suit
/// `http::Request`/`http::Response` over a stack whose errors are
/// [`BoxError`](crate::BoxError) (the [`RateLimit`](crate::rate::RateLimit)
/// layer's); straight over a client whose error is a concrete
/// `std::error::Error` (hyper-util's, reqwest's), pass
/// `.classifier(HttpClassifier::default())`.
#[derive(Debug, Clone)]
pub struct RetryLayerBuilder<C = BoxErrors<HttpClassifier>, R = HttpReplay> {
    classifier: C,
    replay: R,
    settings: Settings,
}

/// The builder's settings that do not depend on its type parameters.
#[derive(Debug, Clone)]
struct Settings {
    max_attempts: u32,
    backoff: Backoff,
    deadline: Option<Duration>,
    max_retry_after: Duration,
    margin: Duration,
    budget: Option<RetryBudget>,
    limiter: Option<Limiter>,
    seed: Option<u64>,
    retry_refused: bool,
}

impl Default for RetryLayerBuilder {
    fn default() -> Self {
        Self {
            classifier: BoxErrors(HttpClassifier::default()),
            replay: HttpReplay::default(),
            settings: Settings {
                max_attempts: DEFAULT_MAX_ATTEMPTS,
                backoff: Backoff::default(),
                deadline: None,
                max_retry_after: DEFAULT_MAX_RETRY_AFTER,
                margin: DEFAULT_SAFETY_MARGIN,
                budget: Some(RetryBudget::default()),
                limiter: None,
                seed: None,
                retry_refused: true,
            },
        }
    }
}

impl<C, R> RetryLayerBuilder<C, R> {
    /// Attempts per request, the first included (default 3). Checked by
    /// [`build`](Self::build): at least 1.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.settings.max_attempts = max_attempts;
        self
    }

    /// The backoff for retries the server gave no delay for (default:
    /// full jitter, 100 ms to 20 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// A total time limit, counted from the call (so the first attempt's
    /// wait for a rate-limit slot counts): a retry whose delay would end
    /// past it is not made, and the last attempt's result is returned. Unset by default. Checked by [`build`](Self::build): > 0.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// The longest server-requested delay (`Retry-After`, gRPC pushback)
    /// the layer will wait for (default 60 s); a longer request fails the
    /// call at once with
    /// [`RetryError::RetryAfterTooLong`](super::RetryError::RetryAfterTooLong).
    /// It also bounds how long a throttled answer pauses the whole
    /// destination (see [`limiter`](Self::limiter)).
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.settings.max_retry_after = max;
        self
    }

    /// Added to a server-requested delay, so the retry lands after the
    /// server's window reopens rather than on its edge (default 50 ms).
    pub fn safety_margin(mut self, margin: Duration) -> Self {
        self.settings.margin = margin;
        self
    }

    /// The retry budget (default [`RetryBudget::default`]: 20 % of the
    /// requests of the last 10 s, plus 10 per second). Pass a clone of one
    /// budget to several layers to make them share it.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.settings.budget = Some(budget);
        self
    }

    /// No retry budget: only `max_attempts` bounds the extra load. Not
    /// recommended against a third-party API.
    pub fn no_budget(mut self) -> Self {
        self.settings.budget = None;
        self
    }

    /// The destination's limiter (the one its
    /// [`RateLimitLayer`](crate::rate::RateLimitLayer) uses). A
    /// rate-limited answer with a delay then pauses it
    /// ([`Limiter::pause_until`]), so that every caller of the destination
    /// waits, not only the one retrying — for the delay plus the safety
    /// margin, and never longer than
    /// [`max_retry_after`](Self::max_retry_after) plus the margin. The
    /// layer writes to the limiter through a
    /// [`Steward`](crate::feedback::Steward); a stack whose
    /// [`ClassifyLayer`](crate::feedback::ClassifyLayer) has one (the
    /// [`Pacer`](crate::Pacer)'s) leaves this unset.
    pub fn limiter(mut self, limiter: Limiter) -> Self {
        self.settings.limiter = Some(limiter);
        self
    }

    /// Whether a refusal (a rate-limited answer: 429, or a 503/403 the
    /// classifier reads as a rate limit) is retried whatever the method
    /// (default `true`). A server refuses such a request *before* doing
    /// anything, so a POST refused with 429 is as safe to send again as a
    /// GET. Turn it off for an API known to process requests before it
    /// refuses them: refused POSTs and PATCHes then follow the idempotency
    /// rule, like any other failure.
    pub fn retry_refused(mut self, retry: bool) -> Self {
        self.settings.retry_refused = retry;
        self
    }

    /// Seed the jitter, for reproducible delays. Unseeded, the seed comes
    /// from the operating system.
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = Some(seed);
        self
    }

    /// Classify results with `classifier` instead.
    pub fn classifier<C2>(self, classifier: C2) -> RetryLayerBuilder<C2, R> {
        RetryLayerBuilder {
            classifier,
            replay: self.replay,
            settings: self.settings,
        }
    }

    /// Copy requests and judge idempotency with `replay` instead (e.g.
    /// [`Cloned`](super::Cloned) for non-HTTP requests).
    pub fn replay<R2>(self, replay: R2) -> RetryLayerBuilder<C, R2> {
        RetryLayerBuilder {
            classifier: self.classifier,
            replay,
            settings: self.settings,
        }
    }

    /// The layer, or a [`ConfigError`] naming the field at fault
    /// (`retry.max_attempts`, `retry.deadline`).
    pub fn build(self) -> Result<RetryLayer<C, R>, ConfigError> {
        let settings = self.settings;
        if settings.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be ≥ 1"));
        }
        if settings.deadline.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::new("retry.deadline", "must be > 0"));
        }
        let seed = settings.seed.unwrap_or_else(os_seed);
        Ok(RetryLayer::from_shared(Arc::new(Shared {
            classifier: self.classifier,
            replay: self.replay,
            config: Config {
                max_attempts: settings.max_attempts,
                backoff: settings.backoff,
                deadline: settings.deadline,
                max_retry_after: settings.max_retry_after,
                margin: settings.margin,
                budget: settings.budget,
                steward: settings.limiter.map(|limiter| {
                    Steward::new(limiter, settings.max_retry_after, settings.margin)
                }),
                retry_refused: settings.retry_refused,
                seeds: Seeds {
                    seed,
                    next: AtomicU64::new(0),
                },
            },
        })))
    }
}

/// Everything the services of one layer share.
#[derive(Debug)]
pub(crate) struct Shared<C, R> {
    pub(crate) classifier: C,
    pub(crate) replay: R,
    pub(crate) config: Config,
}

/// The validated settings.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_retry_after: Duration,
    pub(crate) margin: Duration,
    pub(crate) budget: Option<RetryBudget>,
    /// Applies rate-limited verdicts to the destination's limiter, when
    /// the layer was given one (a stack without a
    /// [`ClassifyLayer`](crate::feedback::ClassifyLayer) that does so).
    pub(crate) steward: Option<Steward>,
    pub(crate) retry_refused: bool,
    pub(crate) seeds: Seeds,
}

/// One RNG stream per retried request, derived from the layer's seed and
/// the order in which requests first retry, so that delays are
/// reproducible without a lock shared by every retry.
#[derive(Debug)]
pub(crate) struct Seeds {
    seed: u64,
    next: AtomicU64,
}

impl Seeds {
    /// The seed of the next request's stream.
    pub(crate) fn next(&self) -> u64 {
        // Golden-ratio spacing: neighbouring requests get unrelated seeds
        // (SmallRng expands each seed with a PCG step as well).
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.seed
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// A seed from the OS, or from the clock if the OS has none to give.
fn os_seed() -> u64 {
    match SmallRng::try_from_os_rng() {
        Ok(mut rng) => rng.next_u64(),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}
