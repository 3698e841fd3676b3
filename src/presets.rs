//! Ready [`Policy`] values for common APIs, with their figures and quirks.
//!
//! Each preset is a plain `Policy`: adjust any field before building a
//! [`Pacer`](crate::Pacer) from it. The figures come from the vendors'
//! public documentation as read in November 2026 (sources in each doc
//! comment); limits change, and many depend on your plan — check yours.
//!
//! Daily quotas are modelled as a sliding 24 h window. Vendors that reset
//! at midnight allow up to twice the quota across midnight; a sliding
//! window never does, so it is the safe reading.
//!
//! ```
//! use tower_pacer::Pacer;
//! use tower_pacer::presets::{self, HubSpotTier};
//!
//! let mut policy = presets::hubspot(HubSpotTier::Professional);
//! policy.concurrency = Some(8); // your own cap on top
//! let pacer = Pacer::new(policy)?;
//! assert_eq!(pacer.policy().batch.as_ref().map(|b| b.max_items), Some(100));
//! # Ok::<(), tower_pacer::ConfigError>(())
//! ```
//!
//! # Choosing a stack
//!
//! Four platforms from the article this crate grew from, as worked
//! examples. Each is a policy; [`Pacer::layer`](crate::Pacer::layer) puts
//! the stack together in the right order.
//!
//! **HubSpot — a documented window quota and a batch API.** 100 calls in
//! any 10 s (Starter) and a daily cap, shared by every app of the portal.
//! Window quotas never let more than the limit into any window; a margin of
//! a few milliseconds covers the gap between send and arrival; the batch
//! endpoints take 100 records for one call, so put the [`crate::batch`]
//! layer above the pacer, and 100 records cost one slot:
//!
//! ```
//! # use tower_pacer::presets::{self, HubSpotTier};
//! let mut hubspot = presets::hubspot(HubSpotTier::Professional); // 190 / 10 s, 625 000 / day
//! hubspot.headroom.margin = std::time::Duration::from_millis(50); // a slow network
//! # tower_pacer::Pacer::new(hubspot)?;
//! # Ok::<(), tower_pacer::ConfigError>(())
//! ```
//!
//! **Salesforce — a daily cap that binds, and 403 for "too many".** 25
//! long-running requests at once and an org-wide daily allowance. Cap the
//! concurrency, model the day as a window, and give it a `max_wait`: a call
//! that would wait hours for tomorrow's allowance fails at once with
//! `RateError::QuotaExhausted { available_at }` — for a dead-letter store
//! and a replay, not a task asleep for hours. The Bulk API 2.0 is the right
//! tool for mass loads.
//!
//! ```
//! # use tower_pacer::presets;
//! let salesforce = presets::salesforce(100_000); // your org's daily allowance
//! assert_eq!(salesforce.concurrency, Some(25));
//! # tower_pacer::Pacer::new(salesforce)?;
//! # Ok::<(), tower_pacer::ConfigError>(())
//! ```
//!
//! **Mailchimp — connections, not rate.** 10 simultaneous connections per
//! API key and no published rate: a concurrency cap is the whole policy.
//! If the API pushes back anyway, let an adaptive rate find the rest:
//!
//! ```
//! # use tower_pacer::presets;
//! let mut mailchimp = presets::mailchimp();
//! mailchimp.adaptive_rate = Some(Default::default()); // CUBIC, header pacing
//! # tower_pacer::Pacer::new(mailchimp)?;
//! # Ok::<(), tower_pacer::ConfigError>(())
//! ```
//!
//! **Google Analytics (GA4) — concurrency plus token quotas.** 10
//! concurrent requests, 40 000 tokens an hour and 200 000 a day per
//! property; a request costs several tokens, so size the quotas for your
//! reports, and wait the 30 s Google asks for after a 429:
//!
//! ```
//! # use tower_pacer::presets::{self, Ga4Property};
//! # use tower_pacer::policy::QuotaSpec;
//! let mut ga4 = presets::ga4(Ga4Property::Standard);
//! // Reports costing ~10 tokens each: 4 000 an hour, 20 000 a day.
//! ga4.quotas = vec![
//!     QuotaSpec::window(4_000, std::time::Duration::from_secs(3_600)),
//!     QuotaSpec::window(20_000, std::time::Duration::from_secs(86_400)),
//! ];
//! # tower_pacer::Pacer::new(ga4)?;
//! # Ok::<(), tower_pacer::ConfigError>(())
//! ```
//!
//! Several APIs from one client: one policy each in a
//! [`PolicyTable`](crate::destinations::PolicyTable), and
//! [`DestinationsLayer`](crate::destinations::DestinationsLayer) routes each
//! request to its own stack, so one API's 429s never slow another.
//!
//! In every case, keep retries above the limiter (the `Pacer` does): each
//! retry then costs a slot like any call, and a 429 pauses the whole
//! destination instead of one request.

