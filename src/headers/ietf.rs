//! The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers), every
//! generation still seen in the wild:
//!
//! - -08..-10: `RateLimit: "default";r=50;t=30` and
//!   `RateLimit-Policy: "burst";q=100;w=60` (Structured Field Lists);
//! - -07: `RateLimit: limit=100, remaining=50, reset=5` (a Dictionary) and
//!   `RateLimit-Policy: 10;w=1, 50;w=60` (bare Integer items);
//! - -01..-06: the `RateLimit-Limit/-Remaining/-Reset` triplet, read with
//!   [`parse_count`](super::parse_count) and
//!   [`parse_seconds`](super::parse_seconds).
//!
//! Every generation's reset (`t`, `reset`) is a delta in seconds, never an
//! epoch. Malformed members are skipped: the draft says malformed fields
//! "MUST be ignored", and a member without its required parameter carries
//! nothing usable.

use std::time::Duration;

use sfv::{BareItem, Dictionary, List, ListEntry, Parameters, Parser};

use super::num;

/// One member of a `RateLimit` field: the state of one quota right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaStatus {
    /// The policy this status refers to (`"default"` in
    /// `"default";r=50;t=30`); `None` in the -07 dictionary form.
    pub policy: Option<String>,
    /// Quota units left (`r`, or `remaining` in -07).
    pub remaining: u64,
    /// The quota size, only carried by the -07 form (`limit`); for -08+
    /// look it up in the matching [`QuotaPolicy`].
    pub limit: Option<u64>,
    /// Time until the quota is restored (`t`, or `reset` in -07).
    pub reset_after: Option<Duration>,
}

/// One member of a `RateLimit-Policy` field: a quota the server enforces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaPolicy {
    /// The policy name (`"burst"`); `None` in the older bare-Integer form.
    pub name: Option<String>,
    /// Quota units per window (`q`, or the Integer itself in -07).
    pub quota: u64,
    /// The window (`w`).
    pub window: Option<Duration>,
    /// The quota unit (`qu`): `None` means requests; the draft also defines
    /// `content-bytes` and `concurrent-requests`.
    pub unit: Option<String>,
}

/// The most members of a `RateLimit` or `RateLimit-Policy` field read and
/// kept: real servers send one to a handful; a field of thousands is
/// hostile or broken, and its members past this many are ignored unread
/// (parsing 100 000 of them used to take most of a second of CPU).
pub const MAX_MEMBERS: usize = 64;

/// Parses a `RateLimit` field value (draft -08..-10 List, or the -07
/// Dictionary). Join repeated field lines with `", "` before calling, as
/// RFC 9651 §4.2 prescribes. Only the first [`MAX_MEMBERS`] members are
/// read.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::headers::parse_ratelimit;
///
/// let now = parse_ratelimit(br#""default";r=50;t=30"#);
/// assert_eq!(now[0].policy.as_deref(), Some("default"));
/// assert_eq!(now[0].remaining, 50);
/// assert_eq!(now[0].reset_after, Some(Duration::from_secs(30)));
///
/// let old = parse_ratelimit(b"limit=100, remaining=0, reset=5");
/// assert_eq!((old[0].limit, old[0].remaining), (Some(100), 0));
/// ```
pub fn parse_ratelimit(value: &[u8]) -> Vec<QuotaStatus> {
    let value = first_members(num::trim(value), MAX_MEMBERS);
    if let Ok(list) = Parser::new(value).parse::<List>() {
        let statuses: Vec<_> = list.iter().filter_map(status_of_entry).collect();
        if !statuses.is_empty() {
            return statuses;
        }
    }
    Parser::new(value)
        .parse::<Dictionary>()
        .ok()
        .and_then(|dict| status_of_dictionary(&dict))
        .into_iter()
        .collect()
}

