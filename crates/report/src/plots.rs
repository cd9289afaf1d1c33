//! The report's figures (docs/report.md §5), each drawn twice from one description: as SVG
//! (inlined in the HTML) and as PNG. Text in the PNGs is rasterised with the embedded DejaVu
//! Sans, so rendering never depends on the fonts of the machine.
//!
//! Scenarios are laid out on the vertical axis (horizontal bars, forest plots): their names
//! (`optical+sar+height`) then read left to right at any count.

use std::sync::OnceLock;

use lssg_core::MetricId;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use thiserror::Error;

use crate::aggregate::GroupReport;
use crate::plot_panels::{
    Bar, BarSeries, DrawResult, FAMILY, draw_legend, draw_row_labels, hbar_panel, label_width, whisker,
};

/// DejaVu Sans (assets/DejaVuSans-LICENSE: Bitstream Vera licence, DejaVu changes public domain).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// A figure in both formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File stem, unique within a report.
    pub name: String,
    /// A one-line description.
    pub title: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// The SVG document.
    pub svg: String,
}

/// A figure that could not be drawn.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The embedded font was refused by the rasteriser.
    #[error("the embedded font could not be registered")]
    Font,
    /// Drawing or encoding failed.
    #[error("plot {name}: {message}")]
    Draw {
        /// The plot's name.
        name: String,
        /// The backend's message.
        message: String,
    },
}

