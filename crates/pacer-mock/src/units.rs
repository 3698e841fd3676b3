//! Duration strings (`100ms`, `10s`, `1m`, `1h`, `1d`) and quota strings
//! (`100/10s`), as the flags take them.

use std::time::Duration;

use crate::error::ParseError;

/// Parses a duration such as `250ms`, `10s`, `1.5s`, `1m`, `1h` or `1d`
/// (the unit is required; the result must be positive and representable).
///
/// ```
/// use std::time::Duration;
/// use pacer_mock::parse_duration;
///
/// assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
/// assert!(parse_duration("10").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, ParseError> {
    let s = input.trim();
    let bad = |reason: &str| ParseError::new(input, reason);
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| bad("missing unit (use ms, s, m, h or d)"))?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let unit_secs = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        _ => return Err(bad("unknown unit (use ms, s, m, h or d)")),
    };
    match Duration::try_from_secs_f64(value * unit_secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(bad("must be greater than zero")),
        Err(_) => Err(bad("out of range")),
    }
}

/// Parses a quota `N/DURATION` such as `100/10s` into its count and period.
///
/// ```
/// use std::time::Duration;
/// use pacer_mock::parse_quota;
///
/// assert_eq!(parse_quota("100/10s").unwrap(), (100, Duration::from_secs(10)));
/// assert!(parse_quota("0/1s").is_err());
/// ```
pub fn parse_quota(input: &str) -> Result<(u64, Duration), ParseError> {
    let (count, period) = input
        .trim()
        .split_once('/')
        .ok_or_else(|| ParseError::new(input, "expected N/DURATION, e.g. 100/10s"))?;
    match count.trim().parse::<u64>() {
        Ok(0) => Err(ParseError::new(input, "count must be at least 1")),
        Ok(count) => Ok((count, parse_duration(period)?)),
        Err(_) => Err(ParseError::new(input, "count is not a whole number")),
    }
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest
/// unit that represents it exactly.
pub fn format_duration(d: Duration) -> String {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}s", d.as_secs_f64());
    }
    let ms = d.as_millis();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses() {
        assert_eq!(
            parse_duration("1.5s").unwrap(),
            Duration::from_millis(1_500)
        );
        for bad in ["", "s", "10", "10x", "-1s", "0s", "1e400s", "1..2s", "10 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        for bad in ["100", "/10s", "x/10s", "0/10s", "10/0s"] {
            assert!(parse_quota(bad).is_err(), "{bad:?}");
        }
        for s in ["100ms", "10s", "1m", "1h", "1d", "90s", "1500ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
