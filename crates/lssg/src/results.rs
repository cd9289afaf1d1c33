//! The results of a run: one table per metric with a row per scenario plus the mean over
//! scenarios and a column per method, as markdown, JSON and CSV (lssg-core's [`Table`]
//! writes the Markdown and the CSV).

use std::path::Path;

use lssg_core::{Align, MetricId, Table, Task, format_number};
use lssg_scenario::io::write_atomic;
use lssg_scenario::robustness::ProtocolRow;
use lssg_trainer::EvalReport;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One metric as a scenario × method table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTable {
    /// The metric.
    pub metric: MetricId,
    /// What it is, for the table's heading.
    pub title: String,
    /// `values[scenario][method]`, in percent; `null` where the metric is undefined.
    pub values: Vec<Vec<Option<f64>>>,
    /// Mean over scenarios per method, in percent; `null` where a scenario's value is undefined.
    pub mean: Vec<Option<f64>>,
}

/// Every method evaluated under every scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// Column order.
    pub methods: Vec<String>,
    /// Row order (canonical scenario order).
    pub scenarios: Vec<String>,
    /// The main metric first: the task's primary metric (the reference's soft Jaccard for
    /// binary tasks, mIoU otherwise).
    pub tables: Vec<MetricTable>,
    /// Per-class IoU (percent) of every method: `class_iou[method][scenario][class]`.
    pub class_iou: Vec<Vec<Vec<Option<f64>>>>,
    /// Class names of the IoU columns.
    pub class_names: Vec<String>,
    /// The task every evaluation was of.
    pub task: Task,
    /// The robustness protocols (docs/method.md §6.1), one table per metric; absent when no
    /// evaluation has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<ProtocolTable>,
}

/// One metric of the robustness protocols as a setting × method table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolTable {
    /// The metric.
    pub metric: MetricId,
    /// Row labels (`expected p = 0.1`, `random-missing r = 0.5`, `noisy 10 dB, sar`).
    pub settings: Vec<String>,
    /// Π_m p_m of each expected row (`null` for the others).
    pub all_missing: Vec<Option<f64>>,
    /// `values[setting][method]`, in percent; `null` where undefined or not evaluated.
    pub values: Vec<Vec<Option<f64>>>,
}

impl ProtocolTable {
    /// One table per metric (in `order`) from the evaluations' protocol rows; empty when none
    /// has protocols.
    fn build(evaluations: &[(String, EvalReport)], order: &[MetricId]) -> Vec<Self> {
        let per_method: Vec<Vec<ProtocolRow>> =
            evaluations.iter().map(|(_, r)| r.protocols.as_ref().map(|p| p.rows()).unwrap_or_default()).collect();
        let mut settings: Vec<(String, Option<f64>)> = Vec::new();
        for row in per_method.iter().flatten() {
            if !settings.iter().any(|(label, _)| *label == row.label) {
                settings.push((row.label.clone(), row.all_missing));
            }
        }
        if settings.is_empty() {
            return Vec::new();
        }
        let value = |rows: &[ProtocolRow], label: &str, metric: MetricId| {
            rows.iter().find(|r| r.label == label).and_then(|r| r.metrics.get(&metric)).map(|v| 100.0 * v)
        };
        order
            .iter()
            .map(|&metric| Self {
                metric,
                settings: settings.iter().map(|(l, _)| l.clone()).collect(),
                all_missing: settings.iter().map(|(_, p)| *p).collect(),
                values: settings
                    .iter()
                    .map(|(label, _)| per_method.iter().map(|rows| value(rows, label, metric)).collect())
                    .collect(),
            })
            .collect()
    }
}

/// The metrics of the results, in table order after the primary one.
const TABLE_ORDER: [MetricId; 4] = [MetricId::SoftJaccard, MetricId::Miou, MetricId::SoftF1, MetricId::Accuracy];

