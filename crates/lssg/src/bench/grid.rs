//! The cells of a bench grid (docs/bench.md §2): every data set × model × override-axis value ×
//! seed gets one pretraining cell (pretraining, scoring, and the evaluation of the pretrained
//! network), shared by one cell per method. Override axes whose keys are all under
//! `finetune.` do not touch pretraining, so their values share it too.
//!
//! Cells are numbered pretraining cells first, so that `--cells` ranges and Slurm array
//! indices can run them as a first wave.

use std::path::{Path, PathBuf};

use lssg_report::CellKey;
use lssg_trainer::Method;

use crate::bench::file::{AxisValue, BenchFile, DatasetAxis, ModelAxis};
use crate::config::RunConfig;
use crate::error::{Error, Result};

/// The method name of a pretraining cell.
pub const PRETRAINED: &str = "pretrained";

/// What a cell does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// Pretraining, scoring, and the evaluation of the pretrained network.
    Pretrain,
    /// Fine-tuning with one method from its group's pretraining, and its evaluation.
    Method(Method),
}

/// One cell of the grid.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Its index (`--cells`, `--list`, the Slurm array index).
    pub index: usize,
    /// Its place in the grid, as the report sees it.
    pub key: CellKey,
    /// What it does.
    pub kind: CellKind,
    /// The index of the pretraining cell it fine-tunes from (its own for pretraining cells).
    pub pretrain: usize,
    /// Its run directory, relative to the bench's output directory.
    pub dir: PathBuf,
    /// Its resolved run configuration.
    pub config: RunConfig,
}

/// Every cell of a bench file, pretraining cells first.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The cells, indexed by [`Cell::index`].
    pub cells: Vec<Cell>,
}

/// The labelled overrides of one point on the non-seed axes.
struct Point<'a> {
    dataset: &'a DatasetAxis,
    model: Option<&'a ModelAxis>,
    /// One value per override axis, with whether the axis touches pretraining.
    values: Vec<(&'a str, &'a AxisValue, bool)>,
}

impl Grid {
    /// Expands `file` (read from `path`, against which its paths are resolved).
    pub fn expand(file: &BenchFile, path: &Path) -> Result<Self> {
        let root = path.parent().unwrap_or(Path::new(""));
        let base_path = root.join(&file.bench.base);
        let base_text =
            std::fs::read_to_string(&base_path).map_err(|source| Error::Io { path: base_path.clone(), source })?;
        let base: toml::Table = toml::from_str(&base_text)
            .map_err(|e| Error::Config { file: base_path.display().to_string(), message: e.to_string() })?;
        let default_dataset = DatasetAxis { label: String::new(), config: None, set: Vec::new() };
        let datasets: Vec<&DatasetAxis> =
            if file.bench.datasets.is_empty() { vec![&default_dataset] } else { file.bench.datasets.iter().collect() };
        let models: Vec<Option<&ModelAxis>> =
            if file.bench.models.is_empty() { vec![None] } else { file.bench.models.iter().map(Some).collect() };
        let mut points = Vec::new();
        for &dataset in &datasets {
            for &model in &models {
                for values in axis_product(file) {
                    points.push(Point { dataset, model, values });
                }
            }
        }
        let builder = Builder { file, root, base: &base, base_path: &base_path };
        let methods = match &file.bench.methods {
            Some(m) => m.clone(),
            None => RunConfig::parse(&base_text, &base_path.display().to_string(), &[])?.finetune.methods,
        };
        builder.cells(&points, &methods)
    }

    /// The cells named by a `--cells` list (`0,3-5`), in index order; out-of-range indices and
    /// malformed items are errors naming them.
    pub fn select(&self, list: &str) -> Result<Vec<usize>> {
        let bad = |item: &str, why: String| Error::Bench(format!("--cells {list:?}: {item:?} {why}"));
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let parse =
                |s: &str| s.trim().parse::<usize>().map_err(|_| bad(item, "is not an index or a range a-b".into()));
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (parse(a)?, parse(b)?),
                None => (parse(item)?, parse(item)?),
            };
            if a > b || b >= self.cells.len() {
                return Err(bad(item, format!("is outside 0-{} (see --list)", self.cells.len().saturating_sub(1))));
            }
            out.extend(a..=b);
        }
        if out.is_empty() {
            return Err(bad(list, "names no cell".into()));
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The number of pretraining cells (they come first).
    pub fn pretrain_cells(&self) -> usize {
        self.cells.iter().take_while(|c| c.kind == CellKind::Pretrain).count()
    }
}

/// Every combination of one value per override axis, with whether each axis touches pretraining.
fn axis_product(file: &BenchFile) -> Vec<Vec<(&str, &AxisValue, bool)>> {
    let mut combos: Vec<Vec<(&str, &AxisValue, bool)>> = vec![Vec::new()];
    for axis in &file.bench.axes {
        let touches_pretraining = axis.values.iter().flat_map(|v| &v.set).any(|o| !o.trim().starts_with("finetune."));
        combos = combos
            .into_iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((axis.name.as_str(), v, touches_pretraining));
                    c
                })
            })
            .collect();
    }
    combos
}

struct Builder<'a> {
    file: &'a BenchFile,
    root: &'a Path,
    base: &'a toml::Table,
    base_path: &'a Path,
}

