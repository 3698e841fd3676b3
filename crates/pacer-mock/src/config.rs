//! [`MockConfig`]: what the mock enforces and how it answers, with validation.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use super::error::ParseError;
use super::style::{ErrorBody, HeaderDialect, RetryAfterForm};
use crate::error::ConfigError;

/// Longest scaled window or delay accepted. `Instant + Duration` panics on
/// overflow, so anything that reaches the clock is bounded well below that.
const MAX_SCALED: Duration = Duration::from_secs(10 * 366 * 86_400);
/// Largest batch the server agrees to be configured with (memory bound).
const MAX_BATCH: usize = 100_000;

/// How a window quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowMode {
    /// Exact sliding window: never more than `limit` accepted requests in any
    /// interval of length `window`.
    #[default]
    Sliding,
    /// Fixed windows aligned on the server's start: the count resets at each
    /// boundary, so up to `2 × limit` can pass around a boundary (as real
    /// "per calendar hour/day" quotas allow).
    Fixed,
}

impl FromStr for WindowMode {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sliding" => Ok(WindowMode::Sliding),
            "fixed" => Ok(WindowMode::Fixed),
            _ => Err(ParseError::new(s, "expected sliding or fixed")),
        }
    }
}

/// `limit` requests per `window`, per API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowQuota {
    /// Requests accepted per window.
    pub limit: u64,
    /// Nominal window length (multiplied by [`MockConfig::time_scale`]).
    pub window: Duration,
    /// Sliding or fixed.
    pub mode: WindowMode,
}

impl WindowQuota {
    /// An exact sliding window of `limit` per `window`.
    pub fn sliding(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window,
            mode: WindowMode::Sliding,
        }
    }

    /// A fixed window of `limit` per `window`, aligned on the server's start.
    pub fn fixed(limit: u64, window: Duration) -> Self {
        Self {
            limit,
            window,
            mode: WindowMode::Fixed,
        }
    }

    /// The rejection reason this window reports: windows of a day or more
    /// are the "daily" cap, shorter ones the "rate" limit.
    pub fn is_daily(&self) -> bool {
        self.window >= Duration::from_secs(86_400)
    }
}

/// A GCRA rate: `count` per `period` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Requests per period.
    pub count: u64,
    /// Nominal period (multiplied by [`MockConfig::time_scale`]).
    pub period: Duration,
    /// Requests that may arrive back to back (at least 1).
    pub burst: u64,
}

/// Random faults, decided per request from the seeded generator. Faulted
/// requests are answered before the limiter and do not consume quota.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Fraction of requests answered `503 Service Unavailable`.
    pub status_503: f64,
    /// Fraction of requests answered `500 Internal Server Error`.
    pub status_500: f64,
    /// Fraction of requests whose connection is closed mid-response: the
    /// status line, headers and part of the body are written, then the
    /// connection is dropped.
    pub reset: f64,
    /// Fraction of accepted requests delayed by `slow_delay` (on top of the
    /// latency), to exercise client timeouts.
    pub slow: f64,
    /// Extra delay of a slow response (nominal, scaled).
    pub slow_delay: Duration,
}

/// Latency added to every accepted request: `base` plus a uniform jitter in
/// `[0, jitter]` (nominal, scaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Fixed part.
    pub base: Duration,
    /// Upper bound of the random part.
    pub jitter: Duration,
}

impl FromStr for Latency {
    type Err = ParseError;

    /// Reads `BASE[+JITTER]` in milliseconds, e.g. `20+10`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (base, jitter) = s.trim().split_once('+').unwrap_or((s.trim(), "0"));
        let ms = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| ParseError::new(s, "expected BASE[+JITTER] in whole milliseconds"))
        };
        Ok(Self {
            base: ms(base)?,
            jitter: ms(jitter)?,
        })
    }
}

