//! The scatter plots of the scoring diagnostic (docs/report.md §8): one figure per pair of
//! scores, a point per seed × partial scenario, a colour per seed, points labelled with their
//! scenario (with several seeds, each scenario's label sits at the centre of its seeds'
//! points). Labels are placed greedily beside their anchor where they overlap no other label.

use lssg_core::MetricId;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::aggregate::{GroupReport, slug};
use crate::diagnostic::{CorrelationSummary, Diagnostic, DiagnosticReport, Score};
use crate::plot_panels::{Chart, DrawResult, FAMILY, draw_legend, legend_height, seed_color};
use crate::plots::{Figure, Plot, PlotError, render};
use crate::score_tables::rho_text;

/// One pair's scatter plot.
struct ScatterFigure<'a> {
    group: &'a GroupReport,
    report: &'a DiagnosticReport,
    pair: &'a CorrelationSummary,
}

/// The axis description of a score.
fn axis_desc(score: Score, metric: MetricId) -> String {
    match score {
        Score::MetricDrop => format!("{metric} drop from the full scenario (pp)"),
        Score::Distortion => "latent distortion D".into(),
        Score::TaskIncrease => "task-loss increase".into(),
    }
}

/// The points of a seed: (scenario index, x, y).
fn points(d: &Diagnostic, x: Score, y: Score) -> Vec<(usize, f64, f64)> {
    match (d.vector(x), d.vector(y)) {
        (Some(a), Some(b)) => a.iter().zip(b).enumerate().map(|(k, (x, y))| (k, *x, *y)).collect(),
        _ => Vec::new(),
    }
}

/// `[lo, hi]` of `values` with 8 % room on both sides.
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.08 } else { lo.abs().max(1.0) * 0.1 };
    (lo - pad, hi + pad)
}

impl Figure for ScatterFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (620, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (x, y) = (self.pair.x, self.pair.y);
        let seeds: Vec<(usize, &Diagnostic)> =
            self.report.seeds.iter().enumerate().filter(|(_, d)| self.pair.seeds.contains(&d.seed)).collect();
        let entries: Vec<(String, RGBColor)> =
            seeds.iter().map(|(i, d)| (format!("seed {}", d.seed), seed_color(*i))).collect();
        let (w, _) = root.dim_in_pixel();
        let (top, rest) = root.split_vertically(34);
        let title = format!("{}: {} vs {}", self.group.key.label(), x.label(), y.label());
        top.draw(&Text::new(title, (16, 10), (FAMILY, 17).into_font().color(&BLACK)))?;
        let (legend, main) = rest.split_vertically(legend_height(&entries, w));
        draw_legend(&legend, &entries)?;
        let all: Vec<(usize, usize, f64, f64)> =
            seeds.iter().flat_map(|(i, d)| points(d, x, y).into_iter().map(move |(k, a, b)| (*i, k, a, b))).collect();
        let (x0, x1) = padded(all.iter().map(|p| p.2));
        let (y0, y1) = padded(all.iter().map(|p| p.3));
        let caption = format!("Spearman ρ: {}", rho_text(self.pair));
        let mut chart = ChartBuilder::on(&main)
            .caption(caption, (FAMILY, 15))
            .margin(10)
            .margin_right(24)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let metric = seeds.first().map_or(MetricId::Miou, |(_, d)| d.primary_metric);
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .x_desc(axis_desc(x, metric))
            .y_desc(axis_desc(y, metric))
            .draw()?;
        for &(i, _, a, b) in &all {
            chart.draw_series(std::iter::once(Circle::new((a, b), 5, seed_color(i).filled())))?;
        }
        let names = seeds.first().map(|(_, d)| d.scenarios.clone()).unwrap_or_default();
        let anchors: Vec<(String, f64, f64)> = names
            .iter()
            .enumerate()
            .filter_map(|(k, name)| {
                let at: Vec<&(usize, usize, f64, f64)> = all.iter().filter(|p| p.1 == k).collect();
                let n = at.len() as f64;
                (n > 0.0).then(|| {
                    (name.clone(), at.iter().map(|p| p.2).sum::<f64>() / n, at.iter().map(|p| p.3).sum::<f64>() / n)
                })
            })
            .collect();
        if seeds.len() > 1 {
            // the anchor of each label: the centre of the scenario's points
            let cross = |(_, a, b): &(String, f64, f64)| Cross::new((*a, *b), 4, BLACK.stroke_width(1));
            chart.draw_series(anchors.iter().map(cross))?;
        }
        let markers: Vec<(i32, i32)> = all.iter().map(|p| chart.backend_coord(&(p.2, p.3))).collect();
        place_labels(root, &chart, &anchors, &markers)
    }
}

/// Pixel rectangle `(x0, y0, x1, y1)`.
type Rect = (i32, i32, i32, i32);

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Writes each anchor's label beside it: the first of eight positions around the anchor that
/// stays inside the plotting area and overlaps no label placed before and no marker; when none
/// does, the one overlapping the fewest.
fn place_labels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    anchors: &[(String, f64, f64)],
    markers: &[(i32, i32)],
) -> DrawResult<DB> {
    let style = (FAMILY, 12).into_font().color(&RGBColor(40, 40, 40));
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let base = root.get_base_pixel();
    let marker_rects: Vec<Rect> = markers.iter().map(|(x, y)| (x - 5, y - 5, x + 5, y + 5)).collect();
    let mut placed: Vec<Rect> = Vec::new();
    for (name, x, y) in anchors {
        let (w, h) = root.estimate_text_size(name, &style)?;
        let (w, h) = (w as i32, h as i32);
        let (px, py) = chart.backend_coord(&(*x, *y));
        let candidates = [
            (px + 8, py - h / 2),
            (px - 8 - w, py - h / 2),
            (px - w / 2, py - h - 7),
            (px - w / 2, py + 7),
            (px + 7, py - h - 5),
            (px + 7, py + 5),
            (px - 7 - w, py - h - 5),
            (px - 7 - w, py + 5),
        ];
        let cost = |(cx, cy): (i32, i32)| {
            let r = (cx, cy, cx + w, cy + h);
            let outside = r.0 < xr.start || r.2 > xr.end || r.1 < yr.start || r.3 > yr.end;
            let hits = placed.iter().chain(&marker_rects).filter(|p| overlaps(r, **p)).count();
            usize::from(outside) * 1000 + hits
        };
        let best = candidates.iter().copied().min_by_key(|c| cost(*c)).unwrap_or(candidates[0]);
        placed.push((best.0, best.1, best.0 + w, best.1 + h));
        root.draw(&Text::new(name.clone(), (best.0 - base.0, best.1 - base.1), style.clone()))?;
    }
    Ok(())
}

/// One scatter plot per correlated pair of the group's diagnostic.
pub fn diagnostic_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    let Some(report) = &group.diagnostic else { return Ok(Vec::new()) };
    report
        .pairs
        .iter()
        .map(|pair| {
            let name = slug(&format!("{}_diagnostic_{}-{}", group.key.slug(), pair.x.slug(), pair.y.slug()));
            let title = format!("{}: scoring diagnostic, {} vs {}", group.key.label(), pair.x.label(), pair.y.label());
            render(name, title, &ScatterFigure { group, report, pair })
        })
        .collect()
}
