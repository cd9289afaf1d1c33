//! The tables of the robustness protocols and of the opening summary (docs/report.md §10), as
//! lssg-core [`Table`]s rendered to Markdown and HTML like every other table.

use lssg_core::{MetricId, Table, UNDEFINED, format_number};

use crate::aggregate::{GroupReport, Report};
use crate::pairs::PairRow;
use crate::protocols::ProtocolRow;
use crate::stats::Interval;
use crate::summary::BASELINE;
use crate::tables::{interval, pval, row_label};

/// `+0.81`, `-0.52`, or `–`.
fn signed(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or(UNDEFINED.into(), |v| format!("{v:+.2}"))
}

/// `+0.81 [+0.07, +1.56]`: a difference and its interval, signs shown.
pub fn signed_diff(mean: Option<f64>, ci: Option<Interval>) -> String {
    let ci = ci.map_or(String::new(), |c| format!(" [{:+.2}, {:+.2}]", c.lo, c.hi));
    format!("{}{ci}", signed(mean))
}

/// The label of any row: a scenario, the mean or worst row, or a protocol row (its label on
/// `metric`).
pub fn any_row_label(group: &GroupReport, row: &str, metric: MetricId) -> String {
    group.protocols.iter().find(|p| p.key == row).map_or_else(|| row_label(row), |p| p.label(metric))
}

/// `0.1 %` for an all-missing probability of 0.001.
fn all_missing(p: &ProtocolRow) -> String {
    p.all_missing.map_or(UNDEFINED.into(), format_percent)
}

fn format_percent(v: f64) -> String {
    let pct = v * 100.0;
    if pct != 0.0 && pct.abs() < 0.01 { format!("{pct:.1e} %") } else { format!("{} %", trim(pct)) }
}

/// Up to four decimals, trailing zeros removed.
fn trim(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The opening summary of every group: per protocol the best strategy (mean, percent) and the
/// best strategy other than uniform against uniform, with its seed-bootstrap interval.
pub fn summary_table(report: &Report) -> Option<Table> {
    let groups: Vec<&GroupReport> = report.groups.iter().filter(|g| !g.summary.is_empty()).collect();
    if groups.is_empty() {
        return None;
    }
    let several = groups.len() > 1;
    let mut header = vec!["protocol".to_string(), "best strategy (mean)".into(), format!("best other − {BASELINE}")];
    header.push("W/T/L".into());
    if several {
        header.insert(0, "group".into());
    }
    let mut rows = Vec::new();
    for g in groups {
        for line in &g.summary {
            let best =
                line.best.as_ref().map_or(UNDEFINED.into(), |b| format!("{b} ({})", format_number(line.best_mean, 2)));
            let (versus, wtl) = match (&line.challenger, &line.versus_baseline) {
                (Some(c), Some(r)) => (
                    format!("{c}: {}", signed_diff(r.mean_diff, r.seed_ci)),
                    format!("{}/{}/{}", r.wins, r.ties, r.losses),
                ),
                (Some(c), None) => (format!("{c}: no {BASELINE} cells"), UNDEFINED.into()),
                _ => (UNDEFINED.into(), UNDEFINED.into()),
            };
            let mut row = vec![line.protocol.clone(), best, versus, wtl];
            if several {
                row.insert(0, g.key.label());
            }
            rows.push(row);
        }
    }
    let caption = format!(
        "Summary: per protocol, the strategy with the highest mean of the primary metric (percent) and the best \
         strategy other than {BASELINE} minus {BASELINE} (percentage points, paired on seeds, {:.0}% seed-bootstrap \
         interval, wins/ties/losses over seeds)",
        report.config.confidence * 100.0
    );
    Some(Table { rows, ..Table::new(header).with_caption(caption) })
}

/// Per metric, a protocol row × method table of "mean ± std (n)", the all-missing probability
/// beside the expected rows.
pub fn protocol_method_tables(group: &GroupReport) -> Vec<Table> {
    if group.protocols.is_empty() {
        return Vec::new();
    }
    group
        .metrics
        .iter()
        .map(|&metric| {
            let mut header = vec!["protocol".to_string(), "P(all missing)".into()];
            header.extend(group.methods.iter().map(|m| m.method.clone()));
            let rows = group
                .protocols
                .iter()
                .map(|p| {
                    let mut row = vec![p.label(metric), all_missing(p)];
                    for m in &group.methods {
                        let cell = m
                            .metrics
                            .iter()
                            .find(|t| t.metric == metric)
                            .and_then(|t| t.rows.iter().find(|r| r.scenario == p.key))
                            .map_or(UNDEFINED.into(), |r| {
                                format!("{} ± {} ({})", format_number(r.mean, 2), format_number(r.std, 2), r.n)
                            });
                        row.push(cell);
                    }
                    row
                })
                .collect();
            let caption = format!("robustness protocols, {metric} (%), mean ± std over seeds (n seeds)");
            Table { rows, ..Table::new(header).with_caption(caption) }
        })
        .collect()
}

/// Every strategy against uniform on the primary metric: rows = scenarios, mean, worst and
/// protocol rows; a column per strategy with "difference [seed CI]".
pub fn baseline_table(group: &GroupReport, confidence: f64) -> Option<Table> {
    let first = group.versus_baseline.first()?;
    let metric = group.primary_metric;
    let mut header = vec!["row".to_string()];
    header.extend(group.versus_baseline.iter().map(|c| format!("{} − {BASELINE}", c.method)));
    let rows = first
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![any_row_label(group, &r.scenario, metric)];
            for c in &group.versus_baseline {
                row.push(c.rows.get(i).map_or(UNDEFINED.into(), |r| signed_diff(r.mean_diff, r.seed_ci)));
            }
            row
        })
        .collect();
    let caption = format!(
        "every strategy − {BASELINE}, {metric} (percentage points), paired on seeds, {:.0}% seed-bootstrap intervals",
        confidence * 100.0
    );
    Some(Table { rows, ..Table::new(header).with_caption(caption) })
}

