//! Header parsing through the public API: every dialect and every form
//! named in issue 3, plus property tests (no panics, results within caps).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use tower_pacer::headers::*;

/// A fixed "now": 2023-11-14T22:13:20Z.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

/// The three RFC 9110 §5.6.7 forms of one instant, built from the
/// IMF-fixdate that `httpdate` formats (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn three_forms(t: SystemTime) -> [String; 3] {
    let imf = httpdate::fmt_http_date(t);
    let p: Vec<&str> = imf.split([' ', ',']).filter(|s| !s.is_empty()).collect();
    let (wd, day, mon, year, time) = (p[0], p[1], p[2], p[3], p[4]);
    let long = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .into_iter()
    .find(|l| l.starts_with(wd))
    .unwrap();
    let rfc850 = format!("{long}, {day}-{mon}-{} {time} GMT", &year[2..]);
    let day_num: u32 = day.parse().unwrap();
    let asctime = format!("{wd} {mon} {day_num:>2} {time} {year}");
    [imf, rfc850, asctime]
}

mod retry_after {
    use super::*;

    #[test]
    fn delay_seconds() {
        assert_eq!(parse_retry_after(b"120", now(), None), secs(120));
        assert_eq!(parse_retry_after(b"0", now(), None), secs(0));
    }

    #[test]
    fn decimal_seconds() {
        assert_eq!(parse_retry_after(b"2.0", now(), None), secs(2));
        assert_eq!(
            parse_retry_after(b"0.5", now(), None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after(b"1.25", now(), None),
            Some(Duration::from_millis(1250))
        );
        // Below a nanosecond is truncated, not rounded or rejected.
        assert_eq!(
            parse_retry_after(b"0.1234567899999", now(), None),
            Some(Duration::from_nanos(123_456_789))
        );
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(parse_retry_after(b"  7 \t", now(), None), secs(7));
        assert_eq!(parse_retry_after(b" 2.0 ", now(), None), secs(2));
        let date = b"  Sun, 06 Nov 1994 08:49:37 GMT  ";
        assert!(parse_retry_after(date, now(), None).is_some());
    }

    #[test]
    fn negative_and_garbage_are_absent() {
        for bad in [
            "-5",
            "-0.5",
            "+5",
            "soon",
            "",
            "   ",
            "1e3",
            "2.",
            ".5",
            "2.x",
            "NaN",
            "inf",
            "0x10",
            "5 s",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "1994-11-06T08:49:37Z",
            // weekday does not match the date
            "Mon, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(
                parse_retry_after(bad.as_bytes(), now(), None),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(parse_retry_after(&[0xff, 0xfe], now(), None), None);
    }

    #[test]
    fn overflow_is_absent_and_huge_is_clamped() {
        assert_eq!(
            parse_retry_after(b"18446744073709551616", now(), None),
            None
        );
        assert_eq!(
            parse_retry_after(b"99999999999999999999999.5", now(), None),
            None
        );
        assert_eq!(
            parse_retry_after(b"18446744073709551615", now(), None),
            Some(MAX_DELAY)
        );
        assert_eq!(parse_retry_after(b"86401", now(), None), Some(MAX_DELAY));
        assert_eq!(parse_retry_after(b"86400", now(), None), Some(MAX_DELAY));
        assert_eq!(parse_retry_after(b"86399", now(), None), secs(86399));
        // A date far in the future is clamped too.
        let far = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(7_000_000_000));
        assert_eq!(
            parse_retry_after(far.as_bytes(), now(), None),
            Some(MAX_DELAY)
        );
    }

    #[test]
    fn all_three_date_forms_against_date_header() {
        let server = parse_http_date(b"Sun, 06 Nov 1994 08:49:00 GMT");
        assert!(server.is_some());
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            // `now` is decades off: only the server's clock counts.
            assert_eq!(
                parse_retry_after(form.as_bytes(), now(), server),
                secs(37),
                "{form}"
            );
        }
    }

    #[test]
    fn all_three_date_forms_against_a_given_clock() {
        let local = now();
        for form in three_forms(local + Duration::from_secs(90)) {
            assert_eq!(
                parse_retry_after(form.as_bytes(), local, None),
                secs(90),
                "{form}"
            );
        }
    }

