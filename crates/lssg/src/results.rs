//! The results of a run: one table per metric with a row per scenario plus the mean over
//! scenarios and a column per method, as markdown, JSON and CSV.

use std::fmt::Write as _;
use std::path::Path;

use lssg_scenario::io::write_atomic;
use lssg_trainer::Metrics;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One metric as a scenario × method table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTable {
    /// The metric's key (`soft_jaccard`, `miou`, …).
    pub metric: String,
    /// What it is, for the table's heading.
    pub title: String,
    /// `values[scenario][method]`, in percent.
    pub values: Vec<Vec<f64>>,
    /// Mean over scenarios per method, in percent.
    pub mean: Vec<f64>,
}

/// Every method evaluated under every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Column order.
    pub methods: Vec<String>,
    /// Row order (canonical scenario order).
    pub scenarios: Vec<String>,
    /// The main metric first: the reference's soft Jaccard for binary tasks, mIoU otherwise.
    pub tables: Vec<MetricTable>,
    /// Per-class IoU (percent) of every method: `class_iou[method][scenario][class]`.
    pub class_iou: Vec<Vec<Vec<Option<f64>>>>,
    /// Class names of the IoU columns.
    pub class_names: Vec<String>,
}

type Extract = fn(&Metrics) -> f64;

impl RunResults {
    /// Builds the tables from `(method, [(scenario, metrics)])`. Every method must have been
    /// evaluated on the same scenarios, in the same order (evaluations read back from files may
    /// not be): otherwise [`Error::ScenariosDiffer`] names the method and both lists.
    pub fn new(evaluations: Vec<(String, Vec<(String, Metrics)>)>, binary: bool) -> Result<Self> {
        let methods: Vec<String> = evaluations.iter().map(|(m, _)| m.clone()).collect();
        let scenarios: Vec<String> =
            evaluations.first().map(|(_, r)| r.iter().map(|(s, _)| s.clone()).collect()).unwrap_or_default();
        for (method, rows) in &evaluations {
            if rows.len() != scenarios.len() || rows.iter().zip(&scenarios).any(|((s, _), want)| s != want) {
                return Err(Error::ScenariosDiffer {
                    method: method.clone(),
                    expected: scenarios.clone(),
                    got: rows.iter().map(|(s, _)| s.clone()).collect(),
                });
            }
        }
        let mut metrics: Vec<(&str, &str, Extract)> = vec![
            ("soft_jaccard", "soft Jaccard, mean over test images (the reference's metric)", |m| m.soft_jaccard.mean),
            ("miou", "mIoU from the confusion matrix", |m| m.miou),
            ("soft_f1", "soft F1, mean over test images", |m| m.soft_f1.mean),
            ("accuracy", "overall accuracy", |m| m.accuracy),
        ];
        if !binary {
            metrics.swap(0, 1);
        }
        let tables = metrics
            .into_iter()
            .map(|(key, title, f)| {
                let values: Vec<Vec<f64>> = (0..scenarios.len())
                    .map(|s| evaluations.iter().map(|(_, r)| 100.0 * f(&r[s].1)).collect())
                    .collect();
                let mean = (0..methods.len())
                    .map(|m| values.iter().map(|row| row[m]).sum::<f64>() / values.len().max(1) as f64)
                    .collect();
                MetricTable { metric: key.into(), title: title.into(), values, mean }
            })
            .collect();
        let class_iou = evaluations
            .iter()
            .map(|(_, r)| r.iter().map(|(_, m)| m.iou.iter().map(|v| v.map(|x| 100.0 * x)).collect()).collect())
            .collect();
        let class_names =
            evaluations.first().and_then(|(_, r)| r.first()).map(|(_, m)| m.class_names.clone()).unwrap_or_default();
        Ok(Self { methods, scenarios, tables, class_iou, class_names })
    }

    /// The main table (first metric) as markdown.
    pub fn main_table(&self) -> String {
        self.tables.first().map(|t| self.table_markdown(t)).unwrap_or_default()
    }

    fn table_markdown(&self, t: &MetricTable) -> String {
        let mut out = format!("### {} (%)\n\n| scenario |", t.title);
        for m in &self.methods {
            let _ = write!(out, " {m} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(self.methods.len()));
        out.push('\n');
        let best = |row: &[f64], v: f64| row.iter().all(|&o| v >= o) && self.methods.len() > 1;
        let mut line = |name: &str, row: &[f64]| {
            let _ = write!(out, "| {name} |");
            for &v in row {
                if best(row, v) {
                    let _ = write!(out, " **{v:.2}** |");
                } else {
                    let _ = write!(out, " {v:.2} |");
                }
            }
            out.push('\n');
        };
        for (s, row) in self.scenarios.iter().zip(&t.values) {
            line(s, row);
        }
        line("**mean**", &t.mean);
        out
    }

    /// Every table as one markdown document.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "# lssg results\n\nRows: availability scenarios of the test split; columns: methods; best per row in bold.\n\n",
        );
        for t in &self.tables {
            out.push_str(&self.table_markdown(t));
            out.push('\n');
        }
        for (m, method) in self.methods.iter().enumerate() {
            let _ = write!(out, "### per-class IoU (%), {method}\n\n| scenario |");
            for c in &self.class_names {
                let _ = write!(out, " {c} |");
            }
            out.push_str("\n|---|");
            out.push_str(&"---:|".repeat(self.class_names.len()));
            out.push('\n');
            for (s, row) in self.scenarios.iter().zip(&self.class_iou[m]) {
                let _ = write!(out, "| {s} |");
                for v in row {
                    match v {
                        Some(v) => {
                            let _ = write!(out, " {v:.2} |");
                        }
                        None => out.push_str(" – |"),
                    }
                }
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    /// Long-format CSV: `metric,scenario,method,value`.
    pub fn csv(&self) -> String {
        let mut out = String::from("metric,scenario,method,value\n");
        for t in &self.tables {
            for (s, row) in self
                .scenarios
                .iter()
                .chain(std::iter::once(&"mean".to_string()))
                .zip(t.values.iter().chain(std::iter::once(&t.mean)))
            {
                for (m, v) in self.methods.iter().zip(row) {
                    let _ = writeln!(out, "{},{},{},{:.6}", t.metric, s, m, v);
                }
            }
        }
        out
    }

    /// Writes `results.md`, `results.json` and `results.csv` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("results.md"), self.markdown().as_bytes())?;
        let json = serde_json::to_string_pretty(self)
            .map_err(|source| Error::Json { path: dir.join("results.json"), source })?;
        write_atomic(&dir.join("results.json"), json.as_bytes())?;
        write_atomic(&dir.join("results.csv"), self.csv().as_bytes())?;
        Ok(())
    }
}
