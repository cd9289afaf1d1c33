//! The figures of the scenario scores (docs/report.md §5, §7): the distribution figure (bars =
//! mean over the pretraining seeds of the guided and task-aware probabilities, the latent
//! distortion and the task-loss increase; whiskers = ± std over seeds, or the bootstrap
//! interval when there is one seed) and, with several seeds, the bootstrap interval of every
//! seed as dots with whiskers.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::aggregate::GroupReport;
use crate::distribution::DistributionReport;
use crate::plot_panels::{
    Bar, BarSeries, DotSeries, DrawResult, FAMILY, dot_panel, draw_legend, hbar_panel, label_width, legend_height,
    seed_color,
};
use crate::plots::{Figure, Plot, PlotError, render};
use crate::record::Band;

/// The colours of the four scores.
const GUIDED: RGBColor = RGBColor(44, 160, 44);
const TASK_PROBABILITY: RGBColor = RGBColor(188, 189, 34);
const DISTORTION: RGBColor = RGBColor(148, 103, 189);
const TASK_INCREASE: RGBColor = RGBColor(140, 86, 75);

/// Width of one panel.
const PANEL: u32 = 450;

/// The title line and legend above a figure's panels; returns the area below them.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    entries: &[(String, RGBColor)],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, _) = root.dim_in_pixel();
    let (top, rest) = root.split_vertically(34);
    top.draw(&Text::new(title.to_string(), (20, 10), (FAMILY, 18).into_font().color(&BLACK)))?;
    let (legend, main) = rest.split_vertically(legend_height(entries, w));
    draw_legend(&legend, entries)?;
    Ok(main)
}

/// Bars of `means` with whiskers: the seed's interval when one seed has `ci`, else ± `stds`.
fn bars(means: &[f64], stds: &[f64], one_seed_ci: Option<&Band>) -> Vec<Bar> {
    means
        .iter()
        .enumerate()
        .map(|(j, &m)| match one_seed_ci {
            Some(b) => {
                Bar::interval(m, b.lo.get(j).copied().unwrap_or(f64::NAN), b.hi.get(j).copied().unwrap_or(f64::NAN))
            }
            None => Bar::std(m, stds.get(j).copied().unwrap_or(0.0)),
        })
        .collect()
}

/// (c) The scores per scenario, a panel per kind of score.
struct DistributionFigure<'a> {
    group: &'a GroupReport,
    d: &'a DistributionReport,
}

impl<'a> DistributionFigure<'a> {
    fn panels(&self) -> u32 {
        if self.d.task_increase_mean.is_some() { 3 } else { 2 }
    }

    /// The interval of the only seed, when there is one seed with intervals.
    fn one_seed(&self, band: &'a [Option<Band>]) -> Option<&'a Band> {
        if self.d.seeds.len() == 1 { band.first().and_then(Option::as_ref) } else { None }
    }

    fn whisker_note(&self) -> String {
        match self.d.seeds.len() {
            1 if self.d.has_intervals() => "whiskers: 95 % bootstrap interval".into(),
            1 => "one seed, no whiskers".into(),
            n => format!("mean over {n} seeds, whiskers ± std over seeds"),
        }
    }

    fn series(&self) -> (Vec<BarSeries>, BarSeries, Option<BarSeries>) {
        let d: &'a DistributionReport = self.d;
        let mut probs = vec![BarSeries {
            name: "guided probability".into(),
            color: GUIDED,
            values: bars(&d.probability_mean, &d.probability_std, self.one_seed(&d.probabilities_ci)),
        }];
        if let (Some(m), Some(s)) = (&d.task_probability_mean, &d.task_probability_std) {
            probs.push(BarSeries {
                name: "task-aware probability".into(),
                color: TASK_PROBABILITY,
                values: bars(m, s, None),
            });
        }
        let dist = BarSeries {
            name: "latent distortion D".into(),
            color: DISTORTION,
            values: bars(&d.distortion_mean, &d.distortion_std, self.one_seed(&d.distortion_ci)),
        };
        let task = match (&d.task_increase_mean, &d.task_increase_std) {
            (Some(m), Some(s)) => {
                Some(BarSeries { name: "task-loss increase".into(), color: TASK_INCREASE, values: bars(m, s, None) })
            }
            _ => None,
        };
        (probs, dist, task)
    }
}

impl Figure for DistributionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let per_row = if self.d.task_probability_mean.is_some() { 40 } else { 30 };
        let panel = if self.panels() == 3 { PANEL - 60 } else { PANEL };
        (panel * self.panels(), 150 + self.d.scenarios.len() as u32 * per_row)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let (probs, dist, task) = self.series();
        let mut entries: Vec<(String, RGBColor)> = probs.iter().map(|s| (s.name.clone(), s.color)).collect();
        entries.push((dist.name.clone(), dist.color));
        entries.extend(task.iter().map(|s| (s.name.clone(), s.color)));
        let title =
            format!("{}: scenario scores of the pretraining cells ({})", self.group.key.label(), self.whisker_note());
        let main = header(root, &title, &entries)?;
        let areas = main.split_evenly((1, self.panels() as usize));
        let labels = &self.d.scenarios;
        let lw = label_width(labels);
        hbar_panel(&areas[0], "sampling probability", "probability", labels, &probs, lw)?;
        hbar_panel(&areas[1], "latent distortion", "D", labels, &[dist], lw)?;
        if let (Some(task), Some(area)) = (task, areas.get(2)) {
            hbar_panel(area, "task-loss increase over the full scenario", "loss increase", labels, &[task], lw)?;
        }
        Ok(())
    }
}

