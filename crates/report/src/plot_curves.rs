//! The learning curves of every stage (docs/report.md §5).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::aggregate::{GroupReport, StageCurves, slug};
use crate::plot_panels::{DrawResult, FAMILY, draw_legend, seed_color};
use crate::plots::{Figure, Plot, PlotError, render};

/// (d) One stage's learning curves: training loss and validation metric, a line per seed.
struct CurveFigure<'a> {
    group: &'a GroupReport,
    stage: &'a StageCurves,
}

/// A named line of (x, y) points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

impl Figure for CurveFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1100, 420)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (legend, main) = root.split_vertically(40);
        let seeds = &self.stage.seeds;
        let entries: Vec<(String, RGBColor)> =
            seeds.iter().enumerate().map(|(i, (s, _))| (format!("seed {s}"), seed_color(i))).collect();
        draw_legend(&legend, &entries)?;
        let line = |f: &dyn Fn(&crate::record::CurvePoint) -> Option<f64>| -> Vec<Line> {
            seeds
                .iter()
                .enumerate()
                .map(|(i, (s, pts))| {
                    let xy = pts.iter().filter_map(|p| f(p).map(|v| (p.epoch as f64, v))).collect();
                    (format!("seed {s}"), seed_color(i), xy)
                })
                .collect()
        };
        let train = line(&|p| Some(p.train_loss));
        let val = line(&|p| p.val_metric);
        let (w, _) = main.dim_in_pixel();
        let (left, right) = main.split_horizontally(w / 2);
        let label = format!("{}: {}", self.group.key.label(), self.stage.stage);
        line_panel(&left, &format!("{label}, training loss"), "training loss", &train)?;
        let metric = self.group.primary_metric;
        line_panel(&right, &format!("validation {metric}"), &format!("{metric} (%)"), &val)
    }
}

/// A panel of lines over epochs (an empty panel says so).
fn line_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    lines: &[Line],
) -> DrawResult<DB> {
    let all: Vec<(f64, f64)> = lines.iter().flat_map(|l| l.2.iter().copied()).filter(|(_, y)| y.is_finite()).collect();
    if all.is_empty() {
        let style = (FAMILY, 16).into_font().color(&BLACK);
        area.draw(&Text::new(format!("{caption}: no values"), (40, 40), style))?;
        return Ok(());
    }
    let fold = |f: fn(f64, f64) -> f64, init: f64, sel: fn(&(f64, f64)) -> f64| all.iter().map(sel).fold(init, f);
    let (x0, x1) = (fold(f64::min, f64::INFINITY, |p| p.0), fold(f64::max, f64::NEG_INFINITY, |p| p.0));
    let (y0, y1) = (fold(f64::min, f64::INFINITY, |p| p.1), fold(f64::max, f64::NEG_INFINITY, |p| p.1));
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let pad = if y1 > y0 { (y1 - y0) * 0.06 } else { y0.abs().max(1.0) * 0.05 };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 17))
        .margin(10)
        .margin_right(24)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
    chart
        .configure_mesh()
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 14))
        .x_desc("epoch")
        .y_desc(y_desc)
        // One label per whole epoch: plotters' default ticks fall between epochs on short runs.
        .x_labels(((x1 - x0).round() as usize + 1).min(12))
        .x_label_formatter(&|x| if (x - x.round()).abs() < 1e-6 { format!("{x:.0}") } else { String::new() })
        .draw()?;
    for (_, color, pts) in lines {
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?;
        if pts.len() <= 40 {
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
        }
    }
    Ok(())
}

/// (d) one figure per stage.
pub fn curve_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    group
        .curves
        .iter()
        .filter(|s| !s.seeds.is_empty())
        .map(|stage| {
            let name = format!("{}_curves_{}", group.key.slug(), slug(&stage.stage));
            let title = format!("{}: learning curves of {}", group.key.label(), stage.stage);
            render(name, title, &CurveFigure { group, stage })
        })
        .collect()
}