    #[test]
    fn all_three_date_forms_against_the_real_clock() {
        let target = SystemTime::now() + Duration::from_secs(120);
        for form in three_forms(target) {
            let wait = parse_retry_after(form.as_bytes(), SystemTime::now(), None).unwrap();
            // HTTP-dates have whole seconds, so up to 1 s is lost; allow for a slow test.
            assert!(wait <= Duration::from_secs(120), "{form}: {wait:?}");
            assert!(wait >= Duration::from_secs(115), "{form}: {wait:?}");
        }
    }

    #[test]
    fn past_dates_mean_now() {
        for form in three_forms(now() - Duration::from_secs(3600)) {
            assert_eq!(
                parse_retry_after(form.as_bytes(), now(), None),
                secs(0),
                "{form}"
            );
            assert_eq!(
                parse_retry_after(form.as_bytes(), now(), Some(now())),
                secs(0),
                "{form}"
            );
        }
        // 1994 against the real clock.
        let old = b"Sunday, 06-Nov-94 08:49:37 GMT";
        assert_eq!(parse_retry_after(old, SystemTime::now(), None), secs(0));
    }

    #[test]
    fn date_header_wins_over_a_skewed_local_clock() {
        let server_now = now();
        let skewed_local = now() + Duration::from_secs(3600);
        let at = &three_forms(server_now + Duration::from_secs(30))[0];
        assert_eq!(
            parse_retry_after(at.as_bytes(), skewed_local, Some(server_now)),
            secs(30)
        );
        assert_eq!(
            parse_retry_after(at.as_bytes(), skewed_local, None),
            secs(0)
        );
    }

    #[test]
    fn info_reads_retry_after_with_the_date_header() {
        let headers = map(&[
            ("date", "Sun, 06 Nov 1994 08:49:00 GMT"),
            ("retry-after", "Sun, 06 Nov 1994 08:50:00 GMT"),
        ]);
        assert_eq!(
            RateLimitInfo::from_headers(&headers, now()).retry_after,
            secs(60)
        );
        // A garbage Date header falls back to the clock.
        let headers = map(&[
            ("date", "yesterday"),
            (
                "retry-after",
                &three_forms(now() + Duration::from_secs(5))[0],
            ),
        ]);
        assert_eq!(
            RateLimitInfo::from_headers(&headers, now()).retry_after,
            secs(5)
        );
    }
}

mod ietf {
    use super::*;

