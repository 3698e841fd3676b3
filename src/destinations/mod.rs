//! Per-destination stacks: one [`Pacer`](crate::Pacer) per API, chosen per
//! request.
//!
//! An application usually talks to several APIs through one client, and
//! each has its own limits. A shared limiter would let one API's 429s
//! throttle the others; [`Destinations`] gives each destination (by
//! default the URI's authority; or an API key, a tenant…) its own stack,
//! built lazily from the [`PolicyTable`] entry that matches it (exact key,
//! `*.suffix`, or the default).
//!
//! The table of live destinations is **bounded**: hosts can come from
//! untrusted input, and memory must not grow with them. A destination is
//! forgotten only when that loses nothing (unused for longer than its
//! longest quota takes to refill, nothing in flight, not paused); when the
//! table is full and nothing can be forgotten, a new destination is refused
//! with [`DestinationError::TooMany`] rather than evicting live state.
//!
//! Each destination's pacer is named after the destination — its host, or
//! the [fingerprint](crate::redact::fingerprint) of a custom key (see
//! [`DestinationKey::name`]) — in spans, logs and the `destination` label
//! of metrics, so hosts that share one `*.suffix` policy stay apart;
//! `pacer.policy().name` is still the policy's own name.
//!
//! ```
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::destinations::{DestinationsLayer, PolicyTable};
//! use tower_pacer::policy::{Policy, QuotaSpec};
//! use tower_pacer::presets::{self, HubSpotTier};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let mut slow = Policy::default();
//! slow.quotas = vec![QuotaSpec::window(5, Duration::from_secs(1))];
//! let table = PolicyTable::new()
//!     .with_default(slow)
//!     .with("api.hubapi.com", presets::hubspot(HubSpotTier::Starter))?;
//! let client = ServiceBuilder::new()
//!     .layer(DestinationsLayer::new(table).max_live(10_000)?)
//!     .service(service_fn(|_: http::Request<String>| async {
//!         Ok::<_, tower_pacer::BoxError>(http::Response::new(String::new()))
//!     }));
//!
//! let request = http::Request::get("https://api.hubapi.com/crm/v3/objects/contacts").body(String::new())?;
//! client.clone().oneshot(request).await?;
//! let hubspot = client.pacer("api.hubapi.com").expect("live");
//! assert_eq!(hubspot.stats().requests, 1);
//! # Ok(()) }
//! ```

mod error;
pub mod future;
mod key;
mod layer;
mod registry;
mod service;
mod table;

pub use error::DestinationError;
pub use key::{ByAuthority, DestinationKey, PlainKey};
pub use layer::{DEFAULT_MAX_LIVE, DestinationsLayer};
pub use service::Destinations;
pub use table::PolicyTable;