use std::time::Duration;

use crate::policy::{BatchSpec, Policy, QuotaSpec};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

pub use crate::headers::names::AUTH_HEADERS;

fn named(name: &str) -> Policy {
    Policy {
        name: name.to_owned(),
        ..Policy::default()
    }
}

/// HubSpot account tiers, which set its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HubSpotTier {
    /// Free and Starter: 100 per 10 s, 250 000 per day.
    Starter,
    /// Professional: 190 per 10 s, 625 000 per day.
    Professional,
    /// Enterprise: 190 per 10 s, 1 000 000 per day.
    Enterprise,
    /// With the API Limit Increase add-on: 250 per 10 s, 1 000 000 more per
    /// day (over Enterprise's).
    ApiLimitIncrease,
}

/// HubSpot (private apps and OAuth apps).
///
/// - Burst: 100 (Starter) or 190 (Professional, Enterprise) calls per 10 s
///   per app, 250 with the API Limit Increase; daily: 250 000, 625 000,
///   1 000 000, +1 000 000 per account (shared by every app of the portal).
///   Source: developers.hubspot.com, "API usage guidelines" (2026-11).
/// - The daily count resets at midnight in the account's time zone; the
///   `X-HubSpot-RateLimit-Daily*` headers are not sent to OAuth apps.
/// - Batch endpoints take 100 records and count as one call: the preset
///   batches 100 items for up to 50 ms.
/// - A 20 ms margin on each window absorbs network jitter between send and
///   arrival.
pub fn hubspot(tier: HubSpotTier) -> Policy {
    let (per_10s, per_day) = match tier {
        HubSpotTier::Starter => (100, 250_000),
        HubSpotTier::Professional => (190, 625_000),
        HubSpotTier::Enterprise => (190, 1_000_000),
        HubSpotTier::ApiLimitIncrease => (250, 2_000_000),
    };
    let mut policy = named("hubspot");
    policy.quotas = vec![
        QuotaSpec::window(per_10s, 10 * SECOND),
        QuotaSpec::window(per_day, DAY),
    ];
    policy.headroom.margin = Duration::from_millis(20);
    policy.max_wait = Some(MINUTE);
    policy.retry.max_attempts = 5;
    policy.batch = Some(BatchSpec::new(100, Duration::from_millis(50)));
    policy
}

