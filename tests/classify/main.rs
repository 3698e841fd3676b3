//! Classification through the public API: every rule of `HttpClassifier`
//! and `GrpcClassifier`, errors, and the adaptors.

use std::error::Error;
use std::fmt;
use std::io::{self, ErrorKind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Response, StatusCode};
use tower_pacer::BoxError;
use tower_pacer::classify::*;

type Res = Response<()>;

fn fixed_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn response(status: u16, headers: &[(&str, &str)]) -> Result<Res, io::Error> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Ok(builder.body(()).unwrap())
}

fn http(status: u16, headers: &[(&str, &str)]) -> Classification {
    HttpClassifier::default()
        .with_clock(fixed_clock)
        .classify(&response(status, headers))
}

fn grpc(status: u16, headers: &[(&str, &str)]) -> Outcome {
    GrpcClassifier::default()
        .classify(&response(status, headers))
        .outcome
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

const TRANSIENT: Outcome = Outcome::Transient { retry_after: None };

mod http_rules {
    use super::*;

    #[test]
    fn success_for_1xx_2xx_3xx() {
        for status in [101, 200, 201, 204, 301, 304, 399] {
            assert_eq!(http(status, &[]).outcome, Outcome::Success, "{status}");
        }
    }

    #[test]
    fn too_many_requests_is_rate_limited() {
        assert_eq!(
            http(429, &[]).outcome,
            Outcome::RateLimited { retry_after: None }
        );
        assert_eq!(
            http(429, &[("retry-after", "2.0")]).outcome,
            Outcome::RateLimited {
                retry_after: secs(2)
            }
        );
        // No Retry-After but an exhausted quota: wait for the reset.
        let c = http(429, &[("ratelimit", r#""d";r=0;t=7"#)]);
        assert_eq!(
            c.outcome,
            Outcome::RateLimited {
                retry_after: secs(7)
            }
        );
        assert_eq!(c.info.map(|i| i.remaining), Some(Some(0)));
    }

    #[test]
    fn service_unavailable_honours_retry_after_dates() {
        let at = httpdate::fmt_http_date(fixed_clock() + Duration::from_secs(40));
        assert_eq!(
            http(503, &[("retry-after", &at)]).outcome,
            Outcome::Transient {
                retry_after: secs(40)
            }
        );
        // Measured against the Date header rather than the clock when present.
        let date = httpdate::fmt_http_date(fixed_clock() + Duration::from_secs(10));
        let c = http(503, &[("retry-after", &at), ("date", &date)]);
        assert_eq!(
            c.outcome,
            Outcome::Transient {
                retry_after: secs(30)
            }
        );
        assert_eq!(http(503, &[]).outcome, TRANSIENT);
    }

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 500, 502, 504] {
            assert_eq!(http(status, &[]).outcome, TRANSIENT, "{status}");
            assert_eq!(
                http(status, &[("retry-after", "3")]).outcome,
                Outcome::Transient {
                    retry_after: secs(3)
                },
                "{status}"
            );
        }
    }

    #[test]
    fn unknown_5xx_is_transient_but_unsupported_features_are_permanent() {
        for status in [507, 520, 599] {
            assert_eq!(http(status, &[]).outcome, TRANSIENT, "{status}");
        }
        for status in [501, 505] {
            assert_eq!(http(status, &[]).outcome, Outcome::Permanent, "{status}");
        }
    }

    #[test]
    fn other_4xx_are_permanent() {
        for status in [400, 401, 403, 404, 409, 413, 422, 451, 499] {
            assert_eq!(http(status, &[]).outcome, Outcome::Permanent, "{status}");
        }
        assert_eq!(http(600, &[]).outcome, Outcome::Permanent);
    }

    #[test]
    fn payload_too_large_with_retry_after_is_transient() {
        assert_eq!(
            http(413, &[("retry-after", "60")]).outcome,
            Outcome::Transient {
                retry_after: secs(60)
            }
        );
    }

    #[test]
    fn forbidden_with_rate_limit_signals_is_rate_limited() {
        // GitHub primary limit: 403 with remaining 0 and an epoch reset.
        let github = http(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000120"),
            ],
        );
        assert_eq!(
            github.outcome,
            Outcome::RateLimited {
                retry_after: secs(120)
            }
        );
        // GitHub secondary limit: Retry-After.
        assert_eq!(
            http(403, &[("retry-after", "60")]).outcome,
            Outcome::RateLimited {
                retry_after: secs(60)
            }
        );
        // Every other dialect's "0 left".
        for headers in [
            [("ratelimit", r#""d";r=0"#)],
            [("ratelimit", "limit=10, remaining=0, reset=1")],
            [("ratelimit-remaining", "0")],
            [("x-rate-limit-remaining", "0")],
            [("x-hubspot-ratelimit-remaining", "0")],
            [("x-hubspot-ratelimit-daily-remaining", "0")],
            [("x-shopify-shop-api-call-limit", "40/40")],
            [("sforce-limit-info", "api-usage=15000/15000")],
        ] {
            assert!(
                matches!(http(403, &headers).outcome, Outcome::RateLimited { .. }),
                "{headers:?}"
            );
        }
        // Quota left: a real "forbidden".
        assert_eq!(
            http(403, &[("x-ratelimit-remaining", "10")]).outcome,
            Outcome::Permanent
        );
        assert_eq!(
            http(403, &[("sforce-limit-info", "api-usage=1/15000")]).outcome,
            Outcome::Permanent
        );
        // And the rule can be turned off.
        let strict = HttpClassifier::new().with_forbidden_rate_limits(false);
        assert_eq!(
            strict
                .classify(&response(403, &[("retry-after", "60")]))
                .outcome,
            Outcome::Permanent
        );
    }

    #[test]
    fn stripe_should_retry() {
        for status in [429, 500, 503] {
            assert_eq!(
                http(status, &[("stripe-should-retry", "false")]).outcome,
                Outcome::Permanent,
                "{status}"
            );
        }
        assert_eq!(
            http(409, &[("stripe-should-retry", "true")]).outcome,
            TRANSIENT
        );
        assert_eq!(
            http(
                400,
                &[("stripe-should-retry", "true"), ("retry-after", "1")]
            )
            .outcome,
            Outcome::Transient {
                retry_after: secs(1)
            }
        );
        // It never turns a success into a retry, nor a 429 into a mere transient.
        assert_eq!(
            http(200, &[("stripe-should-retry", "true")]).outcome,
            Outcome::Success
        );
        assert_eq!(
            http(200, &[("stripe-should-retry", "false")]).outcome,
            Outcome::Success
        );
        assert_eq!(
            http(429, &[("stripe-should-retry", "true")]).outcome,
            Outcome::RateLimited { retry_after: None }
        );
        // Absent or garbage: decide from the status.
        assert_eq!(
            http(500, &[("stripe-should-retry", "perhaps")]).outcome,
            TRANSIENT
        );
        let ignore = HttpClassifier::new().with_should_retry_header(false);
        assert_eq!(
            ignore
                .classify(&response(500, &[("stripe-should-retry", "false")]))
                .outcome,
            TRANSIENT
        );
    }

    #[test]
    fn overrides() {
        let c = HttpClassifier::new()
            .with_status(StatusCode::CONFLICT, StatusRule::Permanent)
            .with_status(StatusCode::CONFLICT, StatusRule::Transient)
            .with_status(StatusCode::NOT_FOUND, StatusRule::Success)
            .with_status(StatusCode::INTERNAL_SERVER_ERROR, StatusRule::Permanent)
            .with_status(StatusCode::BAD_REQUEST, StatusRule::RateLimited);
        assert_eq!(
            c.classify(&response(409, &[("retry-after", "4")])).outcome,
            Outcome::Transient {
                retry_after: secs(4)
            }
        );
        assert_eq!(c.classify(&response(404, &[])).outcome, Outcome::Success);
        assert_eq!(c.classify(&response(500, &[])).outcome, Outcome::Permanent);
        assert_eq!(
            c.classify(&response(400, &[])).outcome,
            Outcome::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn info_is_attached_only_when_present() {
        assert_eq!(http(200, &[("content-type", "text/plain")]).info, None);
        let c = http(
            200,
            &[("x-ratelimit-remaining", "42"), ("x-ratelimit-limit", "50")],
        );
        let info = c.info.expect("signals were sent");
        assert_eq!((info.remaining, info.limit), (Some(42), Some(50)));
        assert!(!c.not_sent);
    }
}

mod errors {
    use super::*;

    /// An error that wraps another, like hyper-util's and reqwest's.
    #[derive(Debug)]
    struct Wrapped(io::Error);
    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    fn io_err(kind: ErrorKind) -> Result<Res, io::Error> {
        Err(io::Error::from(kind))
    }

    #[test]
    fn connect_failures_were_never_sent() {
        for kind in [ErrorKind::ConnectionRefused, ErrorKind::AddrNotAvailable] {
            let c = HttpClassifier::default().classify(&io_err(kind));
            assert_eq!((c.outcome, c.not_sent), (TRANSIENT, true), "{kind:?}");
            assert_eq!(c.info, None);
        }
    }

    #[test]
    fn other_errors_are_transient_and_maybe_sent() {
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
            ErrorKind::BrokenPipe,
            ErrorKind::Other,
            // These also end established connections (an ICMP error after
            // the request left).
            ErrorKind::NetworkUnreachable,
            ErrorKind::HostUnreachable,
            ErrorKind::NetworkDown,
        ] {
            let c = HttpClassifier::default().classify(&io_err(kind));
            assert_eq!((c.outcome, c.not_sent), (TRANSIENT, false), "{kind:?}");
        }
    }

    #[test]
    fn the_source_chain_is_walked() {
        let nested: Result<Res, Wrapped> =
            Err(Wrapped(io::Error::from(ErrorKind::ConnectionRefused)));
        assert!(HttpClassifier::default().classify(&nested).not_sent);
        let nested: Result<Res, Wrapped> =
            Err(Wrapped(io::Error::from(ErrorKind::ConnectionReset)));
        assert!(!HttpClassifier::default().classify(&nested).not_sent);
        // An io::Error wrapping a custom error wrapping a refusal.
        let deep = io::Error::other(Wrapped(io::Error::from(ErrorKind::ConnectionRefused)));
        assert!(is_not_sent(&deep));
    }

    #[test]
    fn box_errors() {
        let refused: BoxError = Box::new(Wrapped(io::Error::from(ErrorKind::ConnectionRefused)));
        let c = BoxErrors(HttpClassifier::default()).classify(&Err::<Res, _>(refused));
        assert_eq!((c.outcome, c.not_sent), (TRANSIENT, true));
        let reset: BoxError = io::Error::from(ErrorKind::ConnectionReset).into();
        assert!(
            !BoxErrors(GrpcClassifier::default())
                .classify(&Err::<Res, _>(reset))
                .not_sent
        );
        let ok: Result<Res, BoxError> = Ok(Response::builder().status(429).body(()).unwrap());
        assert!(matches!(
            BoxErrors(HttpClassifier::default()).classify(&ok).outcome,
            Outcome::RateLimited { .. }
        ));
    }

    #[test]
    fn custom_not_sent_predicate() {
        let c = HttpClassifier::new().not_sent_when(|e| e.to_string().contains("(Connect)"));
        let err: Result<Res, Wrapped> = Err(Wrapped(io::Error::other("dns error")));
        assert!(c.classify(&err).not_sent);
        assert!(!HttpClassifier::new().classify(&err).not_sent);
        let g = GrpcClassifier::new().not_sent_when(|_| true);
        assert!(g.classify(&io_err(ErrorKind::TimedOut)).not_sent);
    }

    /// A real refused connection through hyper-util's legacy client (to a
    /// loopback port nobody listens on).
    #[tokio::test]
    async fn hyper_util_connection_refused() {
        use http_body_util::Empty;
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        let uri: http::Uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
        let result = client.get(uri).await;
        let c = HttpClassifier::default().classify(&result);
        assert!(result.is_err());
        assert_eq!((c.outcome, c.not_sent), (TRANSIENT, true), "{result:?}");
    }
}

mod grpc_rules {
    use super::*;

    #[test]
    fn ok_is_success() {
        assert_eq!(grpc(200, &[("grpc-status", "0")]), Outcome::Success);
        assert_eq!(grpc(200, &[]), Outcome::Success);
    }

    #[test]
    fn resource_exhausted_is_rate_limited_with_pushback() {
        assert_eq!(
            grpc(200, &[("grpc-status", "8")]),
            Outcome::RateLimited { retry_after: None }
        );
        let c = grpc(
            200,
            &[("grpc-status", "8"), ("grpc-retry-pushback-ms", "1500")],
        );
        assert_eq!(
            c,
            Outcome::RateLimited {
                retry_after: Some(Duration::from_millis(1500))
            }
        );
    }

    #[test]
    fn unavailable_is_transient_with_pushback() {
        assert_eq!(grpc(200, &[("grpc-status", "14")]), TRANSIENT);
        let c = grpc(
            200,
            &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "20")],
        );
        assert_eq!(
            c,
            Outcome::Transient {
                retry_after: Some(Duration::from_millis(20))
            }
        );
    }

    #[test]
    fn negative_or_garbage_pushback_means_do_not_retry() {
        for pushback in ["-1", "soon", "1.5", "99999999999"] {
            for code in ["8", "14"] {
                let c = grpc(
                    200,
                    &[("grpc-status", code), ("grpc-retry-pushback-ms", pushback)],
                );
                assert_eq!(c, Outcome::Permanent, "{code} {pushback}");
            }
        }
    }

    #[test]
    fn other_codes_are_permanent() {
        for code in [
            "1", "2", "3", "4", "5", "6", "7", "9", "10", "11", "12", "13", "15", "16", "17", "x",
            "",
        ] {
            assert_eq!(
                grpc(200, &[("grpc-status", code)]),
                Outcome::Permanent,
                "{code:?}"
            );
        }
        // A pushback does not make a non-retryable code retryable.
        assert_eq!(
            grpc(
                200,
                &[("grpc-status", "13"), ("grpc-retry-pushback-ms", "5")]
            ),
            Outcome::Permanent
        );
    }

    #[test]
    fn code_overrides() {
        let c = GrpcClassifier::new()
            .with_code(4, StatusRule::Transient)
            .with_code(8, StatusRule::Permanent);
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "4")])).outcome,
            TRANSIENT
        );
        assert_eq!(
            c.classify(&response(200, &[("grpc-status", "8")])).outcome,
            Outcome::Permanent
        );
    }

    #[test]
    fn missing_status_maps_from_http() {
        assert_eq!(grpc(429, &[]), Outcome::RateLimited { retry_after: None });
        for status in [502, 503, 504] {
            assert_eq!(grpc(status, &[]), TRANSIENT, "{status}");
        }
        assert_eq!(
            grpc(503, &[("retry-after", "2")]),
            Outcome::Transient {
                retry_after: secs(2)
            }
        );
        for status in [400, 404, 500] {
            assert_eq!(grpc(status, &[]), Outcome::Permanent, "{status}");
        }
    }

    #[test]
    fn info_carries_the_pushback() {
        let c = GrpcClassifier::default()
            .with_clock(fixed_clock)
            .classify(&response(
                200,
                &[("grpc-status", "14"), ("grpc-retry-pushback-ms", "250")],
            ));
        assert_eq!(
            c.info.and_then(|i| i.retry_after),
            Some(Duration::from_millis(250))
        );
    }
}

