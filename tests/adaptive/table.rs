//! The figures table: every scenario × strategy, as markdown.

use super::sim::{Report, Scenario, Strategy, run};

fn percent(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn joined<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    items.iter().map(show).collect::<Vec<_>>().join(" / ")
}

/// One markdown row.
pub fn row(report: &Report) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        report.scenario.name,
        report.strategy.name(),
        joined(&report.steady_share(), |x| percent(*x)),
        percent(report.throttle_ratio(0, report.scenario.seconds)),
        percent(report.steady_throttle_ratio()),
        joined(&report.convergence_times(), |t| match t {
            Some(t) => format!("{t} s"),
            None => "never".into(),
        }),
        report.max_outstanding,
    )
}

pub const HEADER: &str = "| scenario | strategy | % of limit, steady (per phase) | 429 ratio, run | 429 ratio, steady | convergence to 90 % (per phase) | max in flight |\n|---|---|---|---|---|---|---|";

/// Every scenario × strategy.
pub async fn table() -> String {
    let mut out = String::from(HEADER);
    for scenario in Scenario::all() {
        for strategy in Strategy::ALL {
            out.push('\n');
            out.push_str(&row(&run(&scenario, strategy).await));
        }
    }
    out
}
