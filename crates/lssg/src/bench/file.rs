//! The bench file (docs/bench.md §1): a base run config and the axes of a grid — data sets,
//! models, methods, seeds and any number of override axes — plus the report's and Slurm's
//! settings. Paths in it are relative to the bench file; its overrides are checked against the
//! run config's sections when it is read ([`Override`]).

use std::path::{Path, PathBuf};

use lssg_report::ReportConfig;
use lssg_trainer::Method;
use serde::{Deserialize, Serialize};

use crate::bench::overrides::{Override, Stages};
use crate::error::{Error, Result};

/// The whole bench file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchFile {
    /// `[bench]`: the grid.
    pub bench: GridSpec,
    /// `[report]`: what `lssg report` computes (pairs, bootstrap).
    #[serde(default)]
    pub report: ReportConfig,
    /// `[slurm]`: the resources of `--emit-slurm`'s array tasks.
    #[serde(default)]
    pub slurm: SlurmSpec,
}

/// `[bench]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// The run config every cell starts from (relative to the bench file).
    pub base: PathBuf,
    /// Overrides (`section.key=value`) applied to every cell, before the axes'.
    #[serde(default)]
    pub set: Vec<Override>,
    /// The seed axis: each seed sets `[run] seed` and the seeds of both training stages.
    pub seeds: Vec<u64>,
    /// The method axis (default: the base config's `finetune.methods`).
    #[serde(default)]
    pub methods: Option<Vec<Method>>,
    /// The data-set axis (default: the base config's data, labelled by its kind).
    #[serde(default)]
    pub datasets: Vec<DatasetAxis>,
    /// The model axis (default: the base config's `[model]`).
    #[serde(default)]
    pub models: Vec<ModelAxis>,
    /// Further axes, each a list of labelled override sets.
    #[serde(default)]
    pub axes: Vec<OverrideAxis>,
}

/// One value of the data-set axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetAxis {
    /// The name in tables and directories.
    pub label: String,
    /// A run config whose `[data]` section replaces the base's (relative to the bench file).
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Overrides applied after it.
    #[serde(default)]
    pub set: Vec<Override>,
}

/// One value of the model axis: keys of `[model]` (backbone, preset, output_head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelAxis {
    /// The name in tables and directories (default `<backbone>-<preset>`).
    #[serde(default)]
    pub label: Option<String>,
    /// The `[model]` keys it sets.
    #[serde(flatten)]
    pub keys: toml::Table,
}

/// An axis of labelled override sets, e.g. two fine-tuning learning rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideAxis {
    /// The axis' name, prefixed to each value's label (`lr=1e-3`).
    pub name: String,
    /// Its values.
    pub values: Vec<AxisValue>,
}

/// One value of an override axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisValue {
    /// The value's label.
    pub label: String,
    /// The overrides it applies.
    pub set: Vec<Override>,
}

/// `[slurm]`: the `#SBATCH` requests of every array task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSpec {
    /// `--partition` (none: the cluster's default).
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` of one cell, e.g. `01:00:00`.
    pub time: String,
    /// `--cpus-per-task`.
    pub cpus_per_task: usize,
    /// `--ntasks`: the data-parallel ranks of every cell (1: one process; docs/distributed.md §3).
    pub tasks: usize,
    /// `--mem`, e.g. `8G`.
    pub mem: String,
    /// GPUs per task (`--gres=gpu:N`; 0 = none).
    pub gpus: usize,
    /// At most this many array tasks at once (`%P`).
    pub max_parallel: usize,
    /// `--job-name` prefix.
    pub job_name: String,
    /// Further `#SBATCH` lines, verbatim (e.g. `--constraint=avx512`).
    pub extra: Vec<String>,
}

impl Default for SlurmSpec {
    fn default() -> Self {
        Self {
            partition: None,
            account: None,
            qos: None,
            time: "01:00:00".into(),
            cpus_per_task: 2,
            tasks: 1,
            mem: "8G".into(),
            gpus: 0,
            max_parallel: 16,
            job_name: "lssg-bench".into(),
            extra: Vec::new(),
        }
    }
}

impl BenchFile {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let file: Self = toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        file.validate(path)?;
        Ok(file)
    }

    /// The checks serde cannot express, each naming the field.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |message: String| Err(config_error(path, message));
        let b = &self.bench;
        if b.seeds.is_empty() {
            return bad("bench.seeds: at least one seed is needed".into());
        }
        if let Some(d) = first_duplicate(b.seeds.iter()) {
            return bad(format!("bench.seeds: seed {d} is listed twice"));
        }
        if let Some(methods) = &b.methods {
            if methods.is_empty() {
                return bad("bench.methods: at least one method is needed (or leave it out for the base's)".into());
            }
            if let Some(d) = first_duplicate(methods.iter()) {
                return bad(format!("bench.methods: {d} is listed twice"));
            }
        }
        let labels = |what: &str, labels: Vec<String>| -> Result<()> {
            if let Some(l) = labels.iter().find(|l| !is_label(l)) {
                return bad(format!("{what}: label {l:?} must be non-empty letters, digits, '.', '_', '-' or '='"));
            }
            match first_duplicate(labels.iter()) {
                Some(d) => bad(format!("{what}: label {d:?} is used twice")),
                None => Ok(()),
            }
        };
        labels("bench.datasets", b.datasets.iter().map(|d| d.label.clone()).collect())?;
        labels("bench.models", b.models.iter().map(ModelAxis::label).collect())?;
        labels("bench.axes", b.axes.iter().map(|a| a.name.clone()).collect())?;
        for axis in &b.axes {
            if axis.values.is_empty() {
                return bad(format!("bench.axes {:?}: no values", axis.name));
            }
            labels(&format!("bench.axes {:?}", axis.name), axis.values.iter().map(|v| v.label.clone()).collect())?;
        }
        for (i, m) in b.models.iter().enumerate() {
            if !m.keys.contains_key("backbone") {
                return bad(format!("bench.models[{i}]: `backbone` is required"));
            }
        }
        if let Err(e) = self.report.validate() {
            return bad(format!("[report] {e}"));
        }
        let s = &self.slurm;
        if s.cpus_per_task == 0 || s.max_parallel == 0 || s.tasks == 0 {
            return bad("slurm.cpus_per_task, slurm.tasks and slurm.max_parallel must be at least 1".into());
        }
        Ok(())
    }
}

impl OverrideAxis {
    /// The stages its values' keys reach: whether its values share pretraining cells
    /// (docs/bench.md §2).
    pub fn stages(&self) -> Stages {
        self.values.iter().flat_map(|v| &v.set).fold(Stages::default(), |all, o| all.union(o.stages()))
    }
}

impl ModelAxis {
    /// The label: the given one, or `<backbone>-<preset>`.
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        let key = |k: &str| self.keys.get(k).and_then(toml::Value::as_str).unwrap_or("default").to_string();
        format!("{}-{}", key("backbone"), key("preset"))
    }
}

fn config_error(path: &Path, message: String) -> Error {
    Error::Config { file: path.display().to_string(), message }
}

fn first_duplicate<T: PartialEq + std::fmt::Display>(items: impl Iterator<Item = T> + Clone) -> Option<String> {
    let all: Vec<T> = items.collect();
    all.iter().enumerate().find(|(i, x)| all[..*i].contains(x)).map(|(_, x)| x.to_string())
}

/// Labels name directories: keep them to a portable set.
fn is_label(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-=".contains(c))
}
