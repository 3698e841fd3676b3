//! The SVG chart of a run: calls/s and 429s/s over time, one pair of lines
//! per run.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tower_pacer::BoxError;

/// One point: (seconds since start, calls/s, 429s/s).
pub type Point = (f64, f64, f64);

/// Points of one run.
pub type Timeline = Vec<Point>;

/// Draws `runs` (name, timeline) into an SVG file at `path`.
pub fn chart(path: &Path, runs: &[(&str, &[Point])]) -> Result<(), BoxError> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let points = || runs.iter().flat_map(|(_, t)| t.iter());
    let max_t = points().map(|p| p.0).fold(1.0, f64::max);
    let max_y = points().map(|p| p.1.max(p.2)).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("calls/s and 429s/s", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..max_t, 0.0..max_y * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("per second")
        .draw()?;
    let palette = [BLUE, RED, GREEN, MAGENTA];
    for (i, (name, timeline)) in runs.iter().enumerate() {
        let color = match *name {
            "naive" => RED,
            "pacer" => BLUE,
            _ => palette[i % palette.len()],
        };
        chart
            .draw_series(LineSeries::new(
                timeline.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))?
            .label(format!("{name} calls/s"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        chart
            .draw_series(LineSeries::new(
                timeline.iter().map(|p| (p.0, p.2)),
                color.mix(0.5).stroke_width(1),
            ))?
            .label(format!("{name} 429s/s"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.mix(0.5)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Samples running totals (calls, 429s) every 250 ms into a timeline of
/// rates, until [`finish`](Self::finish)ed.
pub struct Sampler {
    task: tokio::task::JoinHandle<()>,
    timeline: Arc<Mutex<Timeline>>,
}

impl Sampler {
    /// Starts sampling `totals`, which returns (calls so far, 429s so far).
    pub fn start(mut totals: impl FnMut() -> (u64, u64) + Send + 'static) -> Self {
        let timeline: Arc<Mutex<Timeline>> = Arc::default();
        let sink = timeline.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let now = totals();
                let point = (
                    start.elapsed().as_secs_f64(),
                    now.0.saturating_sub(last.0) as f64 * 4.0,
                    now.1.saturating_sub(last.1) as f64 * 4.0,
                );
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(point);
                last = now;
            }
        });
        Sampler { task, timeline }
    }

    /// Stops sampling and takes the timeline.
    pub async fn finish(self) -> Timeline {
        self.task.abort();
        let _ = self.task.await;
        std::mem::take(&mut *self.timeline.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