#[test]
fn closures_classify() {
    let by_len = |r: &Result<String, ()>| match r {
        Ok(s) if s.is_empty() => Classification::new(Outcome::Transient {
            retry_after: secs(1),
        }),
        Ok(_) => Outcome::Success.into(),
        Err(()) => Classification::new(Outcome::Permanent).with_not_sent(true),
    };
    assert_eq!(by_len.classify(&Ok(String::new())).retry_after(), secs(1));
    assert!(by_len.classify(&Ok(String::new())).is_retryable());
    assert_eq!(by_len.classify(&Ok("x".into())).outcome, Outcome::Success);
    let err = by_len.classify(&Err(()));
    assert!(err.not_sent && !err.is_retryable());
}

#[test]
fn outcome_helpers() {
    assert!(Outcome::RateLimited { retry_after: None }.is_retryable());
    assert!(!Outcome::Permanent.is_retryable());
    assert!(!Outcome::Success.is_retryable());
    assert_eq!(
        Outcome::Transient {
            retry_after: secs(5)
        }
        .retry_after(),
        secs(5)
    );
    assert_eq!(Outcome::Permanent.retry_after(), None);
    assert_eq!(
        StatusRule::RateLimited.outcome(secs(1)),
        Outcome::RateLimited {
            retry_after: secs(1)
        }
    );
}
