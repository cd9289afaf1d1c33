//! The robustness profile (docs/report.md §10.4): the primary metric against the failure
//! probability p (expected metric), against the missing rate r (random-missing, mean over
//! modalities) and against the SNR (noisy, mean over modalities) — a panel per protocol
//! with levels, one line per method (mean over seeds, whiskers ± one std).

use lssg_core::MetricId;
use lssg_scenario::robustness::ProtocolKind;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::aggregate::GroupReport;
use crate::plot_panels::{DrawResult, FAMILY, draw_legend, legend_height};
use crate::plots::{Figure, Plot, PlotError, method_color, render};
use crate::protocols::metric_label;

/// Width of one panel.
const PANEL: u32 = 440;

/// One method's points in one panel: (level, mean, std).
struct Line {
    color: RGBColor,
    points: Vec<(f64, f64, f64)>,
}

/// One protocol's panel.
struct Panel {
    kind: ProtocolKind,
    lines: Vec<Line>,
}

struct ProfileFigure<'a> {
    group: &'a GroupReport,
    metric: MetricId,
    panels: Vec<Panel>,
}

impl ProfileFigure<'_> {
    fn legend(&self) -> Vec<(String, RGBColor)> {
        self.group.methods.iter().map(|m| (m.method.clone(), method_color(self.group, &m.method))).collect()
    }
}

/// The panels of `group` on `metric`: per protocol, its headline rows with a level.
fn panels(group: &GroupReport, metric: MetricId) -> Vec<Panel> {
    ProtocolKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let rows: Vec<(&str, f64)> = group
                .protocols
                .iter()
                .filter(|p| p.kind == kind && p.is_headline())
                .filter_map(|p| p.level.map(|l| (p.key.as_str(), l)))
                .collect();
            if rows.is_empty() {
                return None;
            }
            let lines = group
                .methods
                .iter()
                .map(|m| {
                    let table = m.metrics.iter().find(|t| t.metric == metric);
                    let points = rows
                        .iter()
                        .filter_map(|(key, level)| {
                            let r = table?.rows.iter().find(|r| r.scenario == *key)?;
                            Some((*level, r.mean?, r.std.unwrap_or(0.0)))
                        })
                        .collect();
                    Line { color: method_color(group, &m.method), points }
                })
                .collect();
            Some(Panel { kind, lines })
        })
        .collect()
}

fn x_desc(kind: ProtocolKind) -> &'static str {
    match kind {
        ProtocolKind::Expected => "failure probability p of every modality",
        ProtocolKind::RandomMissing => "missing rate r (mean over modalities)",
        ProtocolKind::Noisy => "SNR in dB (mean over modalities)",
    }
}

impl Figure for ProfileFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let width = PANEL * self.panels.len().max(1) as u32;
        (width, 420 + legend_height(&self.legend(), width))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let legend = self.legend();
        let (top, main) = root.split_vertically(legend_height(&legend, root.dim_in_pixel().0));
        draw_legend(&top, &legend)?;
        let areas = main.split_evenly((1, self.panels.len().max(1)));
        for (panel, area) in self.panels.iter().zip(&areas) {
            self.draw_panel(panel, area)?;
        }
        Ok(())
    }
}

impl ProfileFigure<'_> {
    fn draw_panel<DB: DrawingBackend>(&self, panel: &Panel, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let points = panel.lines.iter().flat_map(|l| &l.points);
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(x, m, s) in points {
            (x0, x1) = (x0.min(x), x1.max(x));
            (y0, y1) = (y0.min(m - s), y1.max(m + s));
        }
        if !x0.is_finite() || !y0.is_finite() {
            return Ok(());
        }
        let xpad = ((x1 - x0) * 0.06).max(0.01);
        let ypad = ((y1 - y0) * 0.08).max(0.5);
        let caption = format!("{} {}", panel.kind.as_str(), metric_label(self.metric));
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FAMILY, 16))
            .margin(10)
            .margin_right(18)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d((x0 - xpad)..(x1 + xpad), (y0 - ypad)..(y1 + ypad))?;
        chart
            .configure_mesh()
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 13))
            .x_desc(x_desc(panel.kind))
            .y_desc(format!("{} (%)", self.metric))
            .x_labels(6)
            .draw()?;
        for line in &panel.lines {
            let mut pts = line.points.clone();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), line.color.stroke_width(2)))?;
            for &(x, m, s) in &pts {
                if s > 0.0 && s.is_finite() {
                    let style = line.color.mix(0.6).stroke_width(1);
                    chart.draw_series(std::iter::once(PathElement::new(vec![(x, m - s), (x, m + s)], style)))?;
                }
                chart.draw_series(std::iter::once(Circle::new((x, m), 4, line.color.filled())))?;
            }
        }
        Ok(())
    }
}

/// The profile figure of the group's primary metric (none without protocol levels).
pub fn profile_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    let metric = group.primary_metric;
    let panels = panels(group, metric);
    if panels.is_empty() || group.methods.is_empty() {
        return Ok(Vec::new());
    }
    let name = format!("{}_profile_{metric}", group.key.slug());
    let title = format!("{}: robustness profile, {metric} against p, missing rate and SNR", group.key.label());
    Ok(vec![render(name, title, &ProfileFigure { group, metric, panels })?])
}
