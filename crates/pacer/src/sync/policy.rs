//! Where a command's policy comes from: a preset by name, or a TOML/JSON
//! file (`tower_pacer::policy::Policy`), optionally time-scaled.

use std::path::PathBuf;

use tower_pacer::policy::Policy;
use tower_pacer::presets::{self, Ga4Property, HubSpotTier, ShopifyPlan, SlackTier, StripeMode};

use crate::error::CliError;

/// The preset names `--preset` takes.
pub const PRESETS: &[&str] = &[
    "hubspot",
    "hubspot-professional",
    "salesforce",
    "mailchimp",
    "ga4",
    "github",
    "stripe",
    "slack",
    "shopify",
];

/// `--preset NAME` or `--policy FILE`, and `--time-scale`.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// A ready policy: hubspot, hubspot-professional, salesforce, mailchimp,
    /// ga4, github, stripe, slack, shopify.
    #[arg(long, default_value = "hubspot", conflicts_with = "policy")]
    preset: String,
    /// A policy file (TOML, or JSON if it ends in .json) instead of a preset.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Multiply the policy's quota windows and periods (for a time-scaled
    /// `pacer mock`; leave out for a real API). Waits and retries are not
    /// scaled.
    #[arg(long, value_name = "F")]
    time_scale: Option<f64>,
}

impl PolicyArgs {
    /// The policy these flags name.
    pub fn policy(&self) -> Result<Policy, CliError> {
        let policy = match &self.policy {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError::usage(format!("--policy {}: {e}", path.display())))?;
                let parsed = if path.extension().is_some_and(|e| e == "json") {
                    serde_json::from_str::<Policy>(&text).map_err(|e| e.to_string())
                } else {
                    toml::from_str::<Policy>(&text).map_err(|e| e.to_string())
                };
                parsed.map_err(|e| CliError::usage(format!("--policy {}: {e}", path.display())))?
            }
            None => preset(&self.preset)?,
        };
        Ok(match self.time_scale {
            Some(f) if f > 0.0 && f <= 1.0 => policy.time_scaled(f),
            Some(_) => return Err(CliError::usage("--time-scale must be in (0, 1]")),
            None => policy,
        })
    }
}

/// The preset called `name`.
pub fn preset(name: &str) -> Result<Policy, CliError> {
    Ok(match name {
        "hubspot" => presets::hubspot(HubSpotTier::Starter),
        "hubspot-professional" => presets::hubspot(HubSpotTier::Professional),
        "salesforce" => presets::salesforce(100_000),
        "mailchimp" => presets::mailchimp(),
        "ga4" => presets::ga4(Ga4Property::Standard),
        "github" => presets::github(),
        "stripe" => presets::stripe(StripeMode::Live),
        "slack" => presets::slack(SlackTier::Tier3),
        "shopify" => presets::shopify(ShopifyPlan::Standard),
        other => {
            return Err(CliError::usage(format!(
                "unknown preset {other:?}: use one of {}, or --policy FILE",
                PRESETS.join(", ")
            )));
        }
    })
}