/// Everything the mock enforces and how it answers. Build it from a
/// [`Preset`](super::Preset) or from [`MockConfig::default`] (no limits) and
/// the `with_*` setters; all fields are public too.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MockConfig {
    /// Name shown in the start-up line (`custom` unless from a preset).
    pub name: String,
    /// Address to bind (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Multiplies every window and delay: 0.01 makes a 10 s window last 100 ms.
    pub time_scale: f64,
    /// Window quotas, all enforced at once, per key.
    pub windows: Vec<WindowQuota>,
    /// GCRA rate, per key.
    pub rate: Option<RateQuota>,
    /// Maximum in-flight requests per key.
    pub concurrency: Option<u32>,
    /// Status of a rejection (429, 403 or 503 in practice).
    pub reject_status: u16,
    /// How a rejection states `Retry-After`.
    pub retry_after: RetryAfterForm,
    /// Rate-limit header dialect on every response.
    pub headers: HeaderDialect,
    /// Vendor style of a rejection body.
    pub error_body: ErrorBody,
    /// Random faults.
    pub faults: Faults,
    /// Latency added to accepted requests.
    pub latency: Latency,
    /// Most items `POST /batch` accepts.
    pub batch_max: usize,
    /// Fraction of batch items that fail on their own.
    pub batch_item_failure: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Honour `Idempotency-Key` on `POST /batch`: a key seen before (per
    /// API key) gets its first answer again and nothing is processed twice.
    pub idempotency: bool,
    /// Count each batch item's `"id"` field in [`MockStats::ids`](super::MockStats::ids).
    pub track_ids: bool,
    /// Serve HTTPS with these PEM files (feature `tls`).
    pub tls: Option<TlsFiles>,
    /// Answer `401 Unauthorized` to every request whose key is not this
    /// one (to test how a client handles refused credentials).
    pub require_key: Option<String>,
}

/// A PEM certificate chain and its private key, for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: std::path::PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

impl TlsFiles {
    /// The certificate chain and key at these paths.
    pub fn new(cert: impl Into<std::path::PathBuf>, key: impl Into<std::path::PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
        }
    }
}

impl Default for MockConfig {
    /// No limits, no faults: an echo server on a free loopback port.
    fn default() -> Self {
        Self {
            name: "custom".to_owned(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            time_scale: 1.0,
            windows: Vec::new(),
            rate: None,
            concurrency: None,
            reject_status: 429,
            retry_after: RetryAfterForm::Seconds,
            headers: HeaderDialect::Ietf,
            error_body: ErrorBody::Generic,
            faults: Faults::default(),
            latency: Latency::default(),
            batch_max: 100,
            batch_item_failure: 0.0,
            seed: 0,
            idempotency: false,
            track_ids: false,
            tls: None,
            require_key: None,
        }
    }
}

impl MockConfig {
    /// Adds an exact sliding window of `limit` per `window`.
    pub fn with_window(mut self, limit: u64, window: Duration) -> Self {
        self.windows.push(WindowQuota::sliding(limit, window));
        self
    }

    /// Adds a fixed window of `limit` per `window`.
    pub fn with_fixed_window(mut self, limit: u64, window: Duration) -> Self {
        self.windows.push(WindowQuota::fixed(limit, window));
        self
    }

    /// Sets the GCRA rate.
    pub fn with_rate(mut self, count: u64, period: Duration, burst: u64) -> Self {
        self.rate = Some(RateQuota {
            count,
            period,
            burst,
        });
        self
    }

    /// Sets the per-key concurrency cap.
    pub fn with_concurrency(mut self, max_in_flight: u32) -> Self {
        self.concurrency = Some(max_in_flight);
        self
    }

    /// Sets the time scale.
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }

    /// Sets the port (0 = any free port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the rejection status.
    pub fn with_reject_status(mut self, status: u16) -> Self {
        self.reject_status = status;
        self
    }

    /// Sets the `Retry-After` form.
    pub fn with_retry_after(mut self, form: RetryAfterForm) -> Self {
        self.retry_after = form;
        self
    }

