//! The trajectories of adaptive sampling distributions (docs/report.md §9) and of group DRO's
//! loss weights (§10.5): per stage, the value of each scenario over the epochs — a thick line
//! per scenario for the mean over seeds, thin pale lines for the single seeds — with the
//! scenario legend in a column at the right.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::aggregate::{GroupReport, slug};
use crate::plot_panels::{DrawResult, FAMILY, seed_color};
use crate::plots::{Figure, Plot, PlotError, render};
use crate::trajectory::{EpochSampling, Trajectory};

/// Width of the legend column.
const LEGEND: u32 = 230;

struct TrajectoryFigure<'a> {
    group: &'a GroupReport,
    t: &'a Trajectory,
    /// `sampling distribution` or `loss weights q`.
    what: &'static str,
    /// The vertical axis.
    y_desc: &'static str,
}

/// The (epoch, probability of scenario `j`) points of a trajectory.
fn line(points: &[EpochSampling], j: usize) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter_map(|p| p.probabilities.get(j).filter(|v| v.is_finite()).map(|v| (p.epoch as f64, *v)))
        .collect()
}

impl Figure for TrajectoryFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 480.max(110 + 24 * self.t.scenarios.len() as u32))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let t = self.t;
        let (w, _) = root.dim_in_pixel();
        let (main, legend) = root.split_horizontally(w - LEGEND);
        let epochs = t.mean.iter().map(|p| p.epoch as f64);
        let (x0, x1) = epochs.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| (a.min(e), b.max(e)));
        let (x0, x1) = if x0.is_finite() { (x0, if x1 > x0 { x1 } else { x0 + 1.0 }) } else { (0.0, 1.0) };
        let top = t
            .seeds
            .iter()
            .flat_map(|s| &s.points)
            .flat_map(|p| &p.probabilities)
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y1 = if top > 0.0 { top * 1.08 } else { 1.0 };
        let seeds = if t.seeds.len() == 1 {
            "1 seed".to_string()
        } else {
            format!("mean over {} seeds, thin lines: single seeds", t.seeds.len())
        };
        let title = format!("{}: {} of {} ({seeds})", self.group.key.label(), self.what, t.stage);
        root.draw(&Text::new(title, (16, 10), (FAMILY, 17).into_font().color(&BLACK)))?;
        let mut chart = ChartBuilder::on(&main)
            .margin(10)
            .margin_top(40)
            .margin_right(16)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, 0.0..y1)?;
        chart
            .configure_mesh()
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 14))
            .x_desc("epoch")
            .y_desc(self.y_desc)
            .x_labels(((x1 - x0).round() as usize + 1).min(12))
            .x_label_formatter(&|x| if (x - x.round()).abs() < 1e-6 { format!("{x:.0}") } else { String::new() })
            .draw()?;
        for j in 0..t.scenarios.len() {
            let color = seed_color(j);
            if t.seeds.len() > 1 {
                for s in &t.seeds {
                    chart.draw_series(LineSeries::new(line(&s.points, j), color.mix(0.3).stroke_width(1)))?;
                }
            }
            let mean = line(&t.mean, j);
            chart.draw_series(LineSeries::new(mean.iter().copied(), color.stroke_width(3)))?;
            if mean.len() <= 40 {
                chart.draw_series(mean.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            }
        }
        let style = (FAMILY, 14).into_font().color(&BLACK);
        for (j, name) in t.scenarios.iter().enumerate() {
            let y = 60 + 24 * j as i32;
            legend.draw(&PathElement::new(vec![(4, y + 7), (30, y + 7)], seed_color(j).stroke_width(3)))?;
            legend.draw(&Text::new(name.clone(), (38, y), style.clone()))?;
        }
        Ok(())
    }
}

/// One figure per stage that recorded its sampling distribution per epoch.
pub fn trajectory_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    group
        .trajectories
        .iter()
        .filter(|t| !t.mean.is_empty())
        .map(|t| {
            let name = format!("{}_sampling_{}", group.key.slug(), slug(&t.stage));
            let title = format!("{}: sampling distribution of {} per epoch", group.key.label(), t.stage);
            render(
                name,
                title,
                &TrajectoryFigure { group, t, what: "sampling distribution", y_desc: "sampling probability" },
            )
        })
        .collect()
}

/// One figure per stage that recorded per-scenario loss weights per epoch (group DRO's q).
pub fn weight_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    group
        .weights
        .iter()
        .filter(|t| !t.mean.is_empty())
        .map(|t| {
            let name = format!("{}_weights_{}", group.key.slug(), slug(&t.stage));
            let title = format!("{}: scenario loss weights q of {} per epoch", group.key.label(), t.stage);
            let figure = TrajectoryFigure { group, t, what: "scenario loss weights q", y_desc: "weight q" };
            render(name, title, &figure)
        })
        .collect()
}