/// Salesforce REST API, with your org's daily API request allowance
/// (1 000 000 per 24 h for Enterprise and Unlimited; 15 000 + 2 000 per
/// licence for lower editions).
///
/// - At most 25 long-running (≥ 20 s) requests at once (5 in Developer
///   Edition and trial orgs); the preset caps every request at 25, which is
///   safe. Source: developer.salesforce.com, "API Request Limits and
///   Allocations" (2026-11).
/// - Over either limit Salesforce answers **403** `REQUEST_LIMIT_EXCEEDED`,
///   with no `Retry-After`. The error code is in the body, which the HTTP
///   classifier does not read: a 403 counts as rate-limited when its
///   headers show it (`Sforce-Limit-Info: api-usage=n/m` with n ≥ m), and
///   then waits at least 30 s.
/// - `max_wait` of a minute: a call that would wait for the daily window
///   fails fast (`QuotaExhausted`) instead of sleeping for hours.
/// - For mass data, the Bulk API 2.0 has separate, much larger limits.
pub fn salesforce(daily_requests: u64) -> Policy {
    let mut policy = named("salesforce");
    policy.quotas = vec![QuotaSpec::window(daily_requests, DAY)];
    policy.concurrency = Some(25);
    policy.max_wait = Some(MINUTE);
    policy.classify.forbidden_rate_limits = true;
    policy.classify.rate_limited_min_wait = Some(30 * SECOND);
    policy
}

/// Mailchimp Marketing API.
///
/// - 10 simultaneous connections per API key; no published per-second
///   limit. Over it: 429, or "at exceptionally high volumes" a 403 without
///   a body. Requests time out after 120 s. Source: mailchimp.com/developer,
///   "Fundamentals" (2026-11).
/// - Batch operations (`POST /3.0/batches`, up to 500 pending batches per
///   user) are asynchronous jobs, not a request/response batch: use them
///   directly.
pub fn mailchimp() -> Policy {
    let mut policy = named("mailchimp");
    policy.concurrency = Some(10);
    policy
}

/// Google Analytics 4 property types, which set the Data API quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ga4Property {
    /// Standard properties.
    Standard,
    /// Analytics 360 properties.
    Analytics360,
}

/// Google Analytics Data API (GA4), per property.
///
/// - Standard: 10 concurrent requests, 40 000 tokens per hour, 200 000 per
///   day; Analytics 360: 50, 400 000 and 2 000 000. Source:
///   developers.google.com/analytics, "Data API quotas" (2026-11).
/// - Quotas count *tokens*, and a request costs several (more for larger
///   reports). The preset counts one per request; put a
///   [`RateLimit`](crate::rate::RateLimit) with a cost function below the
///   pacer, or lower the quotas, if your reports are heavy. Ask for
///   `"returnPropertyQuota": true` to see what each call cost.
/// - Google asks for at least 30 s before retrying a 429
///   (`RESOURCE_EXHAUSTED`).
/// - Daily quotas reset at midnight Pacific time.
pub fn ga4(property: Ga4Property) -> Policy {
    let (concurrent, per_hour, per_day) = match property {
        Ga4Property::Standard => (10, 40_000, 200_000),
        Ga4Property::Analytics360 => (50, 400_000, 2_000_000),
    };
    let mut policy = named("ga4");
    policy.concurrency = Some(concurrent);
    policy.quotas = vec![
        QuotaSpec::window(per_hour, HOUR),
        QuotaSpec::window(per_day, DAY),
    ];
    policy.max_wait = Some(MINUTE);
    policy.classify.rate_limited_min_wait = Some(30 * SECOND);
    policy.retry.max_retry_after = 2 * MINUTE;
    policy
}

/// GitHub REST API, for an authenticated user.
///
/// - Primary limit: 5 000 requests per hour (GitHub App installations may
///   have more; raise the quota). Headers `x-ratelimit-*`, with the reset
///   as UTC epoch seconds. Over it: **403 or 429** with remaining 0.
/// - Secondary limits: at most 100 concurrent requests, 900 points a
///   minute per endpoint. Over them: 403 or 429 with `retry-after`, or
///   neither: then wait **at least one minute**. Source: docs.github.com,
///   "Rate limits for the REST API" (2026-11).
/// - `max_retry_after` is two minutes, so the one-minute secondary wait is
///   honoured; an exhausted hourly quota (reset up to an hour away) fails
///   fast instead.
pub fn github() -> Policy {
    let mut policy = named("github");
    policy.quotas = vec![QuotaSpec::window(5_000, HOUR)];
    policy.concurrency = Some(100);
    policy.max_wait = Some(MINUTE);
    policy.classify.forbidden_rate_limits = true;
    policy.classify.rate_limited_min_wait = Some(MINUTE);
    policy.retry.max_retry_after = 2 * MINUTE;
    policy
}

