//! The assertions, scenario by scenario (paused time).

use super::sim::{Report, Scenario, Strategy, run};

fn show(report: &Report) -> String {
    format!("{}\n{}", super::table::HEADER, super::table::row(report))
}

/// Every phase: ≥ 90 % of the limit within 10 s, ≥ 95 % in steady state.
fn assert_converges(report: &Report) {
    for (phase, time) in report.convergence_times().into_iter().enumerate() {
        assert!(
            time.is_some_and(|t| t <= 10),
            "phase {phase}: no 90 % within 10 s\n{}",
            show(report)
        );
    }
    for (phase, share) in report.steady_share().into_iter().enumerate() {
        assert!(
            share >= 0.95,
            "phase {phase}: steady share {share:.3}\n{}",
            show(report)
        );
    }
}

/// 429s: at most 5 % over the run, under 1 % in steady state.
fn assert_polite(report: &Report) {
    let run = report.throttle_ratio(0, report.scenario.seconds);
    assert!(
        run <= 0.05,
        "429 ratio {run:.4} over the run\n{}",
        show(report)
    );
    let steady = report.steady_throttle_ratio();
    assert!(
        steady < 0.01,
        "429 ratio {steady:.4} in steady state\n{}",
        show(report)
    );
}

#[tokio::test(start_paused = true)]
async fn cubic_steady_limit() {
    let report = run(&Scenario::named("steady"), Strategy::Cubic).await;
    assert_converges(&report);
    assert_polite(&report);
}

#[tokio::test(start_paused = true)]
async fn cubic_limit_halving_mid_run() {
    let report = run(&Scenario::named("halving"), Strategy::Cubic).await;
    assert_converges(&report);
    assert_polite(&report);
}

#[tokio::test(start_paused = true)]
async fn cubic_recovers_after_the_limit_rises() {
    let report = run(&Scenario::named("rising"), Strategy::Cubic).await;
    assert_converges(&report);
    assert_polite(&report);
}

#[tokio::test(start_paused = true)]
async fn cubic_noisy_latency() {
    let report = run(&Scenario::named("noisy latency"), Strategy::Cubic).await;
    assert_converges(&report);
    assert_polite(&report);
}

/// The AWS design, measured in the same harness: the epoch guard and the
/// small burst must buy a clear margin over it.
#[tokio::test(start_paused = true)]
async fn aws_as_implemented_baseline_falls_short_of_the_fixed_cubic() {
    for name in ["steady", "halving", "rising"] {
        let scenario = Scenario::named(name);
        let aws = run(&scenario, Strategy::Aws).await;
        let fixed = run(&scenario, Strategy::Cubic).await;
        let worst = |r: &Report| r.steady_share().into_iter().fold(f64::INFINITY, f64::min);
        assert!(
            worst(&fixed) > worst(&aws) + 0.2,
            "{name}: the fixes bought too little\n{}\n{}",
            show(&aws),
            super::table::row(&fixed)
        );
        assert!(
            fixed.throttle_ratio(0, scenario.seconds) < aws.throttle_ratio(0, scenario.seconds),
            "{name}: the fixes did not reduce 429s\n{}\n{}",
            show(&aws),
            super::table::row(&fixed)
        );
    }
}

/// The article's AIMD with the epoch guard: fine in steady state, but its
/// growth (×1.1 per 10 successes) is slow from a low start; measured:
/// 90 % after 11 s from 10/s. Asserted: what holds.
#[tokio::test(start_paused = true)]
async fn aimd_steady_limit() {
    let report = run(&Scenario::named("steady"), Strategy::Aimd).await;
    let steady = report.steady_share()[0];
    assert!(
        steady >= 0.95,
        "steady share {steady:.3}\n{}",
        show(&report)
    );
    let ratio = report.throttle_ratio(0, report.scenario.seconds);
    assert!(ratio <= 0.05, "429 ratio {ratio:.4}\n{}", show(&report));
    // The article's exact rule (a cut per 429) collapses in the same run.
    let article = run(&Scenario::named("steady"), Strategy::AimdArticle).await;
    assert!(article.steady_share()[0] < steady, "{}", show(&article));
}

/// Header-driven pacing on a server that announces its window: no 429 at
/// all after the first window, and the window's quota used.
#[tokio::test(start_paused = true)]
async fn header_pacing_no_429_after_the_first_window() {
    let scenario = Scenario::named("window 200/10 s, headers");
    let report = run(&scenario, Strategy::CubicHeaders).await;
    let after_first: u64 = report.seconds.iter().skip(10).map(|s| s.throttled).sum();
    assert_eq!(after_first, 0, "{}", show(&report));
    assert!(report.steady_share()[0] >= 0.95, "{}", show(&report));
    // Without the headers, the same strategy hits the window hard.
    let blind = run(&scenario, Strategy::Cubic).await;
    assert!(
        blind.throttle_ratio(0, scenario.seconds) > 0.05,
        "{}",
        show(&blind)
    );
}

/// Adaptive concurrency against a server that refuses beyond 10 calls at
/// once: the lines (at least 95 % of the cap in steady state, at
/// most 5 % 429s). Measured: 99.7 % and 0.3 % (before the permit-order
/// fix and the probe wait: 92.5 %, 5.1 %).
#[tokio::test(start_paused = true)]
async fn arc_concurrency_cap() {
    let report = run(&Scenario::named("concurrency cap 10"), Strategy::Arc).await;
    assert!(
        report.max_outstanding <= 11,
        "in flight above cap + 1\n{}",
        show(&report)
    );
    assert!(
        report.convergence_times()[0].is_some_and(|t| t <= 10),
        "{}",
        show(&report)
    );
    assert!(report.steady_share()[0] >= 0.95, "{}", show(&report));
    let ratio = report.throttle_ratio(0, report.scenario.seconds);
    assert!(ratio <= 0.05, "429 ratio {ratio:.4}\n{}", show(&report));
}