    #[test]
    fn draft_10_lists() {
        let headers = map(&[
            (
                "ratelimit-policy",
                r#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
            ),
            ("ratelimit", r#""burst";r=50;t=30, "daily";r=7;t=3600"#),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        // The daily quota will run out first.
        assert_eq!(info.policy.as_deref(), Some("daily"));
        assert_eq!(info.remaining, Some(7));
        assert_eq!(info.reset_after, secs(3600));
        assert_eq!(info.limit, Some(1000));
        assert_eq!(info.window, secs(86400));
        assert_eq!(info.policies.len(), 2);
        assert_eq!(info.policies[0].name.as_deref(), Some("burst"));
        assert_eq!(info.policies[0].quota, 100);
    }

    #[test]
    fn ties_on_remaining_prefer_the_longest_reset() {
        let s = parse_ratelimit(br#""a";r=0;t=1, "b";r=0;t=9"#);
        assert_eq!(s.len(), 2);
        let info = RateLimitInfo::from_headers(
            &map(&[("ratelimit", r#""a";r=0;t=1, "b";r=0;t=9"#)]),
            now(),
        );
        assert_eq!(info.policy.as_deref(), Some("b"));
        assert_eq!(info.reset_after, secs(9));
    }

    #[test]
    fn fields_on_several_lines_are_joined() {
        let headers = map(&[
            ("ratelimit-policy", r#""burst";q=100;w=60"#),
            ("ratelimit-policy", r#""daily";q=1000;w=86400"#),
            ("ratelimit", r#""burst";r=0;t=12"#),
            ("ratelimit", r#""daily";r=500"#),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(info.policies.len(), 2);
        assert_eq!(
            (info.remaining, info.limit, info.reset_after),
            (Some(0), Some(100), secs(12))
        );
    }

    #[test]
    fn policy_parameters() {
        let p = parse_ratelimit_policy(
            br#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#,
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].quota, 65535);
        assert_eq!(p[0].unit.as_deref(), Some("content-bytes"));
        assert_eq!(p[0].window, secs(10));
        // Without q there is no quota; a zero window is invalid.
        assert!(parse_ratelimit_policy(br#""x";w=10"#).is_empty());
        assert_eq!(parse_ratelimit_policy(br#""x";q=1;w=0"#)[0].window, None);
        assert!(parse_ratelimit_policy(br#""x";q=-1;w=10"#).is_empty());
    }

    #[test]
    fn draft_07_dictionary_and_integer_policies() {
        let s = parse_ratelimit(b"limit=100, remaining=50, reset=5");
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].limit, s[0].remaining, s[0].reset_after),
            (Some(100), 50, secs(5))
        );
        assert_eq!(s[0].policy, None);

        let p = parse_ratelimit_policy(b"10;w=1, 50;w=60, 1000;w=3600");
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.clone(), p.quota, p.window))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, 10, secs(1)),
                (None, 50, secs(60)),
                (None, 1000, secs(3600))
            ]
        );

        // Postman's form.
        let headers = map(&[
            ("ratelimit", "limit=300, remaining=0, reset=42"),
            ("ratelimit-policy", "300;w=60"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.reset_after, info.window),
            (Some(300), Some(0), secs(42), secs(60))
        );
    }

    #[test]
    fn triplet() {
        let headers = map(&[
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "50"),
            ("RateLimit-Reset", "50"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.reset_after),
            (Some(100), Some(50), secs(50))
        );
        // Persona sends it lower-case; the triplet's reset is a delta even when huge.
        let headers = map(&[("ratelimit-reset", "1700000053")]);
        assert_eq!(
            RateLimitInfo::from_headers(&headers, now()).reset_after,
            Some(MAX_DELAY)
        );
        // Drafts -01..-03 put policies inside the Limit field.
        let headers = map(&[("ratelimit-limit", "10, 10;w=1, 50;w=60")]);
        assert_eq!(RateLimitInfo::from_headers(&headers, now()).limit, Some(10));
    }

    #[test]
    fn malformed_members_are_ignored() {
        assert!(parse_ratelimit(br#""default";t=30"#).is_empty());
        assert!(parse_ratelimit(br#""default";r=-1;t=30"#).is_empty());
        assert!(parse_ratelimit(b"garbage ((").is_empty());
        assert!(parse_ratelimit(b"").is_empty());
        let s = parse_ratelimit(br#""default";r=5;t=-3"#);
        assert_eq!((s[0].remaining, s[0].reset_after), (5, None));
        // A lenient decimal t; an inner list is no status.
        assert_eq!(
            parse_ratelimit(br#""d";r=1;t=1.5"#)[0].reset_after,
            Some(Duration::from_millis(1500))
        );
        assert!(parse_ratelimit(b"(1 2);r=3").is_empty());
        // Token names are accepted leniently.
        assert_eq!(
            parse_ratelimit(b"default;r=3")[0].policy.as_deref(),
            Some("default")
        );
    }

    #[test]
    fn ietf_wins_over_vendor_headers() {
        let headers = map(&[
            ("ratelimit", r#""d";r=3;t=4"#),
            ("x-ratelimit-remaining", "99"),
            ("x-ratelimit-limit", "500"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!((info.remaining, info.reset_after), (Some(3), secs(4)));
        // ...but fields it lacks still come from elsewhere.
        assert_eq!(info.limit, Some(500));
    }
}

mod vendor {
    use super::*;

    fn epoch(offset: i64) -> String {
        (1_700_000_000 + offset).to_string()
    }

    #[test]
    fn github_epoch_reset() {
        let reset = epoch(300);
        let headers = map(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-used", "5000"),
            ("x-ratelimit-reset", &reset),
            ("x-ratelimit-resource", "core"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.reset_after),
            (Some(5000), Some(0), secs(300))
        );
        assert_eq!(info.policy.as_deref(), Some("core"));
        assert!(info.is_exhausted());
        assert_eq!(info.wait_hint(), secs(300));
    }

    #[test]
    fn epoch_reset_is_measured_against_the_date_header() {
        let server = httpdate::fmt_http_date(now());
        let headers = map(&[("date", &server), ("x-ratelimit-reset", &epoch(60))]);
        let skewed = now() + Duration::from_secs(45);
        assert_eq!(
            RateLimitInfo::from_headers(&headers, skewed).reset_after,
            secs(60)
        );
    }

    #[test]
    fn x_twitter_headers() {
        let reset = epoch(900);
        let headers = map(&[
            ("x-rate-limit-limit", "15"),
            ("x-rate-limit-remaining", "14"),
            ("x-rate-limit-reset", &reset),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.reset_after),
            (Some(15), Some(14), secs(900))
        );
        assert_eq!(info.wait_hint(), None, "quota left: no wait");
    }

    #[test]
    fn epoch_versus_delta() {
        assert_eq!(parse_reset(b"60", now(), None), secs(60));
        assert_eq!(parse_reset(b" 60 ", now(), None), secs(60));
        assert_eq!(
            parse_reset(b"0.25", now(), None),
            Some(Duration::from_millis(250))
        );
        // Just below the threshold: a (huge) delta, clamped.
        assert_eq!(parse_reset(b"999999999", now(), None), Some(MAX_DELAY));
        // At the threshold: an epoch (2001), long past.
        assert_eq!(parse_reset(b"1000000000", now(), None), secs(0));
        assert_eq!(parse_reset(epoch(-10).as_bytes(), now(), None), secs(0));
        // Fractional epoch, as Discord sends.
        assert_eq!(
            parse_reset(b"1700000010.5", now(), None),
            Some(Duration::from_millis(10_500))
        );
        for bad in ["-60", "soon", "", "18446744073709551616"] {
            assert_eq!(parse_reset(bad.as_bytes(), now(), None), None, "{bad:?}");
        }
        // The largest u64 is an epoch beyond SystemTime's range or far future: clamped, never a panic.
        let far = parse_reset(b"18446744073709551615", now(), None);
        assert!(far.is_none() || far == Some(MAX_DELAY));
    }

    #[test]
    fn discord_reset_after_wins_over_epoch_reset() {
        let headers = map(&[
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000099.123"),
            ("x-ratelimit-reset-after", "64.57"),
            ("x-ratelimit-bucket", "abcd1234"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(info.reset_after, Some(Duration::from_millis(64_570)));
        assert_eq!(info.policy.as_deref(), Some("abcd1234"));
        assert_eq!(parse_seconds(b"64.57"), Some(Duration::from_millis(64_570)));
    }

    #[test]
    fn hubspot() {
        let headers = map(&[
            ("X-HubSpot-RateLimit-Max", "190"),
            ("X-HubSpot-RateLimit-Remaining", "189"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
            ("X-HubSpot-RateLimit-Daily", "625000"),
            ("X-HubSpot-RateLimit-Daily-Remaining", "0"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.window),
            (Some(190), Some(189), secs(10))
        );
        assert_eq!(
            (info.daily_limit, info.daily_remaining),
            (Some(625_000), Some(0))
        );
        assert!(info.is_exhausted());
        assert_eq!(parse_millis(b"-5"), None);
        assert_eq!(parse_millis(b"999999999999"), Some(MAX_DELAY));
    }

    #[test]
    fn shopify() {
        assert_eq!(parse_usage(b"32/40"), Some(Usage::new(32, 40)));
        assert_eq!(parse_usage(b" 32 / 40 "), Some(Usage::new(32, 40)));
        assert_eq!(parse_usage(b"41/40").map(|u| u.remaining()), Some(0));
        for bad in ["32", "/40", "32/", "a/b", "-1/40", "32/40/2"] {
            assert_eq!(parse_usage(bad.as_bytes()), None, "{bad:?}");
        }
        let headers = map(&[
            ("X-Shopify-Shop-Api-Call-Limit", "40/40"),
            ("Retry-After", "2.0"),
        ]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.limit, info.remaining, info.retry_after),
            (Some(40), Some(0), secs(2))
        );
    }

    #[test]
    fn salesforce() {
        let all = parse_sforce_limit_info(b"api-usage=10018/100000, api-bursts=1/750, per-app-api-usage=17/250(appName=sample-app)");
        let names: Vec<_> = all
            .iter()
            .map(|(n, u)| (n.as_str(), u.used, u.limit))
            .collect();
        assert_eq!(
            names,
            vec![
                ("api-usage", 10018, 100_000),
                ("api-bursts", 1, 750),
                ("per-app-api-usage", 17, 250)
            ]
        );
        assert!(parse_sforce_limit_info(b"nonsense, =1/2, x=y").is_empty());
        let headers = map(&[("Sforce-Limit-Info", "api-usage=100000/100000")]);
        let info = RateLimitInfo::from_headers(&headers, now());
        assert_eq!(
            (info.daily_limit, info.daily_remaining),
            (Some(100_000), Some(0))
        );
        assert!(info.is_exhausted());
    }

    #[test]
    fn stripe_should_retry() {
        assert_eq!(parse_bool(b"true"), Some(true));
        assert_eq!(parse_bool(b" FALSE "), Some(false));
        assert_eq!(parse_bool(b"maybe"), None);
        let info = RateLimitInfo::from_headers(&map(&[("Stripe-Should-Retry", "false")]), now());
        assert_eq!(info.should_retry, Some(false));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count(b"0"), Some(0));
        assert_eq!(parse_count(b" 4999 "), Some(4999));
        for bad in ["-1", "+1", "1.5", "", "x", "18446744073709551616"] {
            assert_eq!(parse_count(bad.as_bytes()), None, "{bad:?}");
        }
    }
}

mod grpc {
    use super::*;

    #[test]
    fn pushback() {
        assert_eq!(
            parse_grpc_pushback(b"250"),
            GrpcPushback::RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            parse_grpc_pushback(b" 0 "),
            GrpcPushback::RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            parse_grpc_pushback(b"2147483647"),
            GrpcPushback::RetryAfter(MAX_DELAY)
        );
        for bad in ["-1", "-2147483648", "2147483648", "1.5", "", "soon"] {
            assert_eq!(
                parse_grpc_pushback(bad.as_bytes()),
                GrpcPushback::DoNotRetry,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn pushback_in_info() {
        let info = RateLimitInfo::from_headers(&map(&[("grpc-retry-pushback-ms", "1500")]), now());
        assert_eq!(
            (info.retry_after, info.should_retry),
            (Some(Duration::from_millis(1500)), None)
        );
        let info = RateLimitInfo::from_headers(&map(&[("grpc-retry-pushback-ms", "-1")]), now());
        assert_eq!((info.retry_after, info.should_retry), (None, Some(false)));
        // Retry-After takes precedence.
        let info = RateLimitInfo::from_headers(
            &map(&[("grpc-retry-pushback-ms", "1500"), ("retry-after", "3")]),
            now(),
        );
        assert_eq!(info.retry_after, secs(3));
    }
}

#[test]
fn no_signals_is_empty() {
    let info = RateLimitInfo::from_headers(
        &map(&[
            ("content-type", "text/plain"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]),
        now(),
    );
    assert!(info.is_empty());
    assert!(!info.is_exhausted());
    assert_eq!(info.wait_hint(), None);
    assert!(!RateLimitInfo::from_headers_now(&map(&[("x-ratelimit-remaining", "3")])).is_empty());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn within_cap(d: Option<Duration>) -> bool {
        d.is_none_or(|d| d <= MAX_DELAY)
    }

    fn info_within_caps(info: &RateLimitInfo) -> bool {
        within_cap(info.retry_after)
            && within_cap(info.reset_after)
            && within_cap(info.window)
            && info.policies.iter().all(|p| within_cap(p.window))
    }

    const NAMES: &[&str] = &[
        "retry-after",
        "date",
        "ratelimit",
        "ratelimit-policy",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-ratelimit-resource",
        "x-ratelimit-bucket",
        "x-rate-limit-reset",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-daily-remaining",
        "x-shopify-shop-api-call-limit",
        "sforce-limit-info",
        "stripe-should-retry",
        "grpc-retry-pushback-ms",
    ];

    /// Bytes biased towards what the parsers look for.
    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            "[-+0-9.,;=/ \"a-z()]{0,40}".prop_map(String::into_bytes),
            r#"("[a-z]{1,5}";r=-?[0-9]{1,20};t=-?[0-9]{1,20}(\.[0-9]{1,3})?, ?){1,3}"#
                .prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn parsers_never_panic_and_stay_within_caps(bytes in header_bytes(), t in 0u64..4_000_000_000) {
            let now = UNIX_EPOCH + Duration::from_secs(t);
            prop_assert!(within_cap(parse_retry_after(&bytes, now, None)));
            prop_assert!(within_cap(parse_retry_after(&bytes, now, Some(UNIX_EPOCH))));
            prop_assert!(within_cap(parse_reset(&bytes, now, None)));
            prop_assert!(within_cap(parse_seconds(&bytes)));
            prop_assert!(within_cap(parse_millis(&bytes)));
            if let GrpcPushback::RetryAfter(d) = parse_grpc_pushback(&bytes) {
                prop_assert!(d <= MAX_DELAY);
            }
            prop_assert!(parse_ratelimit(&bytes).iter().all(|s| within_cap(s.reset_after)));
            prop_assert!(parse_ratelimit_policy(&bytes).iter().all(|p| within_cap(p.window)));
            let _ = (parse_count(&bytes), parse_usage(&bytes), parse_bool(&bytes), parse_http_date(&bytes));
            let _ = parse_sforce_limit_info(&bytes);
        }

        #[test]
        fn header_maps_never_panic(pairs in proptest::collection::vec((0..NAMES.len(), header_bytes()), 0..8)) {
            let mut headers = HeaderMap::new();
            for (i, bytes) in pairs {
                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                    headers.append(NAMES[i], value);
                }
            }
            let info = RateLimitInfo::from_headers(&headers, now());
            prop_assert!(info_within_caps(&info));
        }

        #[test]
        fn integer_seconds_round_trip(n in any::<u64>()) {
            let expected = Duration::from_secs(n).min(MAX_DELAY);
            prop_assert_eq!(parse_retry_after(n.to_string().as_bytes(), now(), None), Some(expected));
            prop_assert_eq!(parse_seconds(format!(" {n} ").as_bytes()), Some(expected));
        }

        #[test]
        fn decimal_seconds_round_trip(s in 0u64..100_000, ms in 0u64..1000) {
            let expected = (Duration::from_secs(s) + Duration::from_millis(ms)).min(MAX_DELAY);
            prop_assert_eq!(parse_retry_after(format!("{s}.{ms:03}").as_bytes(), now(), None), Some(expected));
        }

        #[test]
        fn negative_values_are_absent(n in 1u64..u64::MAX) {
            let text = format!("-{n}");
            prop_assert_eq!(parse_retry_after(text.as_bytes(), now(), None), None);
            prop_assert_eq!(parse_reset(text.as_bytes(), now(), None), None);
            prop_assert_eq!(parse_count(text.as_bytes()), None);
            prop_assert_eq!(parse_grpc_pushback(text.as_bytes()), GrpcPushback::DoNotRetry);
        }

        #[test]
        fn dates_round_trip_in_every_form(offset in -200_000i64..200_000) {
            let base = now();
            let target = if offset >= 0 { base + Duration::from_secs(offset as u64) } else { base - Duration::from_secs(offset.unsigned_abs()) };
            let expected = Duration::from_secs(offset.max(0) as u64).min(MAX_DELAY);
            for form in three_forms(target) {
                prop_assert_eq!(parse_retry_after(form.as_bytes(), base, None), Some(expected));
                prop_assert_eq!(parse_retry_after(form.as_bytes(), UNIX_EPOCH, Some(base)), Some(expected));
            }
        }

        #[test]
        fn epoch_resets_measure_from_now(offset in 0u64..200_000) {
            let value = (1_700_000_000 + offset).to_string();
            prop_assert_eq!(parse_reset(value.as_bytes(), now(), None), Some(Duration::from_secs(offset).min(MAX_DELAY)));
        }
    }
}

/// A `RateLimit` or `RateLimit-Policy` field of 100 000 members: only the
/// first [`MAX_MEMBERS`] are read and kept, so a hostile header costs a
/// bounded amount of work.
#[test]
fn a_field_of_a_hundred_thousand_members_is_read_only_in_part() {
    let members: Vec<String> = (0..100_000)
        .map(|i| format!("\"p{i}\";q={};w=10", i + 1))
        .collect();
    let policy = members.join(", ");
    let statuses: Vec<String> = (0..100_000)
        .map(|i| format!("\"p{i}\";r={};t=5", i + 1))
        .collect();
    let status = statuses.join(", ");
    let headers = map(&[("ratelimit-policy", &policy), ("ratelimit", &status)]);
    let start = std::time::Instant::now();
    let info = RateLimitInfo::from_headers(&headers, now());
    let elapsed = start.elapsed();
    eprintln!("100 000-member RateLimit + RateLimit-Policy: {elapsed:?}");
    assert!(
        info.policies.len() <= MAX_MEMBERS,
        "{}",
        info.policies.len()
    );
    assert_eq!(info.policies.len(), MAX_MEMBERS);
    assert_eq!(info.policies[0].quota, 1);
    // The direct parsers stop at the cap too.
    assert_eq!(parse_ratelimit_policy(policy.as_bytes()).len(), MAX_MEMBERS);
    assert_eq!(parse_ratelimit(status.as_bytes()).len(), MAX_MEMBERS);
    // A quoted comma does not split a member.
    let quoted = parse_ratelimit_policy(br#""a,b";q=5;w=1, "c";q=6;w=1"#);
    assert_eq!(quoted.len(), 2);
    assert_eq!(quoted[0].name.as_deref(), Some("a,b"));
}