impl RunResults {
    /// Builds the tables from `(method, evaluation)` pairs. Every method must have been
    /// evaluated on the same task and the same scenarios, in the same order (evaluations read
    /// back from files may not be): otherwise [`Error::TasksDiffer`] or
    /// [`Error::ScenariosDiffer`] names the method and both values.
    pub fn new(evaluations: &[(String, EvalReport)]) -> Result<Self> {
        let (_, first) = evaluations.first().ok_or(Error::NoEvaluations)?;
        let task = first.task;
        let methods: Vec<String> = evaluations.iter().map(|(m, _)| m.clone()).collect();
        let scenarios: Vec<String> = first.scenarios.iter().map(|s| s.scenario.clone()).collect();
        for (method, report) in evaluations {
            if report.task != task {
                return Err(Error::TasksDiffer { method: method.clone(), expected: task, got: report.task });
            }
            let rows = &report.scenarios;
            if rows.len() != scenarios.len() || rows.iter().zip(&scenarios).any(|(s, want)| s.scenario != *want) {
                return Err(Error::ScenariosDiffer {
                    method: method.clone(),
                    expected: scenarios.clone(),
                    got: rows.iter().map(|s| s.scenario.clone()).collect(),
                });
            }
        }
        let primary = task.primary_metric();
        let order = std::iter::once(primary).chain(TABLE_ORDER.into_iter().filter(|m| *m != primary));
        let order: Vec<MetricId> = order.collect();
        let protocols = ProtocolTable::build(evaluations, &order);
        let tables = order
            .into_iter()
            .map(|metric| {
                let values: Vec<Vec<Option<f64>>> = (0..scenarios.len())
                    .map(|s| {
                        evaluations
                            .iter()
                            .map(|(_, r)| r.scenarios[s].metrics.metric(metric).map(|v| 100.0 * v))
                            .collect()
                    })
                    .collect();
                let mean = (0..methods.len())
                    .map(|m| {
                        let column: Option<Vec<f64>> = values.iter().map(|row| row[m]).collect();
                        column.map(|c| c.iter().sum::<f64>() / values.len().max(1) as f64)
                    })
                    .collect();
                MetricTable { metric, title: metric.title().into(), values, mean }
            })
            .collect();
        let class_iou = evaluations
            .iter()
            .map(|(_, r)| {
                r.scenarios.iter().map(|s| s.metrics.iou.iter().map(|v| v.map(|x| 100.0 * x)).collect()).collect()
            })
            .collect();
        let class_names = first.scenarios.first().map(|s| s.metrics.class_names.clone()).unwrap_or_default();
        Ok(Self { methods, scenarios, tables, class_iou, class_names, task, protocols })
    }

    /// The main table (first metric) as markdown.
    pub fn main_table(&self) -> String {
        self.tables.first().map(|t| self.table_markdown(t)).unwrap_or_default()
    }

    /// `t` as a `### title (%)` heading and a scenario × method table, with the mean row and the
    /// best value of each row in bold.
    fn table_markdown(&self, t: &MetricTable) -> String {
        let mut table = Table::new(std::iter::once("scenario").chain(self.methods.iter().map(String::as_str)))
            .with_align(1, Align::Right);
        let several = self.methods.len() > 1;
        let mut line = |name: &str, row: &[Option<f64>]| {
            let cells = row.iter().map(|&v| match v {
                Some(v) if several && row.iter().flatten().all(|&o| v >= o) => format!("**{v:.2}**"),
                v => format_number(v, 2),
            });
            table.rows.push(std::iter::once(name.to_string()).chain(cells).collect());
        };
        for (s, row) in self.scenarios.iter().zip(&t.values) {
            line(s, row);
        }
        line("**mean**", &t.mean);
        format!("### {} (%)\n\n{}", t.title, table.markdown())
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
        for (method, rows) in self.methods.iter().zip(&self.class_iou) {
            let mut table = Table::new(std::iter::once("scenario").chain(self.class_names.iter().map(String::as_str)))
                .with_align(1, Align::Right);
            for (s, row) in self.scenarios.iter().zip(rows) {
                table.rows.push(std::iter::once(s.clone()).chain(row.iter().map(|&v| format_number(v, 2))).collect());
            }
            out.push_str(&format!("### per-class IoU (%), {method}\n\n{}\n", table.markdown()));
        }
        if !self.protocols.is_empty() {
            out.push_str(
                "## Robustness protocols\n\nRows: protocol settings (a row without a modality is the mean over \
                 modalities; `expected` rows give the probability that every sensor fails beside them); columns: \
                 methods.\n\n",
            );
        }
        for t in &self.protocols {
            out.push_str(&self.protocol_markdown(t));
            out.push('\n');
        }
        out
    }