impl Builder<'_> {
    fn cells(&self, points: &[Point<'_>], methods: &[Method]) -> Result<Grid> {
        let mut pretrain_cells: Vec<Cell> = Vec::new();
        let mut method_cells: Vec<Cell> = Vec::new();
        for point in points {
            for &seed in &self.file.bench.seeds {
                let pretrain_variant = variant(point, true);
                let config = self.config(point, seed, true, methods)?;
                let dataset = dataset_label(point.dataset, &config);
                let model = point
                    .model
                    .map_or_else(|| format!("{}-{}", config.model.backbone, config.model.preset), ModelAxis::label);
                let pretrain_key = CellKey {
                    dataset: dataset.clone(),
                    model: model.clone(),
                    variant: pretrain_variant,
                    seed,
                    method: PRETRAINED.into(),
                };
                // Points that differ only in fine-tuning axes share one pretraining cell.
                let pretrain = match pretrain_cells.iter().position(|c| c.key == pretrain_key) {
                    Some(i) => i,
                    None => {
                        pretrain_cells.push(Cell {
                            index: pretrain_cells.len(),
                            dir: cell_dir(&pretrain_key),
                            key: pretrain_key,
                            kind: CellKind::Pretrain,
                            pretrain: pretrain_cells.len(),
                            config,
                        });
                        pretrain_cells.len() - 1
                    }
                };
                for &method in methods {
                    let key = CellKey {
                        dataset: dataset.clone(),
                        model: model.clone(),
                        variant: variant(point, false),
                        seed,
                        method: method.name().into(),
                    };
                    let config = self.config(point, seed, false, &[method])?;
                    check_shares_pretraining(&config, &pretrain_cells[pretrain].config, &key)?;
                    method_cells.push(Cell {
                        index: 0,
                        dir: cell_dir(&key),
                        key,
                        kind: CellKind::Method(method),
                        pretrain,
                        config,
                    });
                }
            }
        }
        let offset = pretrain_cells.len();
        for (i, cell) in method_cells.iter_mut().enumerate() {
            cell.index = offset + i;
        }
        pretrain_cells.extend(method_cells);
        Ok(Grid { cells: pretrain_cells })
    }

    /// The run config of `point` at `seed`: the base, the data set's `[data]`, the model keys,
    /// the bench's overrides, the axis values (only those touching pretraining when
    /// `pretraining_only`), the seed, and `methods`.
    fn config(&self, point: &Point<'_>, seed: u64, pretraining_only: bool, methods: &[Method]) -> Result<RunConfig> {
        let mut table = self.base.clone();
        if let Some(path) = &point.dataset.config {
            let path = self.root.join(path);
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
            let other: toml::Table = toml::from_str(&text)
                .map_err(|e| Error::Config { file: path.display().to_string(), message: e.to_string() })?;
            let data = other.get("data").cloned().ok_or_else(|| Error::Config {
                file: path.display().to_string(),
                message: "a data-set config of a bench needs a [data] section".into(),
            })?;
            table.insert("data".into(), data);
        }
        if let Some(model) = point.model {
            let section = table.entry("model").or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let Some(section) = section.as_table_mut() {
                section.extend(model.keys.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let mut overrides: Vec<String> = self.file.bench.set.clone();
        overrides.extend(point.dataset.set.iter().cloned());
        for (_, value, touches) in &point.values {
            if *touches || !pretraining_only {
                overrides.extend(value.set.iter().cloned());
            }
        }
        for key in ["run.seed", "pretrain.seed", "finetune.train.seed"] {
            overrides.push(format!("{key}={seed}"));
        }
        let names: Vec<String> = methods.iter().map(|m| format!("{:?}", m.name())).collect();
        overrides.push(format!("finetune.methods=[{}]", names.join(",")));
        let text = toml::to_string(&table).map_err(|e| Error::Bench(format!("re-serialising the base config: {e}")))?;
        RunConfig::parse(
            &text,
            &format!("{} (as bench cell of {})", self.base_path.display(), point_label(point)),
            &overrides,
        )
    }
}

/// The data set's label: the axis' own, or the data kind of the config.
fn dataset_label(axis: &DatasetAxis, config: &RunConfig) -> String {
    if !axis.label.is_empty() {
        return axis.label.clone();
    }
    toml::Value::try_from(&config.data)
        .ok()
        .and_then(|v| v.get("kind").and_then(toml::Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "data".into())
}

/// `name=label` of each axis value, comma-joined (only pretraining axes when `pretraining_only`).
fn variant(point: &Point<'_>, pretraining_only: bool) -> String {
    let parts: Vec<String> = point
        .values
        .iter()
        .filter(|(_, _, touches)| *touches || !pretraining_only)
        .map(|(name, v, _)| format!("{name}={}", v.label))
        .collect();
    parts.join(",")
}

fn point_label(point: &Point<'_>) -> String {
    let mut parts = vec![format!("dataset {:?}", point.dataset.label)];
    if let Some(m) = point.model {
        parts.push(format!("model {:?}", m.label()));
    }
    let v = variant(point, false);
    if !v.is_empty() {
        parts.push(v);
    }
    parts.join(", ")
}

/// `cells/<dataset>/<model>/<variant or "base">/seed-<seed>/<method>`.
fn cell_dir(key: &CellKey) -> PathBuf {
    let variant = if key.variant.is_empty() { "base".to_string() } else { key.variant.replace(',', "+") };
    PathBuf::from("cells")
        .join(&key.dataset)
        .join(&key.model)
        .join(variant)
        .join(format!("seed-{}", key.seed))
        .join(&key.method)
}

/// A method cell must see exactly its pretraining cell's data, model and pretraining: anything
/// else would fine-tune from weights trained for another config.
fn check_shares_pretraining(method: &RunConfig, pretrain: &RunConfig, key: &CellKey) -> Result<()> {
    let strip = |c: &RunConfig| {
        let mut c = c.clone();
        c.finetune = Default::default();
        c.run.output_dir = PathBuf::new();
        c
    };
    if strip(method) == strip(pretrain) {
        return Ok(());
    }
    Err(Error::Bench(format!(
        "cell {key:?}: its overrides change more than [finetune] but were classed as fine-tuning only; put them on an axis with a key outside finetune."
    )))
}
