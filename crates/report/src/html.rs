//! `report.html`: one self-contained page (docs/report.md §6): the tables and every figure's
//! SVG inlined, embedded CSS, no scripts, no external files or fonts.

use std::fmt::Write as _;

use lssg_core::Table;

use crate::aggregate::{GroupReport, MEAN_ROW, Report, WORST_ROW};
use crate::load::key_label;
use crate::plots::Plot;
use crate::protocol_tables::{baseline_table, protocol_method_tables, protocol_pair_tables, summary_table};
use crate::score_tables::{diagnostic_table, distribution_table, interval_tables};
use crate::tables::{method_tables, pair_tables, row_label};

/// The figures of one group, by section.
#[derive(Debug, Default)]
pub struct GroupPlots {
    /// Bars per scenario and method.
    pub methods: Vec<Plot>,
    /// One per pair.
    pub pairs: Vec<Plot>,
    /// The robustness profile (metric against p, missing rate and SNR).
    pub profile: Vec<Plot>,
    /// The scenario scores.
    pub distribution: Option<Plot>,
    /// The bootstrap intervals of the scores per seed (several seeds with intervals).
    pub intervals: Option<Plot>,
    /// One scatter plot per pair of scores of the scoring diagnostic.
    pub diagnostic: Vec<Plot>,
    /// One per stage.
    pub curves: Vec<Plot>,
    /// One per stage that recorded its sampling distribution per epoch.
    pub trajectories: Vec<Plot>,
    /// One per stage that recorded per-scenario loss weights per epoch (group DRO).
    pub weights: Vec<Plot>,
    /// One per shown test tile: each method's predicted maps beside the labels.
    pub maps: Vec<Plot>,
}

const CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 0 24px 48px; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: 6px; }
h2 { margin-top: 42px; border-bottom: 1px solid #bbb; padding-bottom: 4px; }
h3 { margin-top: 28px; }
table { border-collapse: collapse; margin: 6px 0 20px; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 9px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
td.wide { text-align: left; font-size: 12px; color: #555; max-width: 360px; }
tr.mean td { font-weight: 600; background: #fafafa; }
caption { caption-side: top; text-align: left; font-style: italic; padding-bottom: 4px; }
figure { margin: 10px 0 26px; }
div.row { display: flex; flex-wrap: wrap; gap: 12px; }
div.row figure { flex: 0 1 560px; margin: 10px 0 16px; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; }
.notes li, .problems li { font-size: 14px; }
code { font-size: 13px; }
";

/// Escapes text for HTML content and attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn table_html(t: &Table, out: &mut String) {
    let wide = t.header.last().is_some_and(|h| h.starts_with("tile-bootstrap"));
    let _ = write!(out, "<table><caption>{}</caption><tr>", esc(t.caption.as_deref().unwrap_or_default()));
    for h in &t.header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for row in &t.rows {
        let mean = row.first().is_some_and(|c| *c == row_label(MEAN_ROW) || *c == row_label(WORST_ROW));
        out.push_str(if mean { "<tr class=\"mean\">" } else { "<tr>" });
        for (i, c) in row.iter().enumerate() {
            let class = if wide && i + 1 == row.len() { " class=\"wide\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn figure_html(p: &Plot, out: &mut String) {
    // the XML prolog is not allowed inside HTML
    let svg = p.svg.trim_start();
    let svg = if svg.starts_with("<?xml") { svg.split_once("?>").map_or(svg, |(_, rest)| rest) } else { svg };
    let _ = writeln!(out, "<figure>{}<figcaption>{}</figcaption></figure>", svg.trim(), esc(&p.title));
}

/// One group's section: methods, pairs, scores, diagnostic, curves, trajectories, notes.
fn group_html(group: &GroupReport, gp: &GroupPlots, confidence: f64, out: &mut String) {
    let _ = write!(out, "<h2>{}</h2>\n<h3>Methods</h3>\n", esc(&group.key.label()));
    gp.methods.iter().for_each(|p| figure_html(p, out));
    method_tables(group).iter().for_each(|t| table_html(t, out));
    let protocol_tables = protocol_method_tables(group);
    if !protocol_tables.is_empty() {
        out.push_str("<h3>Robustness protocols</h3>\n");
        gp.profile.iter().for_each(|p| figure_html(p, out));
        protocol_tables.iter().for_each(|t| table_html(t, out));
    }
    if !gp.maps.is_empty() {
        out.push_str("<h3>Predicted maps under each scenario</h3>\n");
        gp.maps.iter().for_each(|p| figure_html(p, out));
    }
    if let Some(t) = baseline_table(group, confidence) {
        let _ = writeln!(out, "<h3>Every strategy − {}</h3>", crate::summary::BASELINE);
        table_html(&t, out);
    }
    let mut pair_tables = pair_tables(group, confidence);
    pair_tables.extend(protocol_pair_tables(group, confidence));
    for (i, pair) in group.pairs.iter().enumerate() {
        let _ = writeln!(out, "<h3>{} − {}</h3>", esc(&pair.a), esc(&pair.b));
        if let Some(p) = gp.pairs.get(i) {
            figure_html(p, out);
        }
        pair_tables.iter().filter(|(j, _)| *j == i).for_each(|(_, t)| table_html(t, out));
    }
    if let Some(t) = distribution_table(group) {
        out.push_str("<h3>Scenario scores and distributions</h3>\n");
        gp.distribution.iter().chain(&gp.intervals).for_each(|p| figure_html(p, out));
        table_html(&t, out);
        interval_tables(group).iter().for_each(|t| table_html(t, out));
    }
    if let Some(t) = diagnostic_table(group) {
        out.push_str("<h3>Scoring diagnostic</h3>\n");
        if !gp.diagnostic.is_empty() {
            out.push_str("<div class=\"row\">");
            gp.diagnostic.iter().for_each(|p| figure_html(p, out));
            out.push_str("</div>\n");
        }
        table_html(&t, out);
    }
    if !gp.curves.is_empty() {
        out.push_str("<h3>Learning curves</h3>\n");
        gp.curves.iter().for_each(|p| figure_html(p, out));
    }
    if !gp.trajectories.is_empty() {
        out.push_str("<h3>Sampling distributions during training</h3>\n");
        gp.trajectories.iter().for_each(|p| figure_html(p, out));
    }
    if !gp.weights.is_empty() {
        out.push_str("<h3>Scenario loss weights during training</h3>\n");
        gp.weights.iter().for_each(|p| figure_html(p, out));
    }
    if !group.notes.is_empty() {
        out.push_str("<h3>Notes</h3>\n<ul class=\"notes\">");
        group.notes.iter().for_each(|n| {
            let _ = write!(out, "<li>{}</li>", esc(n));
        });
        out.push_str("</ul>\n");
    }
}

/// The whole page.
pub fn render_html(report: &Report, plots: &[GroupPlots]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>lssg report</title><style>{CSS}</style></head><body>\n<h1>lssg report</h1>\n"
    );
    let c = &report.config;
    let _ = writeln!(
        out,
        "<p>{} cells included, {} files left out. Bootstrap: {} resamples, seed {}, {:.0}% percentile intervals. \
         Metric values in percent, differences in percentage points.</p>",
        report.cells.len(),
        report.problems.len(),
        c.bootstrap_resamples,
        c.bootstrap_seed,
        c.confidence * 100.0
    );
    if let Some(t) = summary_table(report) {
        out.push_str("<h2>Summary</h2>\n");
        table_html(&t, &mut out);
    }
    let empty = GroupPlots::default();
    for (g, group) in report.groups.iter().enumerate() {
        group_html(group, plots.get(g).unwrap_or(&empty), c.confidence, &mut out);
    }
    out.push_str("<h2>Files left out</h2>\n");
    if report.problems.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str("<ul class=\"problems\">");
        for p in &report.problems {
            let _ = write!(out, "<li><code>{}</code>: {}</li>", esc(&p.path.display().to_string()), esc(&p.message));
        }
        out.push_str("</ul>\n");
    }
    let _ = write!(out, "<h2>Cells included</h2>\n<p>");
    let labels: Vec<String> = report.cells.iter().map(|c| esc(&key_label(&c.key))).collect();
    out.push_str(&labels.join(", "));
    out.push_str("</p>\n</body></html>\n");
    out
}