/// Per pair, the protocol rows on the primary metric, with the pair tables' statistics.
pub fn protocol_pair_tables(group: &GroupReport, confidence: f64) -> Vec<(usize, Table)> {
    let metric = group.primary_metric;
    let mut out = Vec::new();
    if group.protocols.is_empty() {
        return out;
    }
    for (i, pair) in group.pairs.iter().enumerate() {
        let Some(table) = pair.metrics.iter().find(|t| t.metric == metric) else { continue };
        let rows: Vec<Vec<String>> = group
            .protocols
            .iter()
            .filter_map(|p| table.rows.iter().find(|r| r.scenario == p.key).map(|r| cells(p.label(metric), r)))
            .collect();
        let caption = format!(
            "{} − {}, robustness protocols, {metric} (percentage points), {} paired seeds, {:.0}% intervals",
            pair.a,
            pair.b,
            pair.seeds.len(),
            confidence * 100.0
        );
        // Tile intervals exist for the expected rows only: the other protocols record no
        // per-tile data.
        out.push((i, Table { rows, ..Table::new(crate::tables::pair_header("protocol")).with_caption(caption) }));
    }
    out
}

fn cells(label: String, r: &PairRow) -> Vec<String> {
    let tiles: Vec<String> = r.tile_ci.iter().map(|t| format!("{}: {}", t.seed, interval(t.interval))).collect();
    vec![
        label,
        format!("{} {}", format_number(r.mean_diff, 2), interval(r.seed_ci)),
        pval(r.wilcoxon_p),
        pval(r.sign_p),
        format_number(r.p_improve, 2),
        format!("{}/{}/{}", r.wins, r.ties, r.losses),
        if tiles.is_empty() { UNDEFINED.into() } else { tiles.join("; ") },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_show_their_sign() {
        assert_eq!(signed_diff(Some(0.814), Some(Interval { lo: -0.07, hi: 1.556 })), "+0.81 [-0.07, +1.56]");
        assert_eq!(signed_diff(None, None), "–");
    }

    #[test]
    fn all_missing_probabilities_in_percent() {
        assert_eq!(format_percent(0.001), "0.1 %");
        assert_eq!(format_percent(0.008), "0.8 %");
        assert_eq!(format_percent(0.000125), "0.0125 %");
        assert_eq!(format_percent(0.0), "0 %");
        assert_eq!(format_percent(1e-7), "1.0e-5 %");
    }
}