/// The per-seed bootstrap intervals: distortion and probability panels, a colour per seed.
struct IntervalFigure<'a> {
    group: &'a GroupReport,
    d: &'a DistributionReport,
}

/// Per seed with an interval, its dots: (value, lo, hi) per scenario.
fn dot_series(values: &[Vec<f64>], bands: &[Option<Band>]) -> Vec<DotSeries> {
    values
        .iter()
        .zip(bands)
        .enumerate()
        .map(|(i, (v, band))| DotSeries {
            color: seed_color(i),
            values: (0..v.len())
                .map(|j| {
                    let b = band.as_ref()?;
                    Some((v[j], *b.lo.get(j)?, *b.hi.get(j)?))
                })
                .collect(),
        })
        .collect()
}

impl Figure for IntervalFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let per_row = 14 + 11 * self.d.seeds.len() as u32;
        (PANEL * 2 + 100, 150 + self.d.scenarios.len() as u32 * per_row)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.fill(&WHITE)?;
        let d = self.d;
        let entries: Vec<(String, RGBColor)> =
            d.seeds.iter().enumerate().map(|(i, s)| (format!("seed {s}"), seed_color(i))).collect();
        let title = format!("{}: 95 % bootstrap interval of each score, per pretraining seed", self.group.key.label());
        let main = header(root, &title, &entries)?;
        let (w, _) = main.dim_in_pixel();
        let (left, right) = main.split_horizontally(w / 2);
        let lw = label_width(&d.scenarios);
        let dist = dot_series(&d.distortion, &d.distortion_ci);
        dot_panel(&left, "latent distortion", "D", &d.scenarios, &dist, lw)?;
        let probs = dot_series(&d.probabilities, &d.probabilities_ci);
        dot_panel(&right, "guided sampling probability", "probability", &d.scenarios, &probs, lw)
    }
}

/// (c) for a group whose pretraining cells carry a distribution.
pub fn distribution_plot(group: &GroupReport) -> Result<Option<Plot>, PlotError> {
    let Some(d) = group.distribution.as_ref().filter(|d| !d.seeds.is_empty()) else { return Ok(None) };
    let name = format!("{}_distribution", group.key.slug());
    let title = format!("{}: scenario scores and sampling distributions", group.key.label());
    render(name, title, &DistributionFigure { group, d }).map(Some)
}

/// The per-seed interval figure, for a group with several pretraining seeds and intervals.
pub fn interval_plot(group: &GroupReport) -> Result<Option<Plot>, PlotError> {
    let Some(d) = group.distribution.as_ref().filter(|d| d.seeds.len() > 1 && d.has_intervals()) else {
        return Ok(None);
    };
    let name = format!("{}_score_intervals", group.key.slug());
    let title = format!("{}: bootstrap interval of the scores per seed", group.key.label());
    render(name, title, &IntervalFigure { group, d }).map(Some)
}
