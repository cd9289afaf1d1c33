//! Building blocks shared by the figures (docs/report.md §5): colours, legends, and panels with
//! scenarios down the vertical axis — horizontal bars with whiskers, and dots with whiskers.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font family every text style names (registered by `plots::render`).
pub(crate) const FAMILY: &str = "sans-serif";

pub(crate) type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The colour of the `i`-th seed's line (tab10), also used for other categorical series.
pub(crate) fn seed_color(i: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = TAB10[i % TAB10.len()];
    RGBColor(r, g, b)
}

/// One bar: its value (NaN = no bar) and, optionally, a whisker from `.0` to `.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bar {
    pub(crate) value: f64,
    pub(crate) whisker: Option<(f64, f64)>,
}

impl Bar {
    /// A bar with whiskers ± `std` (none when `std` is 0 or not finite).
    pub(crate) fn std(value: f64, std: f64) -> Self {
        let whisker = (std.is_finite() && std > 0.0).then_some((value - std, value + std));
        Self { value, whisker }
    }

    /// A bar with whiskers over `[lo, hi]`.
    pub(crate) fn interval(value: f64, lo: f64, hi: f64) -> Self {
        Self { value, whisker: (lo.is_finite() && hi.is_finite()).then_some((lo, hi)) }
    }
}

/// One bar series of a horizontal bar panel, a bar per row.
pub(crate) struct BarSeries {
    pub(crate) name: String,
    pub(crate) color: RGBColor,
    pub(crate) values: Vec<Bar>,
}

/// Width of the scenario label column, from the longest label.
pub(crate) fn label_width(labels: &[String]) -> u32 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    (longest * 8 + 20).clamp(60, 260)
}

/// The value range of a panel: includes 0 and every finite value and whisker end, with a
/// little room.
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    (if lo < 0.0 { lo - pad } else { lo }, hi + pad)
}

/// The width a legend strip's entry takes.
fn entry_width(name: &str) -> i32 {
    20 + 9 * name.chars().count() as i32 + 28
}

/// Draws a legend strip: a swatch and a name per entry, left to right, starting a new line of
/// entries where the area's width runs out (24 px per line).
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
) -> DrawResult<DB> {
    let style = (FAMILY, 15).into_font().color(&BLACK);
    let width = area.dim_in_pixel().0 as i32;
    let (mut x, mut y) = (20i32, 12i32);
    for (name, color) in entries {
        if x > 20 && x + entry_width(name) > width {
            (x, y) = (20, y + 24);
        }
        area.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], color.filled()))?;
        area.draw(&Text::new(name.clone(), (x + 20, y - 1), style.clone()))?;
        x += entry_width(name);
    }
    Ok(())
}

/// The height [`draw_legend`] needs for `entries` in `width` pixels.
pub(crate) fn legend_height(entries: &[(String, RGBColor)], width: u32) -> u32 {
    let (mut x, mut lines) = (20i32, 1u32);
    for (name, _) in entries {
        if x > 20 && x + entry_width(name) > width as i32 {
            (x, lines) = (20, lines + 1);
        }
        x += entry_width(name);
    }
    16 + 24 * lines
}

pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart with scenarios as rows top to bottom, values on the x axis.
fn row_chart<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    rows: usize,
    range: (f64, f64),
    label_area: u32,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 17))
        .margin(8)
        .margin_right(20)
        .x_label_area_size(42)
        .y_label_area_size(label_area)
        .build_cartesian_2d(range.0..range.1, -0.5..rows as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(6)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 14))
        .x_desc(x_desc)
        .draw()?;
    Ok(chart)
}

/// A panel of horizontal bars with whiskers, rows top to bottom in `labels` order, each row
/// holding one bar per series.
pub(crate) fn hbar_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    labels: &[String],
    series: &[BarSeries],
    label_area: u32,
) -> DrawResult<DB> {
    let n = labels.len();
    let ends = series.iter().flat_map(|s| &s.values).flat_map(|b| {
        let (lo, hi) = b.whisker.unwrap_or((f64::NAN, f64::NAN));
        [b.value, lo, hi]
    });
    let range = value_range(ends);
    let mut chart = row_chart(area, caption, x_desc, n, range, label_area)?;
    draw_row_labels(area, &chart, range.0, labels)?;
    let m = series.len().max(1) as f64;
    let band = 0.8 / m;
    for (k, s) in series.iter().enumerate() {
        for (i, b) in s.values.iter().enumerate().take(n).filter(|(_, b)| b.value.is_finite()) {
            let centre = (n - 1 - i) as f64 + 0.4 - band * (k as f64 + 0.5);
            let (y0, y1) = (centre - band * 0.42, centre + band * 0.42);
            chart
                .draw_series(std::iter::once(Rectangle::new([(0.0, y0), (b.value, y1)], s.color.mix(0.85).filled())))?;
            if let Some((lo, hi)) = b.whisker {
                whisker(&mut chart, lo, hi, centre, band * 0.25, &BLACK)?;
            }
        }
    }
    Ok(())
}

/// One series of an interval panel: per row, `(value, lo, hi)` or nothing.
pub(crate) struct DotSeries {
    pub(crate) color: RGBColor,
    pub(crate) values: Vec<Option<(f64, f64, f64)>>,
}

/// A panel of dots with whiskers, rows top to bottom in `labels` order, the series of a row
/// side by side within it (a forest plot with one line per series).
pub(crate) fn dot_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    labels: &[String],
    series: &[DotSeries],
    label_area: u32,
) -> DrawResult<DB> {
    let n = labels.len();
    let range = value_range(series.iter().flat_map(|s| &s.values).flatten().flat_map(|(v, lo, hi)| [*v, *lo, *hi]));
    let mut chart = row_chart(area, caption, x_desc, n, range, label_area)?;
    draw_row_labels(area, &chart, range.0, labels)?;
    let band = 0.8 / series.len().max(1) as f64;
    for (k, s) in series.iter().enumerate() {
        for (i, (v, lo, hi)) in s.values.iter().enumerate().take(n).filter_map(|(i, v)| v.map(|v| (i, v))) {
            let y = (n - 1 - i) as f64 + 0.4 - band * (k as f64 + 0.5);
            whisker(&mut chart, lo, hi, y, (band * 0.3).min(0.12), &s.color)?;
            chart.draw_series(std::iter::once(Circle::new((v, y), 4, s.color.filled())))?;
        }
    }
    Ok(())
}

/// Writes the row labels right-aligned left of the y axis, centred on their rows (plotters'
/// own tick labels fall on "nice" numbers, not on the rows).
pub(crate) fn draw_row_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    x: f64,
    labels: &[String],
) -> DrawResult<DB> {
    let base = area.get_base_pixel();
    let style = (FAMILY, 14).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    let n = labels.len();
    for (i, label) in labels.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(x, (n - 1 - i) as f64));
        area.draw(&Text::new(label.clone(), (px - base.0 - 8, py - base.1), style.clone()))?;
    }
    Ok(())
}

/// A horizontal whisker from `lo` to `hi` at `y` with end caps of half-height `cap`.
pub(crate) fn whisker<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    lo: f64,
    hi: f64,
    y: f64,
    cap: f64,
    color: &RGBColor,
) -> DrawResult<DB> {
    let style = color.stroke_width(2);
    chart.draw_series(std::iter::once(PathElement::new(vec![(lo, y), (hi, y)], style)))?;
    for x in [lo, hi] {
        chart.draw_series(std::iter::once(PathElement::new(vec![(x, y - cap), (x, y + cap)], style)))?;
    }
    Ok(())
}