/// Parses a `RateLimit-Policy` field value (draft -08..-10 named policies,
/// or the -05..-07 bare-Integer form `100;w=10`). Only the first
/// [`MAX_MEMBERS`] members are read.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::headers::parse_ratelimit_policy;
///
/// let policies = parse_ratelimit_policy(br#""burst";q=100;w=60,"daily";q=1000;w=86400"#);
/// assert_eq!(policies.len(), 2);
/// assert_eq!(policies[1].quota, 1000);
/// assert_eq!(policies[1].window, Some(Duration::from_secs(86400)));
/// ```
pub fn parse_ratelimit_policy(value: &[u8]) -> Vec<QuotaPolicy> {
    let value = first_members(num::trim(value), MAX_MEMBERS);
    let Ok(list) = Parser::new(value).parse::<List>() else {
        return Vec::new();
    };
    list.iter().filter_map(policy_of_entry).collect()
}

/// The first `max` top-level members of a structured field (a List or a
/// Dictionary): the bytes before its `max`-th comma outside strings and
/// inner lists, so that a field of thousands of members costs the parser
/// no more than `max` of them.
fn first_members(value: &[u8], max: usize) -> &[u8] {
    let (mut commas, mut depth) = (0, 0u32);
    let (mut in_string, mut escaped) = (false, false);
    for (at, &byte) in value.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'(' => depth = depth.saturating_add(1),
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                commas += 1;
                if commas >= max {
                    return &value[..at];
                }
            }
            _ => {}
        }
    }
    value
}

fn status_of_entry(entry: &ListEntry) -> Option<QuotaStatus> {
    let ListEntry::Item(item) = entry else {
        return None;
    };
    Some(QuotaStatus {
        policy: name_of(&item.bare_item),
        remaining: param(&item.params, "r").and_then(non_negative)?,
        limit: None,
        reset_after: param(&item.params, "t").and_then(seconds),
    })
}

fn status_of_dictionary(dict: &Dictionary) -> Option<QuotaStatus> {
    let member = |key: &str| match dict.get(key) {
        Some(ListEntry::Item(item)) => Some(&item.bare_item),
        _ => None,
    };
    Some(QuotaStatus {
        policy: None,
        remaining: member("remaining").and_then(non_negative)?,
        limit: member("limit").and_then(non_negative),
        reset_after: member("reset").and_then(seconds),
    })
}

fn policy_of_entry(entry: &ListEntry) -> Option<QuotaPolicy> {
    let ListEntry::Item(item) = entry else {
        return None;
    };
    let (name, quota) = match &item.bare_item {
        BareItem::Integer(_) => (None, non_negative(&item.bare_item)?),
        bare => (
            Some(name_of(bare)?),
            param(&item.params, "q").and_then(non_negative)?,
        ),
    };
    Some(QuotaPolicy {
        name,
        quota,
        // The draft requires a non-zero window; zero would mean "infinite rate".
        window: param(&item.params, "w")
            .and_then(seconds)
            .filter(|w| !w.is_zero()),
        unit: param(&item.params, "qu").and_then(name_of),
    })
}

fn param<'a>(params: &'a Parameters, key: &str) -> Option<&'a BareItem> {
    params.get(key)
}

/// Policy names are Strings in the draft; Tokens are accepted leniently.
fn name_of(item: &BareItem) -> Option<String> {
    match item {
        BareItem::String(s) => Some(s.as_str().to_owned()),
        BareItem::Token(t) => Some(t.as_str().to_owned()),
        _ => None,
    }
}

fn non_negative(item: &BareItem) -> Option<u64> {
    u64::try_from(i64::from(item.as_integer()?)).ok()
}

/// Integer seconds per the draft; a Decimal is accepted leniently.
fn seconds(item: &BareItem) -> Option<Duration> {
    let millis = match item {
        BareItem::Integer(i) => i64::from(*i).checked_mul(1000)?,
        BareItem::Decimal(d) => i64::from(d.as_integer_scaled_1000()),
        _ => return None,
    };
    let millis = u64::try_from(millis).ok()?;
    Some(num::clamp(Duration::from_millis(millis)))
}
