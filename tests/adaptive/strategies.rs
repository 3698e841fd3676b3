//! The strategies on their own: published test vectors, the fixes, and
//! configuration errors.

use std::time::Duration;

use tokio::time::Instant;
use tower_pacer::adaptive::{AdaptiveStrategy, Aimd, Cubic, Rate};

fn at(t0: Instant, secs: f64) -> Instant {
    t0 + Duration::from_secs_f64(secs)
}

fn per_second(rate: Rate) -> f64 {
    match rate {
        Rate::PerSecond(r) => r,
        other => panic!("expected a rate, got {other:?}"),
    }
}

/// Sends at `rate` per second from `from` to `to` (seconds after `t0`).
fn send(strategy: &mut impl AdaptiveStrategy, t0: Instant, rate: f64, from: f64, to: f64) {
    let mut t = from;
    while t < to {
        strategy.on_sent(at(t0, t));
        t += 1.0 / rate;
    }
}

/// smithy-rs / Go v2 vectors: throttled at 10/s at t = 5, then successes.
#[test]
fn cubic_follows_the_aws_test_vectors() {
    let t0 = Instant::now();
    let mut cubic = Cubic::builder().app_limited_ratio(None).build().unwrap();
    assert_eq!(cubic.rate(), Rate::Unlimited);
    send(&mut cubic, t0, 10.0, 0.0, 5.0);
    let five = at(t0, 5.0);
    assert!((per_second(cubic.on_throttle(five, five)) - 7.0).abs() < 0.01);
    for (t, expected) in [
        (6.0, 9.65),
        (7.0, 10.0),
        (9.0, 13.4),
        (10.0, 21.3),
        (11.0, 36.4),
    ] {
        let rate = per_second(cubic.on_success(five, at(t0, t)));
        assert!(
            (rate - expected).abs() < 0.05,
            "t = {t}: {rate} vs {expected}"
        );
    }
}

#[test]
fn cubic_decreases_once_per_epoch_and_aws_does_not() {
    let t0 = Instant::now();
    let mut fixed = Cubic::builder().build().unwrap();
    let mut aws = Cubic::aws_as_implemented().build().unwrap();
    for strategy in [&mut fixed, &mut aws] {
        send(strategy, t0, 100.0, 0.0, 2.0);
    }
    let cut = at(t0, 2.0);
    let first = per_second(fixed.on_throttle(at(t0, 1.95), cut));
    per_second(aws.on_throttle(at(t0, 1.95), cut));
    // Ten more 429s for requests sent before the cut.
    for i in 1..=10 {
        let now = at(t0, 2.0 + 0.005 * f64::from(i));
        assert_eq!(per_second(fixed.on_throttle(at(t0, 1.99), now)), first);
        aws.on_throttle(at(t0, 1.99), now);
    }
    assert!((first - 70.0).abs() < 2.0, "{first}");
    assert!(per_second(aws.rate()) < first * 0.1, "{}", aws.rate());
    // A 429 for a request sent after the cut is a new event.
    let again = per_second(fixed.on_throttle(at(t0, 2.1), at(t0, 2.15)));
    assert!(again < first);
}

#[test]
fn cubic_does_not_grow_while_app_limited() {
    let t0 = Instant::now();
    let mut cubic = Cubic::builder().build().unwrap();
    send(&mut cubic, t0, 100.0, 0.0, 2.0);
    let cut = at(t0, 2.0);
    cubic.on_throttle(cut, cut);
    // Ten seconds at 5/s, far below the 70/s allowed: the curve waits.
    send(&mut cubic, t0, 5.0, 2.0, 12.0);
    let idle = per_second(cubic.on_success(at(t0, 11.9), at(t0, 12.0)));
    assert!(idle < 71.0, "grew while app-limited: {idle}");
    // Busy again: it recovers within seconds.
    send(&mut cubic, t0, 100.0, 12.0, 20.0);
    let busy = per_second(cubic.on_success(at(t0, 19.9), at(t0, 20.0)));
    assert!(busy > 100.0, "{busy}");
}

#[test]
fn aimd_is_the_articles_rule() {
    let t0 = Instant::now();
    let mut aimd = Aimd::builder(10.0)
        .min_rate(2.0)
        .max_rate(12.0)
        .build()
        .unwrap();
    for _ in 0..9 {
        assert_eq!(aimd.on_success(t0, t0), Rate::PerSecond(10.0));
    }
    assert!((per_second(aimd.on_success(t0, t0)) - 11.0).abs() < 1e-9);
    for _ in 0..20 {
        aimd.on_success(t0, t0);
    }
    assert_eq!(aimd.rate(), Rate::PerSecond(12.0), "bounded above");
    let mut article = Aimd::builder(10.0)
        .min_rate(2.0)
        .decrease_once_per_epoch(false)
        .build()
        .unwrap();
    for _ in 0..5 {
        article.on_throttle(t0, t0);
    }
    assert_eq!(article.rate(), Rate::PerSecond(2.0), "bounded below");
}

#[test]
fn configuration_errors_name_the_field() {
    let field = |e: tower_pacer::ConfigError| e.field().to_owned();
    assert_eq!(
        field(
            Aimd::builder(10.0)
                .decrease_factor(1.5)
                .build()
                .unwrap_err()
        ),
        "aimd.decrease_factor"
    );
    assert_eq!(
        field(
            Aimd::builder(10.0)
                .increase_factor(0.9)
                .build()
                .unwrap_err()
        ),
        "aimd.increase_factor"
    );
    assert_eq!(
        field(Aimd::builder(0.1).build().unwrap_err()),
        "aimd.initial_rate"
    );
    assert_eq!(
        field(
            Aimd::builder(10.0)
                .successes_to_increase(0)
                .build()
                .unwrap_err()
        ),
        "aimd.successes_to_increase"
    );
    assert_eq!(
        field(Aimd::builder(10.0).min_rate(f64::NAN).build().unwrap_err()),
        "aimd.min_rate"
    );
    assert_eq!(
        field(Cubic::builder().beta(0.0).build().unwrap_err()),
        "cubic.beta"
    );
    assert_eq!(
        field(Cubic::builder().scale(-1.0).build().unwrap_err()),
        "cubic.scale"
    );
    assert_eq!(
        field(Cubic::builder().max_rate(0.1).build().unwrap_err()),
        "cubic.max_rate"
    );
    assert_eq!(
        field(
            Cubic::builder()
                .app_limited_ratio(Some(1.0))
                .build()
                .unwrap_err()
        ),
        "cubic.app_limited_ratio"
    );
}
