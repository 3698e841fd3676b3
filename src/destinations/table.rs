use std::collections::HashMap;

use crate::ConfigError;
use crate::policy::Policy;

/// Which [`Policy`] applies to which destination: exact keys, `*.suffix`
/// patterns, and a default.
///
/// Lookups try the exact key first, then the longest matching suffix,
/// then the default. Keys are compared case-insensitively (host names are).
///
/// ```
/// use tower_pacer::destinations::PolicyTable;
/// use tower_pacer::presets::{self, HubSpotTier};
/// use tower_pacer::policy::Policy;
///
/// let table = PolicyTable::new()
///     .with_default(Policy::default())
///     .with("api.hubapi.com", presets::hubspot(HubSpotTier::Starter))?
///     .with("*.my.salesforce.com", presets::salesforce(1_000_000))?;
/// assert_eq!(table.lookup("acme.my.salesforce.com").map(|p| p.name.as_str()), Some("salesforce"));
/// assert_eq!(table.lookup("example.org").map(|p| p.name.as_str()), Some("default"));
/// # Ok::<(), tower_pacer::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PolicyTable {
    exact: HashMap<String, Policy>,
    /// (".suffix", policy), longest suffix first.
    suffixes: Vec<(String, Policy)>,
    default: Option<Policy>,
}

impl PolicyTable {
    /// An empty table: no destination has a policy until one is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// The policy for destinations nothing else matches.
    pub fn with_default(mut self, policy: Policy) -> Self {
        self.default = Some(policy);
        self
    }

    /// `policy` for the key `pattern`: an exact key (`api.hubapi.com`), or
    /// `*.suffix` for every key under a domain (`*.my.salesforce.com`).
    ///
    /// # Errors
    ///
    /// `destinations["…"]` naming the pattern, if it is empty or the policy
    /// is invalid.
    pub fn with(mut self, pattern: &str, policy: Policy) -> Result<Self, ConfigError> {
        let field = || format!("destinations[{pattern:?}]");
        policy.validate().map_err(|e| e.within(&field()))?;
        let pattern = pattern.trim().to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some("") => return Err(ConfigError::new(field(), "a suffix pattern needs a domain")),
            Some(suffix) => {
                self.suffixes.retain(|(s, _)| s[1..] != *suffix);
                self.suffixes.push((format!(".{suffix}"), policy));
                self.suffixes
                    .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
            }
            None if pattern.is_empty() => {
                return Err(ConfigError::new(field(), "must not be empty"));
            }
            None => {
                self.exact.insert(pattern, policy);
            }
        }
        Ok(self)
    }

    /// The policy for `key`, if any.
    pub fn lookup(&self, key: &str) -> Option<&Policy> {
        let key = key.to_ascii_lowercase();
        // Ports do not change which API it is.
        let host = key
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(key.as_str(), |(h, _)| h);
        self.exact
            .get(key.as_str())
            .or_else(|| self.exact.get(host))
            .or_else(|| {
                self.suffixes
                    .iter()
                    .find(|(suffix, _)| host.ends_with(suffix.as_str()))
                    .map(|(_, policy)| policy)
            })
            .or(self.default.as_ref())
    }
}
