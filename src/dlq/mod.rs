//! Dead letters: work that finally failed, kept with its payload for a
//! later replay — nothing is lost.
//!
//! [`DeadLetterLayer`] records each request that failed for good (retries
//! exhausted, a `Retry-After` beyond the cap, a permanent refusal, no quota
//! within `max_wait`, a transport error) as a [`DeadLetter`] — method, URI,
//! headers, body, why, attempts, when — in a [`DeadLetterStore`], and waits
//! until the store has it before the caller sees the failure. Credentials
//! are **redacted** ([`Redaction`]): a dead-letter file must not become a
//! credential leak. A [`Replayer`] later drains the store through a
//! (paced) service and deletes a letter only after its replay succeeded.
//!
//! Stores: [`MemoryStore`], `SqliteStore` (feature `sqlite`), the
//! embedded default, durable before the caller sees the failure, and
//! `RedisStore` (feature `redis`), one store for a fleet of processes.
//!
//! ```
//! use std::sync::Arc;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_pacer::dlq::{DeadLetterLayer, DeadLetterStore, FailureKind, MemoryStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_pacer::BoxError> {
//! let store = Arc::new(MemoryStore::new());
//! let api = service_fn(|_: http::Request<String>| async {
//!     Ok::<_, tower_pacer::BoxError>(http::Response::builder().status(400).body(())?)
//! });
//! let client = ServiceBuilder::new()
//!     .layer(DeadLetterLayer::new(store.clone(), "crm"))
//!     .service(api);
//! let request = http::Request::post("https://crm.example/contacts")
//!     .header("authorization", "Bearer s3cret")
//!     .body(String::from(r#"{"email":"a@example.com"}"#))?;
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.status(), 400); // the caller sees what it would have seen
//!
//! let letters = store.peek(10).await?;
//! assert_eq!(letters[0].kind, FailureKind::Permanent);
//! assert_eq!(letters[0].body, r#"{"email":"a@example.com"}"#);
//! assert!(letters[0].headers.iter().all(|(_, v)| v != "Bearer s3cret"));
//! # Ok(()) }
//! ```

mod capture;
pub mod future;
mod layer;
mod letter;
mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;
mod replay;
mod service;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;
mod store;

#[cfg(feature = "redis")]
pub use self::redis::{DEFAULT_STORE_TIMEOUT, RedisStore};
pub use crate::redact::{REDACTED, Redaction};
pub use layer::DeadLetterLayer;
pub use letter::{BODY_NOT_CAPTURED, DeadLetter, FailureKind};
pub use memory::MemoryStore;
pub use replay::{ReplayReport, Replayer};
pub use service::DeadLetterService;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{DeadLetterStore, FailedAgain, StoreError, StoreFuture};