/// A figure drawable on any backend.
pub(crate) trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto the whole of `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

pub(crate) fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(PlotError::Font) }
}

/// Draws `figure` as SVG and PNG.
pub(crate) fn render(name: String, title: String, figure: &impl Figure) -> Result<Plot, PlotError> {
    ensure_font()?;
    let fail = |message: String| PlotError::Draw { name: name.clone(), message };
    let (w, h) = figure.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        figure.draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        figure.draw(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let png = encode_png(&rgb, w, h).map_err(|e| fail(e.to_string()))?;
    Ok(Plot { name, title, png, svg })
}

pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

/// Colours of the methods lssg ships, so every plot and every group agrees on them.
const FIXED_COLORS: [(&str, RGBColor); 13] = [
    ("pretrained", RGBColor(140, 140, 140)),
    ("uniform", RGBColor(31, 119, 180)),
    ("lora", RGBColor(255, 127, 14)),
    ("guided", RGBColor(44, 160, 44)),
    ("guided-adaptive", RGBColor(0, 100, 55)),
    ("guided-task", RGBColor(188, 189, 34)),
    ("full-only", RGBColor(127, 127, 127)),
    ("fixed", RGBColor(23, 190, 207)),
    ("dro", RGBColor(214, 39, 40)),
    ("distill", RGBColor(148, 103, 189)),
    ("guided-distill", RGBColor(227, 119, 194)),
    ("curriculum", RGBColor(140, 86, 75)),
    ("prior", RGBColor(31, 31, 112)),
];

/// Colours for any other method, none close to a fixed one.
const OTHER_COLORS: [RGBColor; 8] = [
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(158, 218, 229),
    RGBColor(219, 219, 141),
];

/// The colour of `method` in `group`'s figures: fixed for the methods lssg ships; any other
/// name gets the next colour of a second palette in the group's method order, so every
/// method of a figure is told apart whatever its name.
pub(crate) fn method_color(group: &GroupReport, method: &str) -> RGBColor {
    color_among(group.methods.iter().map(|m| m.method.as_str()), method)
}

/// The colour of `method` among `methods` (table order).
fn color_among<'a>(methods: impl Iterator<Item = &'a str>, method: &str) -> RGBColor {
    if let Some((_, c)) = FIXED_COLORS.iter().find(|(m, _)| *m == method) {
        return *c;
    }
    let fixed = |m: &str| FIXED_COLORS.iter().any(|(f, _)| *f == m);
    let others: Vec<&str> = methods.filter(|m| !fixed(m)).collect();
    let rank = others.iter().position(|m| *m == method).unwrap_or(others.len());
    if rank < OTHER_COLORS.len() {
        return OTHER_COLORS[rank];
    }
    let c = Palette99::pick(rank).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// (a) Per-scenario bars by method with ±std whiskers, for `metric`.
struct MethodBars<'a> {
    group: &'a GroupReport,
    metric: MetricId,
}

impl Figure for MethodBars<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.group.scenarios.len() as u32 + 1;
        let methods = self.group.methods.len().max(1) as u32;
        (960, 130 + rows * (methods * 13 + 18))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (legend, main) = root.split_vertically(40);
        let labels: Vec<String> =
            self.group.scenarios.iter().cloned().chain(std::iter::once("mean over scenarios".to_string())).collect();
        let series: Vec<BarSeries> = self
            .group
            .methods
            .iter()
            .map(|m| BarSeries {
                name: m.method.clone(),
                color: method_color(self.group, &m.method),
                values: m
                    .metrics
                    .iter()
                    .find(|t| t.metric == self.metric)
                    .map(|t| {
                        t.rows.iter().map(|r| Bar::std(r.mean.unwrap_or(f64::NAN), r.std.unwrap_or(0.0))).collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let entries: Vec<(String, RGBColor)> = series.iter().map(|s| (s.name.clone(), s.color)).collect();
        draw_legend(&legend, &entries)?;
        let caption = format!("{}: {} (mean ± std over seeds)", self.group.key.label(), self.metric);
        hbar_panel(&main, &caption, &format!("{} (%)", self.metric), &labels, &series, label_width(&labels))
    }
}

/// (b) A forest plot of one pair: mean difference per scenario with its seed-bootstrap CI.
struct PairForest<'a> {
    group: &'a GroupReport,
    pair: usize,
    metric: MetricId,
    confidence: f64,
}

impl Figure for PairForest<'_> {
    fn size(&self) -> (u32, u32) {
        (960, 110 + (self.group.scenarios.len() as u32 + 1) * 34)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let pair = &self.group.pairs[self.pair];
        let Some(table) = pair.metrics.iter().find(|t| t.metric == self.metric) else { return Ok(()) };
        let rows: Vec<&crate::pairs::PairRow> =
            table.rows.iter().filter(|r| !self.group.is_protocol_row(&r.scenario)).collect();
        let labels: Vec<String> = rows.iter().map(|r| crate::tables::row_label(&r.scenario)).collect();
        let n = labels.len();
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for r in &rows {
            for v in r.seed_ci.iter().flat_map(|c| [c.lo, c.hi]).chain(r.mean_diff) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        let pad = ((hi - lo) * 0.08).max(0.1);
        let caption = format!(
            "{}: {} − {}, {} ({:.0}% CI over seeds)",
            self.group.key.label(),
            pair.a,
            pair.b,
            self.metric,
            self.confidence * 100.0
        );
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FAMILY, 17))
            .margin(10)
            .margin_right(24)
            .x_label_area_size(42)
            .y_label_area_size(label_width(&labels))
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.5..n as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 14))
            .x_desc(format!("difference in {} (percentage points)", self.metric))
            .draw()?;
        draw_row_labels(root, &chart, lo - pad, &labels)?;
        let zero = RGBColor(200, 0, 0);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
            zero.stroke_width(1),
        )))?;
        let color = method_color(self.group, &pair.a);
        for (i, r) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            if let Some(ci) = r.seed_ci {
                whisker(&mut chart, ci.lo, ci.hi, y, 0.18, &BLACK)?;
            }
            if let Some(m) = r.mean_diff {
                chart.draw_series(std::iter::once(Circle::new((m, y), 6, color.filled())))?;
            }
        }
        Ok(())
    }
}

/// (a) for every reported metric of the group; the primary metric's plot first.
pub fn method_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    if group.methods.is_empty() || group.scenarios.is_empty() {
        return Ok(Vec::new());
    }
    group
        .metrics
        .iter()
        .take(1)
        .map(|&metric| {
            let name = format!("{}_bars_{metric}", group.key.slug());
            let title = format!("{}: {metric} per scenario and method", group.key.label());
            render(name, title, &MethodBars { group, metric })
        })
        .collect()
}

/// (b) one forest plot per pair, for the primary metric, whiskers the `confidence` intervals.
pub fn pair_plots(group: &GroupReport, confidence: f64) -> Result<Vec<Plot>, PlotError> {
    let metric = group.metrics.first().copied().unwrap_or(MetricId::Miou);
    (0..group.pairs.len())
        .map(|pair| {
            let p = &group.pairs[pair];
            let name = crate::aggregate::slug(&format!("{}_diff_{}-{}_{metric}", group.key.slug(), p.a, p.b));
            let title = format!("{}: {} − {} in {metric}", group.key.label(), p.a, p.b);
            render(name, title, &PairForest { group, pair, metric, confidence })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_of_a_figure_gets_its_own_colour_whatever_its_name() {
        let methods = ["pretrained", "uniform", "guided", "dro", "curriculum", "zeta", "alpha", "my-method"];
        let colors: Vec<RGBColor> = methods.iter().map(|m| color_among(methods.iter().copied(), m)).collect();
        for (i, a) in colors.iter().enumerate() {
            for (j, b) in colors.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "{} and {} share a colour", methods[i], methods[j]);
            }
        }
        // the shipped methods keep their colour in every group
        assert_eq!(color_among(["dro"].into_iter(), "dro"), colors[3]);
        assert_eq!(colors[5], OTHER_COLORS[0], "the first unknown name takes the first free colour");
    }
}
