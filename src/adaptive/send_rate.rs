//! The measured send rate, as the AWS SDKs' adaptive mode measures it.

use tokio::time::Instant;

/// Width of a counting bucket, in seconds (AWS: 0.5 s).
const BUCKET: f64 = 0.5;
/// Weight of the newest bucket in the moving average (AWS `SMOOTH`).
const SMOOTH: f64 = 0.8;
/// The shortest span a rate is measured over before the first bucket
/// closes, so that a burst at one instant does not read as infinite.
const MIN_SPAN: f64 = 0.05;

/// Sends per second: counted in half-second buckets and smoothed, as
/// smithy-rs `ClientRateLimiter::update_measured_rate` does.
///
/// One difference: smithy-rs starts the average at 0.5/s, so a throttle in
/// the first half second collapses the rate to 0.35/s. Until the first
/// bucket closes, this reports the sends so far over the time so far.
#[derive(Debug, Clone)]
pub(crate) struct SendRate {
    origin: Option<Instant>,
    /// Start of the current bucket, in seconds since `origin`.
    bucket: f64,
    count: u64,
    rate: Option<f64>,
}

impl SendRate {
    pub(crate) fn new() -> Self {
        Self {
            origin: None,
            bucket: 0.0,
            count: 0,
            rate: None,
        }
    }

    fn seconds(&mut self, now: Instant) -> f64 {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin).as_secs_f64()
    }

    /// One send at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        let t = self.seconds(now);
        let bucket = (t / BUCKET).floor() * BUCKET;
        if bucket > self.bucket {
            let current = self.count as f64 / (bucket - self.bucket);
            self.rate = Some(match self.rate {
                Some(old) => SMOOTH * current + (1.0 - SMOOTH) * old,
                None => current,
            });
            self.count = 0;
            self.bucket = bucket;
        }
        self.count += 1;
    }

    /// The measured rate at `now` (0 before the first send).
    ///
    /// Buckets that closed since the last send are counted as if a send had
    /// closed them, so a client that went quiet reads as quiet.
    pub(crate) fn rate(&mut self, now: Instant) -> f64 {
        let t = self.seconds(now);
        let bucket = (t / BUCKET).floor() * BUCKET;
        match self.rate {
            Some(old) if bucket > self.bucket => {
                let current = self.count as f64 / (bucket - self.bucket);
                SMOOTH * current + (1.0 - SMOOTH) * old
            }
            Some(rate) => rate,
            None => self.count as f64 / t.max(MIN_SPAN),
        }
    }
}