    /// Sets the header dialect.
    pub fn with_headers(mut self, dialect: HeaderDialect) -> Self {
        self.headers = dialect;
        self
    }

    /// Sets the faults.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Sets the latency.
    pub fn with_latency(mut self, base: Duration, jitter: Duration) -> Self {
        self.latency = Latency { base, jitter };
        self
    }

    /// Sets the largest batch.
    pub fn with_batch_max(mut self, max: usize) -> Self {
        self.batch_max = max;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A nominal duration multiplied by the time scale (saturating; only
    /// meaningful on a validated config).
    pub fn scaled(&self, nominal: Duration) -> Duration {
        Duration::try_from_secs_f64(nominal.as_secs_f64() * self.time_scale).unwrap_or(MAX_SCALED)
    }

    /// Checks every field; the error names the first offending one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(ConfigError::new(
                "time_scale",
                "must be a finite number above 0",
            ));
        }
        let scaled_ok = |field: String, nominal: Duration, allow_zero: bool| {
            let real = Duration::try_from_secs_f64(nominal.as_secs_f64() * self.time_scale)
                .map_err(|_| ConfigError::new(field.clone(), "is out of range once scaled"))?;
            if real > MAX_SCALED {
                return Err(ConfigError::new(
                    field,
                    "is longer than 10 years once scaled",
                ));
            }
            if !allow_zero && real < Duration::from_micros(1) {
                return Err(ConfigError::new(field, "is shorter than 1µs once scaled"));
            }
            Ok(())
        };
        for (i, w) in self.windows.iter().enumerate() {
            if w.limit == 0 {
                return Err(ConfigError::new(
                    format!("windows[{i}].limit"),
                    "must be at least 1",
                ));
            }
            if w.limit > 100_000_000 {
                // The sliding window keeps one timestamp per accepted request.
                return Err(ConfigError::new(
                    format!("windows[{i}].limit"),
                    "must be at most 100000000",
                ));
            }
            scaled_ok(format!("windows[{i}].window"), w.window, false)?;
        }
        if let Some(r) = &self.rate {
            if r.count == 0 {
                return Err(ConfigError::new("rate.count", "must be at least 1"));
            }
            if r.burst == 0 {
                return Err(ConfigError::new("rate.burst", "must be at least 1"));
            }
            scaled_ok("rate.period".into(), r.period, false)?;
            // The GCRA tolerance is (burst - 1) emission intervals.
            let tolerance = r.period.as_secs_f64() / r.count as f64 * r.burst as f64;
            scaled_ok(
                "rate.burst".into(),
                Duration::try_from_secs_f64(tolerance).unwrap_or(Duration::MAX),
                true,
            )?;
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::new("concurrency", "must be at least 1"));
        }
        if !(400..=599).contains(&self.reject_status) {
            return Err(ConfigError::new(
                "reject_status",
                "must be a 4xx or 5xx status",
            ));
        }
        let fraction = |field: &'static str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    field,
                    "must be a fraction between 0 and 1",
                ))
            }
        };
        fraction("faults.status_503", self.faults.status_503)?;
        fraction("faults.status_500", self.faults.status_500)?;
        fraction("faults.reset", self.faults.reset)?;
        fraction("faults.slow", self.faults.slow)?;
        fraction("batch_item_failure", self.batch_item_failure)?;
        if self.faults.status_503 + self.faults.status_500 + self.faults.reset > 1.0 {
            return Err(ConfigError::new(
                "faults",
                "503, 500 and reset fractions add up to more than 1",
            ));
        }
        scaled_ok("faults.slow_delay".into(), self.faults.slow_delay, true)?;
        scaled_ok("latency.base".into(), self.latency.base, true)?;
        scaled_ok("latency.jitter".into(), self.latency.jitter, true)?;
        if self.batch_max == 0 || self.batch_max > MAX_BATCH {
            return Err(ConfigError::new(
                "batch_max",
                format!("must be between 1 and {MAX_BATCH}"),
            ));
        }
        Ok(())
    }

    /// One line describing the limits, for the start-up message.
    pub fn describe_limits(&self) -> String {
        use crate::units::format_duration as f;
        let mut parts: Vec<String> = self
            .windows
            .iter()
            .map(|w| {
                let mode = match w.mode {
                    WindowMode::Sliding => "sliding",
                    WindowMode::Fixed => "fixed",
                };
                format!("{}/{} {mode}", w.limit, f(w.window))
            })
            .collect();
        if let Some(r) = &self.rate {
            parts.push(format!(
                "rate {}/{} burst {}",
                r.count,
                f(r.period),
                r.burst
            ));
        }
        if let Some(c) = self.concurrency {
            parts.push(format!("concurrency {c}"));
        }
        let limits = if parts.is_empty() {
            "no limits".to_owned()
        } else {
            parts.join(", ")
        };
        format!(
            "{limits} per key; reject {} retry-after={} headers={} time-scale={} batch-max={}",
            self.reject_status, self.retry_after, self.headers, self.time_scale, self.batch_max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(MockConfig::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |c: MockConfig| c.validate().unwrap_err().field().to_owned();
        assert_eq!(
            field(MockConfig::default().with_time_scale(0.0)),
            "time_scale"
        );
        assert_eq!(
            field(MockConfig::default().with_time_scale(f64::NAN)),
            "time_scale"
        );
        assert_eq!(
            field(
                MockConfig::default()
                    .with_window(10, Duration::from_secs(1))
                    .with_window(0, Duration::from_secs(1))
            ),
            "windows[1].limit"
        );
        assert_eq!(
            field(MockConfig::default().with_window(1, Duration::ZERO)),
            "windows[0].window"
        );
        assert_eq!(
            field(MockConfig::default().with_window(1, Duration::from_secs(86_400 * 365 * 20))),
            "windows[0].window"
        );
        assert_eq!(
            field(MockConfig::default().with_rate(0, Duration::from_secs(1), 1)),
            "rate.count"
        );
        assert_eq!(
            field(MockConfig::default().with_rate(1, Duration::from_secs(1), 0)),
            "rate.burst"
        );
        assert_eq!(
            field(MockConfig::default().with_concurrency(0)),
            "concurrency"
        );
        assert_eq!(
            field(MockConfig::default().with_reject_status(200)),
            "reject_status"
        );
        assert_eq!(field(MockConfig::default().with_batch_max(0)), "batch_max");
        let faults = Faults {
            status_503: 0.6,
            status_500: 0.6,
            ..Faults::default()
        };
        assert_eq!(field(MockConfig::default().with_faults(faults)), "faults");
        let faults = Faults {
            slow: -0.1,
            ..Faults::default()
        };
        assert_eq!(
            field(MockConfig::default().with_faults(faults)),
            "faults.slow"
        );
    }

    #[test]
    fn latency_and_enums_parse() {
        assert_eq!(
            "20+10".parse::<Latency>().unwrap(),
            Latency {
                base: Duration::from_millis(20),
                jitter: Duration::from_millis(10)
            }
        );
        assert_eq!("5".parse::<Latency>().unwrap().jitter, Duration::ZERO);
        assert!("x+1".parse::<Latency>().is_err());
        assert_eq!(
            "date".parse::<RetryAfterForm>().unwrap(),
            RetryAfterForm::HttpDate
        );
        assert_eq!(
            "X-RateLimit".parse::<HeaderDialect>().unwrap(),
            HeaderDialect::XRateLimit
        );
        assert!("bogus".parse::<HeaderDialect>().is_err());
    }

    #[test]
    fn scaling_multiplies() {
        let c = MockConfig::default().with_time_scale(0.01);
        assert_eq!(
            c.scaled(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
    }
}
