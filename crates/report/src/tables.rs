//! The report's tables as lssg-core [`Table`]s of text, rendered to Markdown by lssg-core and
//! to HTML by `html.rs`, so both files always show the same numbers (docs/report.md §6).

use lssg_core::{MetricId, Table, UNDEFINED, format_number};

use crate::aggregate::{GroupReport, MEAN_ROW, WORST_ROW};
use crate::pairs::{PairReport, PairRow};
use crate::stats::Interval;

/// `12.34`, or `–` for no value.
fn num(v: Option<f64>) -> String {
    format_number(v, 2)
}

/// A p-value with three significant digits, small ones in exponent notation.
pub fn pval(p: f64) -> String {
    if !p.is_finite() {
        "–".into()
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        let decimals = (2 - p.log10().floor() as i32).max(0) as usize;
        format!("{p:.decimals$}")
    }
}

/// `[lo, hi]`, or `–`.
pub fn interval(ci: Option<Interval>) -> String {
    ci.map_or(UNDEFINED.into(), |c| format!("[{:.2}, {:.2}]", c.lo, c.hi))
}

/// A row label: the scenario, or "mean over scenarios".
pub fn row_label(scenario: &str) -> String {
    match scenario {
        MEAN_ROW => "mean over scenarios".into(),
        WORST_ROW => "worst scenario".into(),
        _ => scenario.into(),
    }
}

/// Per metric, a scenario × method table of "mean ± std (n)".
pub fn method_tables(group: &GroupReport) -> Vec<Table> {
    group
        .metrics
        .iter()
        .map(|metric| {
            let mut header = vec!["scenario".to_string()];
            header.extend(group.methods.iter().map(|m| m.method.clone()));
            let rows = rows_with_mean(group)
                .map(|scenario| {
                    let mut row = vec![row_label(scenario)];
                    for m in &group.methods {
                        let cell = m
                            .metrics
                            .iter()
                            .find(|t| t.metric == *metric)
                            .and_then(|t| t.rows.iter().find(|r| r.scenario == scenario))
                            .map_or(UNDEFINED.into(), |r| format!("{} ± {} ({})", num(r.mean), num(r.std), r.n));
                        row.push(cell);
                    }
                    row
                })
                .collect();
            Table { rows, ..Table::new(header).with_caption(format!("{metric} (%), mean ± std over seeds (n seeds)")) }
        })
        .collect()
}

fn rows_with_mean(group: &GroupReport) -> impl Iterator<Item = &str> {
    group.scenarios.iter().map(String::as_str).chain([MEAN_ROW, WORST_ROW])
}

/// The header of a pair table whose rows are `first` (scenarios, or protocol settings).
pub(crate) fn pair_header(first: &str) -> [&str; 7] {
    [
        first,
        "mean diff [seed-bootstrap CI]",
        "p Wilcoxon",
        "p sign",
        "P(improve)",
        "W/T/L",
        "tile-bootstrap CI per seed",
    ]
}

/// Per pair and metric, a scenario table of the paired statistics.
pub fn pair_tables(group: &GroupReport, confidence: f64) -> Vec<(usize, Table)> {
    let mut out = Vec::new();
    for (i, pair) in group.pairs.iter().enumerate() {
        for table in &pair.metrics {
            let rows = table.rows.iter().filter(|r| !group.is_protocol_row(&r.scenario)).map(pair_cells).collect();
            let caption = pair_caption(pair, table.metric, confidence);
            out.push((i, Table { rows, ..Table::new(pair_header("scenario")).with_caption(caption) }));
        }
    }
    out
}

fn pair_caption(pair: &PairReport, metric: MetricId, confidence: f64) -> String {
    let mut c = format!(
        "{} − {}, {metric} (percentage points), {} paired seeds, {:.0}% intervals",
        pair.a,
        pair.b,
        pair.seeds.len(),
        confidence * 100.0
    );
    if !pair.unpaired.is_empty() {
        c.push_str(&format!("; {} seed(s) without a partner left out", pair.unpaired.len()));
    }
    c
}

fn pair_cells(r: &PairRow) -> Vec<String> {
    let tiles: Vec<String> = r.tile_ci.iter().map(|t| format!("{}: {}", t.seed, interval(t.interval))).collect();
    vec![
        row_label(&r.scenario),
        format!("{} {}", num(r.mean_diff), interval(r.seed_ci)),
        pval(r.wilcoxon_p),
        pval(r.sign_p),
        num(r.p_improve),
        format!("{}/{}/{}", r.wins, r.ties, r.losses),
        if tiles.is_empty() { UNDEFINED.into() } else { tiles.join("; ") },
    ]
}

/// The table in Markdown, followed by a blank line.
pub fn to_markdown(t: &Table) -> String {
    format!("{}\n", t.markdown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_keep_three_significant_digits() {
        assert_eq!(pval(0.0625), "0.0625");
        assert_eq!(pval(0.375), "0.375");
        assert_eq!(pval(1.0), "1.00");
        assert_eq!(pval(0.0004), "4.0e-4");
    }
}