/// Stripe API modes, which set its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StripeMode {
    /// Live mode: 100 operations per second.
    Live,
    /// Sandbox (test) mode: 25 operations per second.
    Sandbox,
}

/// Stripe API.
///
/// - 100 requests per second in live mode, 25 in a sandbox; some endpoints
///   have lower limits of their own (25 per second by default). Source:
///   docs.stripe.com, "Rate limits" (2026-11).
/// - `Stripe-Should-Retry: false` means a retry has no further effect: the
///   classifier obeys it.
/// - POSTs are retried only with an `Idempotency-Key` header (Stripe
///   replays the first result for 24 h); rate limiting happens before the
///   idempotency layer, so a 429 may be retried with the same key.
pub fn stripe(mode: StripeMode) -> Policy {
    let per_second = match mode {
        StripeMode::Live => 100,
        StripeMode::Sandbox => 25,
    };
    let mut policy = named("stripe");
    policy.quotas = vec![QuotaSpec::window(per_second, SECOND)];
    policy.headroom.margin = Duration::from_millis(10);
    policy.classify.should_retry_header = true;
    policy.retry.retry_unsafe_methods = false;
    policy
}

/// Slack Web API method tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlackTier {
    /// 1+ per minute.
    Tier1,
    /// 20+ per minute.
    Tier2,
    /// 50+ per minute.
    Tier3,
    /// 100+ per minute.
    Tier4,
}

/// Slack Web API, for one method in one workspace.
///
/// - Limits are per method, per workspace, per app: Tier 1 allows 1+ call a
///   minute, Tier 2 20+, Tier 3 50+, Tier 4 100+ (the "+" allows short
///   bursts above). `chat.postMessage` is special: about one message per
///   second per channel. Source: docs.slack.dev, "Rate limits" (2026-11).
/// - Over the limit: 429 with `Retry-After` in seconds, honoured.
/// - Build one pacer per method (or per tier) with
///   [`Destinations`](crate::destinations) keyed on the method.
pub fn slack(tier: SlackTier) -> Policy {
    let per_minute = match tier {
        SlackTier::Tier1 => 1,
        SlackTier::Tier2 => 20,
        SlackTier::Tier3 => 50,
        SlackTier::Tier4 => 100,
    };
    let mut policy = named("slack");
    policy.quotas = vec![QuotaSpec::window(per_minute, MINUTE)];
    policy.max_wait = Some(2 * MINUTE);
    policy
}

/// Shopify plans, which set the REST Admin API's leaky bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShopifyPlan {
    /// A 40-request bucket leaking 2 per second.
    Standard,
    /// Shopify Plus: a 400-request bucket leaking 20 per second.
    Plus,
}

/// Shopify REST Admin API (legacy since 2024-10; GraphQL counts query cost
/// points instead).
///
/// - A leaky bucket per app and store: 40 requests, leaking 2 per second
///   (Plus: 400 and 20). `X-Shopify-Shop-Api-Call-Limit: 32/40` reports the
///   bucket. Over it: 429 with `Retry-After: 2.0` (decimal seconds).
///   Source: shopify.dev, "REST Admin API rate limits" (2026-11).
/// - Exactly a GCRA rate with burst: the preset is `2 per second, burst
///   40`.
pub fn shopify(plan: ShopifyPlan) -> Policy {
    let (bucket, leak) = match plan {
        ShopifyPlan::Standard => (40, 2),
        ShopifyPlan::Plus => (400, 20),
    };
    let mut policy = named("shopify");
    policy.quotas = vec![QuotaSpec::rate(leak, SECOND, bucket)];
    policy
}
