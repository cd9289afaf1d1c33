//! Writing a [`Report`] into an output directory (docs/report.md §6): `report.md`,
//! `report.csv`, `report.json`, `report.html` and `plots/*.{png,svg}`, each file written
//! atomically (temporary sibling, fsync, rename) so a reader never sees half a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::aggregate::Report;
pub use crate::csv::render_csv;
use crate::html::{GroupPlots, render_html};
use crate::plot_curves::curve_plots;
use crate::plot_diagnostic::diagnostic_plots;
use crate::plot_maps::map_plots;
use crate::plot_profile::profile_plots;
use crate::plot_scores::{distribution_plot, interval_plot};
use crate::plot_trajectory::{trajectory_plots, weight_plots};
use crate::plots::{Plot, PlotError, method_plots, pair_plots};
use crate::protocol_tables::{baseline_table, protocol_method_tables, protocol_pair_tables, summary_table};
use crate::score_tables::{diagnostic_table, distribution_table, interval_tables};
use crate::tables::{method_tables, pair_tables, to_markdown};

/// Why the report could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// A file could not be written.
    #[error("writing the report: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: lssg_scenario::Error,
    },
    /// The report could not be serialised.
    #[error("serialising report.json: {0}")]
    Json(#[from] serde_json::Error),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn put(path: PathBuf, bytes: &[u8], written: &mut Vec<PathBuf>) -> Result<(), WriteError> {
    lssg_scenario::io::write_atomic(&path, bytes).map_err(|source| WriteError::Io { path: path.clone(), source })?;
    written.push(path);
    Ok(())
}

/// Draws the figures of every group (none when `config.plots` is off).
pub fn draw_plots(report: &Report) -> Result<Vec<GroupPlots>, WriteError> {
    if !report.config.plots {
        return Ok(Vec::new());
    }
    report
        .groups
        .iter()
        .map(|g| {
            Ok(GroupPlots {
                methods: method_plots(g)?,
                pairs: pair_plots(g, report.config.confidence)?,
                profile: profile_plots(g)?,
                maps: map_plots(g)?,
                distribution: distribution_plot(g)?,
                intervals: interval_plot(g)?,
                diagnostic: diagnostic_plots(g)?,
                curves: curve_plots(g)?,
                trajectories: trajectory_plots(g)?,
                weights: weight_plots(g)?,
            })
        })
        .collect()
}

/// Writes every file of `report` into `out_dir` (created if needed); returns their paths.
pub fn write_report(report: &Report, out_dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let plots = draw_plots(report)?;
    let mut written = Vec::new();
    for p in plots.iter().flat_map(all_plots) {
        put(out_dir.join("plots").join(format!("{}.png", p.name)), &p.png, &mut written)?;
        put(out_dir.join("plots").join(format!("{}.svg", p.name)), p.svg.as_bytes(), &mut written)?;
    }
    put(out_dir.join("report.json"), &serde_json::to_vec_pretty(report)?, &mut written)?;
    put(out_dir.join("report.csv"), render_csv(report).as_bytes(), &mut written)?;
    put(out_dir.join("report.md"), render_markdown(report, &plots).as_bytes(), &mut written)?;
    put(out_dir.join("report.html"), render_html(report, &plots).as_bytes(), &mut written)?;
    Ok(written)
}

fn all_plots(g: &GroupPlots) -> impl Iterator<Item = &Plot> {
    g.methods
        .iter()
        .chain(&g.profile)
        .chain(&g.maps)
        .chain(&g.pairs)
        .chain(&g.distribution)
        .chain(&g.intervals)
        .chain(&g.diagnostic)
        .chain(&g.curves)
        .chain(&g.trajectories)
        .chain(&g.weights)
}

/// `report.md`: per group the method and pair tables, links to the PNGs, then the problems.
pub fn render_markdown(report: &Report, plots: &[GroupPlots]) -> String {
    let mut s = String::from("# lssg report\n\n");
    let c = &report.config;
    let _ = writeln!(
        s,
        "{} cells included, {} files left out. Bootstrap: {} resamples, seed {}, {:.0}% percentile intervals \
         (docs/report.md). Values in percent, differences in percentage points.\n",
        report.cells.len(),
        report.problems.len(),
        c.bootstrap_resamples,
        c.bootstrap_seed,
        c.confidence * 100.0
    );
    if let Some(t) = summary_table(report) {
        s.push_str("## Summary\n\n");
        s.push_str(&to_markdown(&t));
    }
    for (g, group) in report.groups.iter().enumerate() {
        let _ = writeln!(s, "## {}\n", group.key.label());
        for t in method_tables(group) {
            s.push_str(&to_markdown(&t));
        }
        let protocols = protocol_method_tables(group).into_iter().chain(baseline_table(group, c.confidence));
        for t in protocols {
            s.push_str(&to_markdown(&t));
        }
        for (_, t) in pair_tables(group, c.confidence).into_iter().chain(protocol_pair_tables(group, c.confidence)) {
            s.push_str(&to_markdown(&t));
        }
        let scores = distribution_table(group).into_iter().chain(interval_tables(group)).chain(diagnostic_table(group));
        for t in scores {
            s.push_str(&to_markdown(&t));
        }
        for p in plots.get(g).into_iter().flat_map(all_plots) {
            let _ = writeln!(s, "![{}](plots/{}.png)\n", p.title, p.name);
        }
        for n in &group.notes {
            let _ = writeln!(s, "- note: {n}");
        }
        s.push('\n');
    }
    s.push_str("## Files left out\n\n");
    if report.problems.is_empty() {
        s.push_str("None.\n");
    }
    for p in &report.problems {
        let _ = writeln!(s, "- `{}`: {}", p.path.display(), p.message);
    }
    s
}
