//! Presets imitating real APIs. The figures come from the vendors' public
//! documentation as summarised in the project's rate-limit reference; each
//! variant says what it enforces and what it simplifies.

use std::str::FromStr;
use std::time::Duration;

use super::config::{MockConfig, WindowQuota};
use super::error::ParseError;
use super::style::{ErrorBody, HeaderDialect, RetryAfterForm};

const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

/// A ready-made configuration imitating one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// HubSpot (Free/Starter tier): 100 requests per rolling 10 s and
    /// 250 000 per day (fixed window, as HubSpot resets at midnight), per key;
    /// `POST /batch` takes 100 inputs; 429 with whole-second `Retry-After`,
    /// `X-HubSpot-RateLimit-*` headers and a `policyName` body.
    Hubspot,
    /// Salesforce: 25 concurrent requests (the "long-running" cap, applied
    /// to every request here) and 100 000 requests per rolling 24 h; 403
    /// `REQUEST_LIMIT_EXCEEDED`, no `Retry-After`, no rate-limit headers;
    /// batch 200 (sObject collections).
    Salesforce,
    /// Mailchimp: 10 simultaneous connections per key; 429 without
    /// `Retry-After` or rate-limit headers; batch 500 operations.
    Mailchimp,
    /// GA4 Data API (standard property): 10 concurrent requests, 40 000
    /// tokens per hour and 200 000 per day (one request = one token here;
    /// fixed windows); 429 `RESOURCE_EXHAUSTED`, no `Retry-After`.
    Ga4,
    /// GitHub REST: 5 000 requests per hour (fixed window) and 100 concurrent
    /// (secondary limit); 403 with `X-RateLimit-*` headers whose reset is an
    /// epoch, no `Retry-After` (the primary limit sends none).
    Github,
    /// A plain exact sliding window of 50 per second, 429 with whole-second
    /// `Retry-After` and IETF headers: the preset for tests.
    Strict,
}

impl Preset {
    /// Every preset, in declaration order.
    pub const ALL: [Preset; 6] = [
        Preset::Hubspot,
        Preset::Salesforce,
        Preset::Mailchimp,
        Preset::Ga4,
        Preset::Github,
        Preset::Strict,
    ];

    /// The preset's name, as `--preset` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Hubspot => "hubspot",
            Preset::Salesforce => "salesforce",
            Preset::Mailchimp => "mailchimp",
            Preset::Ga4 => "ga4",
            Preset::Github => "github",
            Preset::Strict => "strict",
        }
    }

    /// The preset's configuration.
    pub fn config(self) -> MockConfig {
        let base = MockConfig {
            name: self.name().to_owned(),
            ..MockConfig::default()
        };
        match self {
            Preset::Hubspot => MockConfig {
                windows: vec![
                    WindowQuota::sliding(100, 10 * SECOND),
                    WindowQuota::fixed(250_000, DAY),
                ],
                headers: HeaderDialect::Hubspot,
                error_body: ErrorBody::Hubspot,
                batch_max: 100,
                ..base
            },
            Preset::Salesforce => MockConfig {
                windows: vec![WindowQuota::sliding(100_000, DAY)],
                concurrency: Some(25),
                reject_status: 403,
                retry_after: RetryAfterForm::None,
                headers: HeaderDialect::None,
                error_body: ErrorBody::Salesforce,
                batch_max: 200,
                ..base
            },
            Preset::Mailchimp => MockConfig {
                concurrency: Some(10),
                retry_after: RetryAfterForm::None,
                headers: HeaderDialect::None,
                batch_max: 500,
                ..base
            },
            Preset::Ga4 => MockConfig {
                windows: vec![
                    WindowQuota::fixed(40_000, HOUR),
                    WindowQuota::fixed(200_000, DAY),
                ],
                concurrency: Some(10),
                retry_after: RetryAfterForm::None,
                headers: HeaderDialect::None,
                error_body: ErrorBody::Google,
                ..base
            },
            Preset::Github => MockConfig {
                windows: vec![WindowQuota::fixed(5_000, HOUR)],
                concurrency: Some(100),
                reject_status: 403,
                retry_after: RetryAfterForm::None,
                headers: HeaderDialect::XRateLimit,
                error_body: ErrorBody::Github,
                ..base
            },
            Preset::Strict => MockConfig {
                windows: vec![WindowQuota::sliding(50, SECOND)],
                ..base
            },
        }
    }
}

impl FromStr for Preset {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<_> = Preset::ALL.iter().map(|p| p.name()).collect();
                ParseError::new(
                    s,
                    &format!("unknown preset; expected one of {}", names.join(", ")),
                )
            })
    }
}

impl MockConfig {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        preset.config()
    }

    /// The configuration of a preset named like `--preset` takes it.
    pub fn from_preset_name(name: &str) -> Result<Self, ParseError> {
        name.parse::<Preset>().map(Preset::config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_named() {
        for p in Preset::ALL {
            assert_eq!(p.config().validate(), Ok(()), "{p:?}");
            assert_eq!(p.name().parse::<Preset>().unwrap(), p);
            assert_eq!(MockConfig::from_preset_name(p.name()).unwrap(), p.config());
        }
        assert!(MockConfig::from_preset_name("nope").is_err());
    }

    #[test]
    fn hubspot_figures() {
        let c = MockConfig::preset(Preset::Hubspot);
        assert_eq!(
            c.windows[0],
            WindowQuota::sliding(100, Duration::from_secs(10))
        );
        assert!(c.windows[1].is_daily());
        assert_eq!(c.batch_max, 100);
        assert_eq!(c.reject_status, 429);
    }
}
