//! Writing a [`Report`] into an output directory (docs/report.md §6): `report.md`,
//! `report.csv`, `report.json`, `report.html` and `plots/*.{png,svg}`, each file written
//! atomically (temporary sibling, fsync, rename) so a reader never sees half a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::aggregate::{GroupReport, Report};
use crate::html::{GroupPlots, render_html};
use crate::plot_curves::{curve_plots, distribution_plot};
use crate::plots::{Plot, PlotError, method_plots, pair_plots};
use crate::tables::{distribution_table, method_tables, pair_tables, to_markdown};

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
                distribution: distribution_plot(g)?,
                curves: curve_plots(g)?,
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
    g.methods.iter().chain(&g.pairs).chain(&g.distribution).chain(&g.curves)
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
    for (g, group) in report.groups.iter().enumerate() {
        let _ = writeln!(s, "## {}\n", group.key.label());
        for t in method_tables(group) {
            s.push_str(&to_markdown(&t));
        }
        for (_, t) in pair_tables(group, c.confidence) {
            s.push_str(&to_markdown(&t));
        }
        if let Some(t) = distribution_table(group) {
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

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Collects the long-format rows of one group.
struct CsvRows<'a> {
    group: &'a GroupReport,
    out: &'a mut String,
}

impl CsvRows<'_> {
    fn row(&mut self, kind: &str, name: &str, scenario: &str, metric: &str, statistic: &str, value: f64) {
        let k = &self.group.key;
        let fields = [k.dataset.as_str(), &k.model, &k.variant, kind, name, scenario, metric, statistic];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        let _ = writeln!(self.out, "{},{value}", line.join(","));
    }

    fn methods(&mut self) {
        let group = self.group;
        for m in &group.methods {
            for t in &m.metrics {
                for r in &t.rows {
                    let row =
                        |s: &mut Self, stat: &str, v: f64| s.row("method", &m.method, &r.scenario, &t.metric, stat, v);
                    r.mean.into_iter().for_each(|v| row(self, "mean", v));
                    r.std.into_iter().for_each(|v| row(self, "std", v));
                    row(self, "n", r.n as f64);
                    for (seed, v) in r.seeds.iter().zip(&r.values) {
                        row(self, &format!("seed:{seed}"), *v);
                    }
                }
            }
        }
    }

    fn pairs(&mut self) {
        let group = self.group;
        for p in &group.pairs {
            let name = format!("{}-{}", p.a, p.b);
            for t in &p.metrics {
                for r in &t.rows {
                    let row = |s: &mut Self, stat: &str, v: f64| s.row("pair", &name, &r.scenario, &t.metric, stat, v);
                    r.mean_diff.into_iter().for_each(|v| row(self, "mean_diff", v));
                    if let Some(ci) = r.seed_ci {
                        row(self, "seed_ci_lo", ci.lo);
                        row(self, "seed_ci_hi", ci.hi);
                    }
                    row(self, "wilcoxon_p", r.wilcoxon_p);
                    row(self, "sign_p", r.sign_p);
                    r.p_improve.into_iter().for_each(|v| row(self, "p_improve", v));
                    row(self, "wins", r.wins as f64);
                    row(self, "ties", r.ties as f64);
                    row(self, "losses", r.losses as f64);
                    for (seed, d) in r.seeds.iter().zip(&r.diffs) {
                        row(self, &format!("diff:{seed}"), *d);
                    }
                    for tci in &r.tile_ci {
                        row(self, &format!("tile_observed:{}", tci.seed), tci.observed);
                        if let Some(ci) = tci.interval {
                            row(self, &format!("tile_ci_lo:{}", tci.seed), ci.lo);
                            row(self, &format!("tile_ci_hi:{}", tci.seed), ci.hi);
                        }
                    }
                }
            }
        }
    }

    fn distribution(&mut self) {
        let Some(d) = &self.group.distribution else { return };
        for (j, s) in d.scenarios.iter().enumerate() {
            self.row("distribution", "pretrained", s, "probability", "mean", d.probability_mean[j]);
            self.row("distribution", "pretrained", s, "probability", "std", d.probability_std[j]);
            self.row("distribution", "pretrained", s, "distortion", "mean", d.distortion_mean[j]);
            self.row("distribution", "pretrained", s, "distortion", "std", d.distortion_std[j]);
        }
    }
}

/// `report.csv`: one value per line, `dataset,model,variant,kind,name,scenario,metric,statistic,value`.
pub fn render_csv(report: &Report) -> String {
    let mut out = String::from("dataset,model,variant,kind,name,scenario,metric,statistic,value\n");
    for group in &report.groups {
        let mut rows = CsvRows { group, out: &mut out };
        rows.methods();
        rows.pairs();
        rows.distribution();
    }
    out
}
