//! How answers look: the `Retry-After` form, the rate-limit header dialect
//! and the vendor style of a rejection body, each parsed from its flag name.

use std::fmt;
use std::str::FromStr;

use super::error::ParseError;

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name this value is written and parsed as.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(ParseError::new(s, &format!("expected one of {}", Self::NAMES.join(", ")))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// How a rejection states its `Retry-After`.
    RetryAfterForm {
        /// Whole seconds, rounded up (RFC 9110 delay-seconds).
        Seconds = "seconds",
        /// Decimal seconds with millisecond precision, rounded up (Shopify-style `2.0`).
        Decimal = "decimal",
        /// An IMF-fixdate, rounded up to the next whole second.
        HttpDate = "date",
        /// No `Retry-After` at all (Salesforce, Mailchimp, GitHub primary limit).
        None = "none",
        /// A value no parser should accept.
        Garbage = "garbage",
    }
}

named_enum! {
    /// Which rate-limit header dialect every response carries.
    HeaderDialect {
        /// IETF draft -10: `RateLimit-Policy` and `RateLimit` structured lists.
        Ietf = "ietf",
        /// `X-RateLimit-Limit/-Remaining/-Used/-Reset` (epoch seconds), as GitHub.
        XRateLimit = "x-ratelimit",
        /// HubSpot's `X-HubSpot-RateLimit-*` (interval and daily).
        Hubspot = "hubspot",
        /// No rate-limit headers.
        None = "none",
    }
}

named_enum! {
    /// The JSON body of a rejection, imitating a vendor.
    ErrorBody {
        /// `{"error":"rate_limited","reason":…,"retry_after_ms":…}`.
        Generic = "generic",
        /// HubSpot: `{"status":"error","errorType":"RATE_LIMIT","policyName":…}`.
        Hubspot = "hubspot",
        /// Salesforce: `[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":…}]`.
        Salesforce = "salesforce",
        /// Google: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED",…}}`.
        Google = "google",
        /// GitHub: `{"message":"API rate limit exceeded …"}`.
        Github = "github",
    }
}
