//! `report.csv` (docs/report.md §6): the report in long format, one value per line.

use std::fmt::Write as _;

use lssg_core::csv_field;

use crate::aggregate::{GroupReport, Report};
use crate::pairs::PairRow;
use crate::record::Band;
use crate::summary::BASELINE;

/// Collects the long-format rows of one group.
struct CsvRows<'a> {
    group: &'a GroupReport,
    out: &'a mut String,
}

impl CsvRows<'_> {
    fn row(&mut self, kind: &str, name: &str, scenario: &str, metric: &str, statistic: &str, value: f64) {
        let k = &self.group.key;
        let fields = [k.dataset.as_str(), &k.model, &k.variant, kind, name, scenario, metric, statistic];
        let line: Vec<_> = fields.iter().map(|f| csv_field(f)).collect();
        let _ = writeln!(self.out, "{},{value}", line.join(","));
    }

    fn methods(&mut self) {
        let group = self.group;
        for m in &group.methods {
            for t in &m.metrics {
                for r in &t.rows {
                    let row = |s: &mut Self, stat: &str, v: f64| {
                        s.row("method", &m.method, &r.scenario, t.metric.as_str(), stat, v)
                    };
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
                    self.pair_row("pair", &name, t.metric.as_str(), r);
                }
            }
        }
    }

    /// Kind `baseline`, name `<m>-uniform`: every strategy against uniform, primary metric.
    fn baseline(&mut self) {
        let group = self.group;
        for c in &group.versus_baseline {
            let name = format!("{}-{BASELINE}", c.method);
            for r in &c.rows {
                self.pair_row("baseline", &name, group.primary_metric.as_str(), r);
            }
        }
    }

    fn pair_row(&mut self, kind: &str, name: &str, metric: &str, r: &PairRow) {
        let mut row = |stat: &str, v: f64| self.row(kind, name, &r.scenario, metric, stat, v);
        r.mean_diff.into_iter().for_each(|v| row("mean_diff", v));
        if let Some(ci) = r.seed_ci {
            row("seed_ci_lo", ci.lo);
            row("seed_ci_hi", ci.hi);
        }
        row("wilcoxon_p", r.wilcoxon_p);
        row("sign_p", r.sign_p);
        r.p_improve.into_iter().for_each(|v| row("p_improve", v));
        row("wins", r.wins as f64);
        row("ties", r.ties as f64);
        row("losses", r.losses as f64);
        for (seed, d) in r.seeds.iter().zip(&r.diffs) {
            row(&format!("diff:{seed}"), *d);
        }
        for tci in &r.tile_ci {
            row(&format!("tile_observed:{}", tci.seed), tci.observed);
            if let Some(ci) = tci.interval {
                row(&format!("tile_ci_lo:{}", tci.seed), ci.lo);
                row(&format!("tile_ci_hi:{}", tci.seed), ci.hi);
            }
        }
    }

    fn distribution(&mut self) {
        let Some(d) = &self.group.distribution else { return };
        let task_mean = |m: &Option<Vec<f64>>, j: usize| m.as_ref().and_then(|v| v.get(j).copied());
        for (j, s) in d.scenarios.iter().enumerate() {
            let row = |s_: &mut Self, metric: &str, stat: &str, v: Option<f64>| {
                if let Some(v) = v {
                    s_.row("distribution", "pretrained", s, metric, stat, v);
                }
            };
            row(self, "probability", "mean", d.probability_mean.get(j).copied());
            row(self, "probability", "std", d.probability_std.get(j).copied());
            row(self, "distortion", "mean", d.distortion_mean.get(j).copied());
            row(self, "distortion", "std", d.distortion_std.get(j).copied());
            row(self, "task_probability", "mean", task_mean(&d.task_probability_mean, j));
            row(self, "task_probability", "std", task_mean(&d.task_probability_std, j));
            row(self, "task_increase", "mean", task_mean(&d.task_increase_mean, j));
            row(self, "task_increase", "std", task_mean(&d.task_increase_std, j));
            for (i, seed) in d.seeds.iter().enumerate() {
                let at = |rows: &[Vec<f64>]| rows.get(i).and_then(|r| r.get(j)).copied();
                let band = |bands: &[Option<Band>]| {
                    bands.get(i).and_then(Option::as_ref).and_then(|b| b.lo.get(j).copied().zip(b.hi.get(j).copied()))
                };
                let opt =
                    |rows: &[Option<Vec<f64>>]| rows.get(i).and_then(Option::as_ref).and_then(|r| r.get(j)).copied();
                let (ci_lo, ci_hi) = (format!("ci_lo:{seed}"), format!("ci_hi:{seed}"));
                let value = format!("seed:{seed}");
                row(self, "probability", &value, at(&d.probabilities));
                row(self, "distortion", &value, at(&d.distortion));
                row(self, "task_probability", &value, opt(&d.task_probabilities));
                row(self, "task_increase", &value, opt(&d.task_increase));
                for (metric, b) in [("probability", band(&d.probabilities_ci)), ("distortion", band(&d.distortion_ci))]
                {
                    row(self, metric, &ci_lo, b.map(|b| b.0));
                    row(self, metric, &ci_hi, b.map(|b| b.1));
                }
            }
        }
    }

    /// Kind `diagnostic`, name `<x>-<y>` (score slugs), scenario `all`, metric `spearman`.
    fn diagnostic(&mut self) {
        let Some(r) = &self.group.diagnostic else { return };
        for p in &r.pairs {
            let name = format!("{}-{}", p.x.slug(), p.y.slug());
            let row = |s: &mut Self, stat: &str, v: Option<f64>| {
                if let Some(v) = v {
                    s.row("diagnostic", &name, "all", "spearman", stat, v);
                }
            };
            row(self, "mean", p.mean);
            row(self, "min", p.min);
            row(self, "max", p.max);
            for (seed, rho) in p.seeds.iter().zip(&p.rho) {
                row(self, &format!("seed:{seed}"), *rho);
            }
        }
    }

    /// Kind `sampling`, name the stage, metric `probability`, statistic `epoch:<e>` (mean over
    /// seeds) and `seed:<s>:epoch:<e>`.
    fn trajectories(&mut self, kind: &str, metric: &str) {
        let group = self.group;
        let list = if kind == "sampling" { &group.trajectories } else { &group.weights };
        for t in list {
            for (j, scenario) in t.scenarios.iter().enumerate() {
                for p in &t.mean {
                    if let Some(v) = p.probabilities.get(j) {
                        self.row(kind, &t.stage, scenario, metric, &format!("epoch:{}", p.epoch), *v);
                    }
                }
                for s in &t.seeds {
                    for p in &s.points {
                        if let Some(v) = p.probabilities.get(j) {
                            let stat = format!("seed:{}:epoch:{}", s.seed, p.epoch);
                            self.row(kind, &t.stage, scenario, metric, &stat, *v);
                        }
                    }
                }
            }
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
        rows.baseline();
        rows.distribution();
        rows.diagnostic();
        rows.trajectories("sampling", "probability");
        rows.trajectories("weights", "weight");
    }
    out
}
