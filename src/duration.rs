//! Human duration strings (`100ms`, `10s`, `1m`, `1h`, `1d`) and quota
//! strings (`100/10s`), as `pacer-mock`'s flags and [`Policy`](crate::policy::Policy)
//! files take them.

use std::time::Duration;

use crate::ParseError;

/// Parses a duration such as `250ms`, `10s`, `1.5s`, `1m`, `1h` or `1d`.
///
/// The unit is required (a bare number is ambiguous between the seconds of
/// HTTP and the milliseconds of some vendors, so it is refused). A decimal
/// number is allowed; the result must be finite, positive and representable.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::duration::parse_duration;
///
/// assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
/// assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
/// assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
/// assert!(parse_duration("10").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, ParseError> {
    let s = input.trim();
    let bad = |reason: &str| ParseError::new(input, reason);
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| bad("missing unit (use ms, s, m, h or d)"))?;
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(bad("missing number"));
    }
    let value: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let unit_secs = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        _ => return Err(bad("unknown unit (use ms, s, m, h or d)")),
    };
    let d = Duration::try_from_secs_f64(value * unit_secs).map_err(|_| bad("out of range"))?;
    if d.is_zero() {
        return Err(bad("must be greater than zero"));
    }
    Ok(d)
}

/// Parses a quota `N/DURATION` such as `100/10s` into its count and period.
///
/// ```
/// use std::time::Duration;
/// use tower_pacer::duration::parse_quota;
///
/// assert_eq!(parse_quota("100/10s").unwrap(), (100, Duration::from_secs(10)));
/// assert!(parse_quota("0/1s").is_err());
/// ```
pub fn parse_quota(input: &str) -> Result<(u64, Duration), ParseError> {
    let (count, period) = input
        .trim()
        .split_once('/')
        .ok_or_else(|| ParseError::new(input, "expected N/DURATION, e.g. 100/10s"))?;
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| ParseError::new(input, "count is not a whole number"))?;
    if count == 0 {
        return Err(ParseError::new(input, "count must be at least 1"));
    }
    Ok((count, parse_duration(period)?))
}

/// Formats a duration the way [`parse_duration`] reads it, choosing the
/// largest unit that represents it exactly (used in the start-up line).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}s", d.as_secs_f64());
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Like [`parse_duration`], but `0`, `0s`, `0ms`… mean no time at all
/// (margins and optional waits may be zero).
pub fn parse_duration_or_zero(input: &str) -> Result<Duration, ParseError> {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    // A zero is zero in any known unit, or none; an unknown unit after it
    // ("0parsecs") is as wrong as after any other number.
    let known = matches!(unit, "" | "ms" | "s" | "m" | "h" | "d");
    if known && !number.is_empty() && number.parse::<f64>().is_ok_and(|n| n == 0.0) {
        return Ok(Duration::ZERO);
    }
    parse_duration(input)
}

/// `serde` support: a duration as a human string (`"250ms"`, `"10s"`,
/// `"1d"`, `"0s"`) or a number of seconds; written back as a string.
///
/// ```
/// # #[derive(serde::Deserialize)]
/// # struct Config { #[serde(with = "tower_pacer::duration::serde")] wait: std::time::Duration }
/// ```
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod serde {
    use std::time::Duration;

    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    /// Writes `d` as a duration string.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        if d.is_zero() {
            return serializer.serialize_str("0s");
        }
        serializer.serialize_str(&super::format_duration(*d))
    }

    /// Reads a duration string or a number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"250ms\", \"10s\", \"1d\", or a number of seconds")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            super::parse_duration_or_zero(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
            Duration::try_from_secs_f64(v).map_err(|_| E::custom("not a valid number of seconds"))
        }
    }

    /// The same for `Option<Duration>` (absent or `null` is `None`).
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the duration, or nothing.
        pub fn serialize<S: Serializer>(
            d: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads a duration, or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] Duration);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(d)| d))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3_600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            Duration::from_millis(1_500)
        );
        assert_eq!(parse_duration(" 2s ").unwrap(), Duration::from_secs(2));
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        for bad in [
            "", "s", "10", "10x", "-1s", "0s", "1e400s", "1..2s", "ms10", "10 s", "∞s", "nans",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn zero_in_a_known_unit_or_none_only() {
        for zero in ["0", "0s", "0ms", "0.0s", " 0m ", "0h", "0d"] {
            assert_eq!(
                parse_duration_or_zero(zero).unwrap(),
                Duration::ZERO,
                "{zero:?}"
            );
        }
        assert_eq!(
            parse_duration_or_zero("20ms").unwrap(),
            Duration::from_millis(20)
        );
        for bad in ["0parsecs", "0xyz", "0 s", "0x", "00x1s", "", "x0s"] {
            assert!(
                parse_duration_or_zero(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn quotas() {
        assert_eq!(
            parse_quota("100/10s").unwrap(),
            (100, Duration::from_secs(10))
        );
        assert_eq!(
            parse_quota("250000/1d").unwrap(),
            (250_000, Duration::from_secs(86_400))
        );
        for bad in ["100", "/10s", "x/10s", "0/10s", "10/0s", "10/", "-1/1s"] {
            assert!(parse_quota(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in ["100ms", "10s", "1m", "1h", "1d", "90s", "1500ms"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
