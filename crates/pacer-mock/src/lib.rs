//! `pacer-mock`: a rate-limited mock API server, to test clients against
//! real limits without spending real quota (library and binary).
//!
//! It is the independent oracle of `tower-pacer`'s tests: it shares no code
//! with the client layers it judges.
//!
//! It enforces per-key quotas (exact sliding windows, fixed windows, a GCRA
//! rate with burst, a concurrency cap), answers rejections the way real
//! APIs do (status, `Retry-After` in any form, rate-limit headers in the
//! IETF, `X-RateLimit-*` or HubSpot dialect), injects seeded faults, and
//! counts everything in [`MockStats`] (also served as `GET /__stats`).
//!
//! Endpoints: `ANY /…` echoes `{"id","key","method","path"}`;
//! `POST /batch {"inputs":[…]}` answers `{"results":[…],"errors":[…]}`;
//! `GET /__stats`; `POST /__reset` (zeroes the statistics). The key is
//! `Authorization: Bearer …`, else `X-Api-Key`, else `anonymous`.
//!
//! [`MockConfig::time_scale`] multiplies every window and delay, so a test
//! can run "100 per 10 s" in 100 ms; headers and `Retry-After` report the
//! scaled (real) times.
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use pacer_mock::{MockConfig, MockServer, Preset};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MockServer::start(MockConfig::preset(Preset::Strict)).await?;
//!
//! let mut conn = tokio::net::TcpStream::connect(server.addr()).await?;
//! conn.write_all(b"GET /contacts HTTP/1.1\r\nHost: mock\r\nX-Api-Key: demo\r\nConnection: close\r\n\r\n")
//!     .await?;
//! let mut reply = String::new();
//! conn.read_to_string(&mut reply).await?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK"));
//! assert!(reply.contains("ratelimit-policy: \"50-per-1s\";q=50;w=1"));
//!
//! let stats = server.stats();
//! assert_eq!(stats.accepted, 1);
//! // Keys are credentials: the statistics name them by fingerprint.
//! assert_eq!(stats.keys[&pacer_mock::key_fingerprint("demo")].accepted, 1);
//! assert_eq!(stats.windows[0].max_seen, 1);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod body;
pub mod cli;
mod config;
mod dialect;
mod error;
mod faults;
mod fingerprint;
mod gcra;
mod handler;
mod limits;
mod preset;
mod response;
mod server;
mod state;
mod stats;
mod style;
#[cfg(feature = "tls")]
mod tls;
mod units;
mod window;

/// A boxed error, as request bodies report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub use body::{MockBody, ResetFault};
pub use config::{Faults, Latency, MockConfig, RateQuota, TlsFiles, WindowMode, WindowQuota};
pub use error::{ConfigError, MockError, ParseError};
pub use fingerprint::key_fingerprint;
pub use gcra::Gcra;
pub use handler::{ANONYMOUS_KEY, api_key};
pub use limits::{KeyLimits, Refusal, RejectReason};
pub use preset::Preset;
pub use response::retry_after_value;
pub use server::MockServer;
pub use stats::{IdStats, KeyStats, MockStats, RejectedByReason, WindowStats};
pub use style::{ErrorBody, HeaderDialect, RetryAfterForm};
pub use units::{format_duration, parse_duration, parse_quota};
pub use window::{QuotaStatus, WindowCounter};