    /// A protocol table as a `### title (%)` heading and a setting × method table, the best
    /// value of each row in bold.
    fn protocol_markdown(&self, t: &ProtocolTable) -> String {
        let mut table = Table::new(std::iter::once("setting").chain(self.methods.iter().map(String::as_str)))
            .with_align(1, Align::Right);
        let several = self.methods.len() > 1;
        for ((setting, all_missing), row) in t.settings.iter().zip(&t.all_missing).zip(&t.values) {
            let name = match all_missing {
                Some(p) => format!("{setting} (all missing {:.2} %)", 100.0 * p),
                None => setting.clone(),
            };
            let cells = row.iter().map(|&v| match v {
                Some(v) if several && row.iter().flatten().all(|&o| v >= o) => format!("**{v:.2}**"),
                v => format_number(v, 2),
            });
            table.rows.push(std::iter::once(name).chain(cells).collect());
        }
        format!("### robustness protocols, {} (%)\n\n{}", t.metric.title(), table.markdown())
    }

    /// Long-format CSV: `metric,scenario,method,value` (empty where undefined); protocol rows
    /// follow with their setting in the `scenario` column.
    pub fn csv(&self) -> String {
        let mut table = Table::new(["metric", "scenario", "method", "value"]);
        let mean = "mean".to_string();
        for t in &self.tables {
            for (s, row) in self.scenarios.iter().chain([&mean]).zip(t.values.iter().chain([&t.mean])) {
                for (m, v) in self.methods.iter().zip(row) {
                    let value = v.map(|v| format!("{v:.6}")).unwrap_or_default();
                    table.rows.push(vec![t.metric.to_string(), s.clone(), m.clone(), value]);
                }
            }
        }
        for t in &self.protocols {
            for (setting, row) in t.settings.iter().zip(&t.values) {
                for (m, v) in self.methods.iter().zip(row) {
                    let value = v.map(|v| format!("{v:.6}")).unwrap_or_default();
                    table.rows.push(vec![t.metric.to_string(), setting.clone(), m.clone(), value]);
                }
            }
        }
        table.csv()
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

#[cfg(test)]
mod tests {
    use lssg_trainer::ScenarioMetrics;

    use super::*;
    use crate::test_fixtures::two_class_metrics;

    fn eval(task: Task, mious: [Option<f64>; 2]) -> EvalReport {
        let scenario = |name: &str, miou| ScenarioMetrics {
            scenario: name.into(),
            mask: vec![1],
            metrics: two_class_metrics(miou, [miou, None]),
            tiles: None,
        };
        EvalReport {
            modalities: vec!["rgb".into(), "sar".into()],
            task,
            class_names: vec!["a".into(), "b".into()],
            samples: 1,
            seconds: 0.0,
            scenarios: vec![scenario("rgb", mious[0]), scenario("rgb+sar", mious[1])],
            protocols: None,
        }
    }

    #[test]
    fn the_task_orders_the_tables_and_undefined_values_stay_undefined() {
        let task = Task::MultiClass { classes: 2 };
        let r = RunResults::new(&[
            ("uniform".into(), eval(task, [Some(0.5), Some(0.75)])),
            ("guided".into(), eval(task, [Some(0.25), None])),
        ])
        .unwrap();
        assert_eq!(r.task, task);
        let order: Vec<MetricId> = r.tables.iter().map(|t| t.metric).collect();
        assert_eq!(order, [MetricId::Miou, MetricId::SoftJaccard, MetricId::SoftF1, MetricId::Accuracy]);
        let miou = &r.tables[0];
        assert_eq!(miou.values, [[Some(50.0), Some(25.0)], [Some(75.0), None]]);
        assert_eq!(miou.mean, [Some(62.5), None]);
        let md = r.markdown();
        assert!(md.contains("| rgb | **50.00** | 25.00 |\n| rgb+sar | **75.00** | – |\n"), "{md}");
        assert!(md.contains("| **mean** | **62.50** | – |"), "{md}");
        assert!(r.csv().contains("miou,rgb+sar,guided,\nmiou,mean,uniform,62.500000\n"), "{}", r.csv());
        let binary = RunResults::new(&[("uniform".into(), eval(Task::Binary, [Some(0.5); 2]))]).unwrap();
        assert_eq!(binary.tables[0].metric, MetricId::SoftJaccard);
    }

    #[test]
    fn protocol_rows_become_setting_by_method_tables_and_stay_out_without_protocols() {
        use lssg_scenario::robustness::{ExpectedRecord, NoisyRecord, Protocols};
        let task = Task::MultiClass { classes: 2 };
        let plain = RunResults::new(&[("uniform".into(), eval(task, [Some(0.5); 2]))]).unwrap();
        assert!(plain.protocols.is_empty());
        assert!(!serde_json::to_string(&plain).unwrap().contains("protocols"));
        assert!(!plain.markdown().contains("Robustness"));
        let with = |miou: f64| {
            let mut e = eval(task, [Some(0.5); 2]);
            let noisy = |modality: &str, v: f64| NoisyRecord {
                modality: modality.into(),
                snr_db: 10.0,
                metrics: [(MetricId::Miou, v)].into(),
            };
            e.protocols = Some(Protocols {
                expected: vec![ExpectedRecord {
                    label: "p = 0.1".into(),
                    p: [("rgb".to_string(), 0.1), ("sar".to_string(), 0.1)].into(),
                    all_missing: 0.01,
                    metrics: [(MetricId::Miou, miou)].into(),
                }],
                random_missing: vec![],
                noisy: vec![noisy("rgb", 0.25), noisy("sar", miou)],
            });
            e
        };
        let r = RunResults::new(&[("uniform".into(), with(0.5)), ("guided".into(), with(0.75))]).unwrap();
        let miou = &r.protocols[0];
        assert_eq!(miou.metric, MetricId::Miou);
        assert_eq!(miou.settings, ["expected p = 0.1", "noisy 10 dB", "noisy 10 dB, rgb", "noisy 10 dB, sar"]);
        assert_eq!(miou.all_missing, [Some(0.01), None, None, None]);
        assert_eq!(miou.values[0], [Some(50.0), Some(75.0)]);
        assert_eq!(miou.values[1], [Some(37.5), Some(50.0)]);
        assert_eq!(r.protocols[1].values[0], [None, None]);
        let md = r.markdown();
        assert!(md.contains("| expected p = 0.1 (all missing 1.00 %) | 50.00 | **75.00** |"), "{md}");
        assert!(r.csv().contains("miou,noisy 10 dB,guided,50.000000\n"), "{}", r.csv());
    }

    #[test]
    fn evaluations_of_different_tasks_are_refused() {
        let err = RunResults::new(&[
            ("uniform".into(), eval(Task::Binary, [Some(0.5); 2])),
            ("guided".into(), eval(Task::MultiClass { classes: 2 }, [Some(0.5); 2])),
        ])
        .unwrap_err();
        assert!(matches!(&err, Error::TasksDiffer { method, .. } if method == "guided"), "{err}");
        assert!(matches!(RunResults::new(&[]), Err(Error::NoEvaluations)));
    }
}
