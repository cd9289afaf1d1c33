//! The tables of the scenario scores and of the scoring diagnostic (docs/report.md §7, §8), as
//! [`Table`]s rendered by `tables.rs` (Markdown) and `html.rs`.

use lssg_core::{MetricId, Table};

use crate::aggregate::GroupReport;
use crate::diagnostic::CorrelationSummary;
use crate::distribution::DistributionReport;
use crate::record::Band;

/// `mean ± std` with `decimals` decimals, `–` where the mean is not finite.
fn mean_std(m: Option<&f64>, s: Option<&f64>, decimals: usize) -> String {
    match (m, s) {
        (Some(m), Some(s)) if m.is_finite() => {
            if s.is_finite() {
                format!("{m:.decimals$} ± {s:.decimals$}")
            } else {
                format!("{m:.decimals$}")
            }
        }
        _ => "–".into(),
    }
}

/// The scores of the pretraining cells: scenario × (probability, distortion, and the
/// task-aware probability and task-loss increase where present), mean ± std over seeds.
pub fn distribution_table(group: &GroupReport) -> Option<Table> {
    let d = group.distribution.as_ref()?;
    let task_p = d.task_probability_mean.as_ref().zip(d.task_probability_std.as_ref());
    let task_i = d.task_increase_mean.as_ref().zip(d.task_increase_std.as_ref());
    let mut header = vec!["scenario".to_string(), "probability".into(), "distortion".into()];
    task_p.iter().for_each(|_| header.push("task-aware probability".into()));
    task_i.iter().for_each(|_| header.push("task-loss increase".into()));
    let rows = d
        .scenarios
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let mut row = vec![
                s.clone(),
                mean_std(d.probability_mean.get(j), d.probability_std.get(j), 3),
                mean_std(d.distortion_mean.get(j), d.distortion_std.get(j), 4),
            ];
            task_p.iter().for_each(|(m, s)| row.push(mean_std(m.get(j), s.get(j), 3)));
            task_i.iter().for_each(|(m, s)| row.push(mean_std(m.get(j), s.get(j), 4)));
            row
        })
        .collect();
    let mut caption = format!("scenario scores of the pretraining cells, mean ± std over {} seeds", d.seeds.len());
    let task_seeds = d.task_seeds();
    if task_seeds > 0 && task_seeds < d.seeds.len() {
        caption.push_str(&format!(" (task-aware scores: {task_seeds} seeds)"));
    }
    Some(Table { rows, ..Table::new(header).with_caption(caption) })
}

/// A scenario × seed table of `value [lo, hi]` for the seeds with a band.
fn interval_table(
    d: &DistributionReport,
    caption: &str,
    values: &[Vec<f64>],
    bands: &[Option<Band>],
    decimals: usize,
) -> Option<Table> {
    let with: Vec<(u64, &Vec<f64>, &Band)> =
        d.seeds.iter().zip(values).zip(bands).filter_map(|((s, v), b)| b.as_ref().map(|b| (*s, v, b))).collect();
    if with.is_empty() {
        return None;
    }
    let mut header = vec!["scenario".to_string()];
    header.extend(with.iter().map(|(s, _, _)| format!("seed {s}")));
    let rows = d
        .scenarios
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mut row = vec![name.clone()];
            for (_, v, b) in &with {
                row.push(match (v.get(j), b.lo.get(j), b.hi.get(j)) {
                    (Some(v), Some(lo), Some(hi)) => format!("{v:.decimals$} [{lo:.decimals$}, {hi:.decimals$}]"),
                    _ => "–".into(),
                });
            }
            row
        })
        .collect();
    Some(Table { rows, ..Table::new(header).with_caption(caption) })
}

/// Per seed × scenario, the distortion `D [lo, hi]` and the probability `p [lo, hi]` with
/// their 95 % bootstrap intervals (docs/report.md §7.1); empty without intervals.
pub fn interval_tables(group: &GroupReport) -> Vec<Table> {
    let Some(d) = &group.distribution else { return Vec::new() };
    let dist = interval_table(
        d,
        "latent distortion per pretraining seed: D [95 % bootstrap interval]",
        &d.distortion,
        &d.distortion_ci,
        4,
    );
    let prob = interval_table(
        d,
        "guided sampling probability per pretraining seed: p [95 % bootstrap interval]",
        &d.probabilities,
        &d.probabilities_ci,
        3,
    );
    dist.into_iter().chain(prob).collect()
}

/// `0.93`, or `–` when undefined.
fn rho(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

/// The summary of a pair's ρ: the one seed's value, or mean and range over seeds.
pub fn rho_text(pair: &CorrelationSummary) -> String {
    let defined = pair.rho.iter().flatten().count();
    match (pair.mean, pair.min, pair.max) {
        (Some(m), Some(lo), Some(hi)) if defined > 1 => {
            format!("mean {m:.2}, range [{lo:.2}, {hi:.2}] over {defined} seeds")
        }
        (Some(m), _, _) => format!("{m:.2}"),
        _ => "undefined (a constant score or fewer than 3 partial scenarios)".into(),
    }
}

/// Per correlated pair, Spearman's ρ per pretraining seed, their mean and range (§8).
pub fn diagnostic_table(group: &GroupReport) -> Option<Table> {
    let r = group.diagnostic.as_ref()?;
    let seeds: Vec<u64> = r.seeds.iter().map(|d| d.seed).collect();
    let mut header = vec!["scores".to_string()];
    header.extend(seeds.iter().map(|s| format!("ρ seed {s}")));
    header.extend(["mean ρ".to_string(), "range".to_string()]);
    let rows = r
        .pairs
        .iter()
        .map(|p| {
            let mut row = vec![format!("{} vs {}", p.x.label(), p.y.label())];
            for s in &seeds {
                row.push(
                    p.seeds.iter().position(|x| x == s).map_or("–".into(), |i| rho(p.rho.get(i).copied().flatten())),
                );
            }
            row.push(rho(p.mean));
            row.push(match (p.min, p.max) {
                (Some(lo), Some(hi)) => format!("[{lo:.2}, {hi:.2}]"),
                _ => "–".into(),
            });
            row
        })
        .collect();
    let (k, full) = r.seeds.first().map_or((0, String::new()), |d| (d.scenarios.len(), d.full_scenario.clone()));
    let metric = r.seeds.first().map_or(MetricId::Miou, |d| d.primary_metric);
    let caption = format!(
        "scoring diagnostic: Spearman rank correlation over the {k} partial scenarios ({full} left out); \
         metric drop = {metric} of {full} − {metric} of the scenario, pretrained network"
    );
    Some(Table { rows, ..Table::new(header).with_caption(caption) })
}
