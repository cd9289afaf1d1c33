//! The cells of a bench grid (docs/bench.md §2): every data set × model × override-axis value ×
//! seed gets one pretraining cell (pretraining, scoring, smoothing, and the evaluation of the
//! pretrained network), shared by one cell per method. An override axis whose keys reach none
//! of a pretraining cell's stages ([`CellKind::stages`], [`Override::stages`]) shares it too.
//!
//! A cell's run config is built by editing the resolved base config: the data set's `[data]`,
//! the model keys, the bench file's overrides, the axis values, the command line's `--set`, the
//! seed and the methods, each a typed edit ([`Override::apply`]), the result validated once.
//!
//! Cells are numbered pretraining cells first, so that `--cells` ranges and Slurm array
//! indices can run them as a first wave.

use std::path::{Path, PathBuf};

use lssg_report::CellKey;
use lssg_trainer::Method;

use crate::bench::file::{AxisValue, BenchFile, DatasetAxis, ModelAxis};
use crate::bench::overrides::{Override, Stage, Stages};
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

impl CellKind {
    /// The stages a cell of this kind runs.
    pub fn stages(self) -> Stages {
        match self {
            CellKind::Pretrain => Stages::of(&[Stage::Pretrain, Stage::Score, Stage::Smooth, Stage::Eval]),
            CellKind::Method(_) => Stages::of(&[Stage::Finetune, Stage::Eval]),
        }
    }
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
    /// Its resolved run configuration: what identifies its work (the run directory's
    /// `config.toml` must equal it for a finished cell to count, docs/bench.md §2).
    pub config: RunConfig,
}

/// Every cell of a bench file, pretraining cells first.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The cells, indexed by [`Cell::index`].
    pub cells: Vec<Cell>,
}

/// One value of an override axis, placed in a point of the grid.
#[derive(Clone, Copy)]
struct AxisPoint<'a> {
    /// The axis' name.
    name: &'a str,
    value: &'a AxisValue,
    /// Whether the axis reaches a pretraining cell's stages.
    pretraining: bool,
}

/// The labelled overrides of one point on the non-seed axes.
struct Point<'a> {
    dataset: &'a DatasetAxis,
    /// The base config with the data set's `[data]`.
    base: &'a RunConfig,
    model: Option<&'a ModelAxis>,
    values: Vec<AxisPoint<'a>>,
}

impl<'a> Point<'a> {
    /// The axis values a `kind` cell sees: all of them, or for a pretraining cell those of the
    /// axes that reach its stages.
    fn values_of(&self, kind: CellKind) -> impl Iterator<Item = &AxisPoint<'a>> {
        self.values.iter().filter(move |p| p.pretraining || kind != CellKind::Pretrain)
    }
}

impl Grid {
    /// Expands `file` (read from `path`, against which its paths are resolved); `set` (the
    /// command line's `--set`) applies to every cell after the file's own overrides.
    pub fn expand(file: &BenchFile, path: &Path, set: &[Override]) -> Result<Self> {
        let root = path.parent().unwrap_or(Path::new(""));
        let base_path = root.join(&file.bench.base);
        let base_text =
            std::fs::read_to_string(&base_path).map_err(|source| Error::Io { path: base_path.clone(), source })?;
        let base: toml::Table = toml::from_str(&base_text)
            .map_err(|e| Error::Config { file: base_path.display().to_string(), message: e.to_string() })?;
        let default_dataset = DatasetAxis { label: String::new(), config: None, set: Vec::new() };
        let datasets: Vec<&DatasetAxis> =
            if file.bench.datasets.is_empty() { vec![&default_dataset] } else { file.bench.datasets.iter().collect() };
        let bases =
            datasets.iter().map(|d| dataset_base(&base, &base_path, root, d)).collect::<Result<Vec<RunConfig>>>()?;
        let models: Vec<Option<&ModelAxis>> =
            if file.bench.models.is_empty() { vec![None] } else { file.bench.models.iter().map(Some).collect() };
        let mut points = Vec::new();
        for (&dataset, base) in datasets.iter().zip(&bases) {
            for &model in &models {
                for values in axis_product(file) {
                    points.push(Point { dataset, base, model, values });
                }
            }
        }
        let methods = file.bench.methods.clone().unwrap_or_else(|| bases[0].finetune.methods.clone());
        let builder = Builder { file, set, base_path: &base_path };
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

/// The base config of `dataset`: the base file with the data set's `[data]` section, resolved.
fn dataset_base(base: &toml::Table, base_path: &Path, root: &Path, dataset: &DatasetAxis) -> Result<RunConfig> {
    let mut table = base.clone();
    if let Some(path) = &dataset.config {
        let path = root.join(path);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let other: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::Config { file: path.display().to_string(), message: e.to_string() })?;
        let data = other.get("data").cloned().ok_or_else(|| Error::Config {
            file: path.display().to_string(),
            message: "a data-set config of a bench needs a [data] section".into(),
        })?;
        table.insert("data".into(), data);
    }
    let source = match &dataset.config {
        Some(data) => format!("{} with the [data] of {}", base_path.display(), data.display()),
        None => base_path.display().to_string(),
    };
    RunConfig::from_table(table, &source, &[])
}

/// Every combination of one value per override axis.
fn axis_product(file: &BenchFile) -> Vec<Vec<AxisPoint<'_>>> {
    let mut combos: Vec<Vec<AxisPoint<'_>>> = vec![Vec::new()];
    for axis in &file.bench.axes {
        let pretraining = axis.stages().intersects(CellKind::Pretrain.stages());
        combos = combos
            .into_iter()
            .flat_map(|c| {
                axis.values.iter().map(move |value| {
                    let mut c = c.clone();
                    c.push(AxisPoint { name: &axis.name, value, pretraining });
                    c
                })
            })
            .collect();
    }
    combos
}

struct Builder<'a> {
    file: &'a BenchFile,
    /// The command line's overrides.
    set: &'a [Override],
    base_path: &'a Path,
}

impl Builder<'_> {
    fn cells(&self, points: &[Point<'_>], methods: &[Method]) -> Result<Grid> {
        let mut pretrain_cells: Vec<Cell> = Vec::new();
        let mut method_cells: Vec<Cell> = Vec::new();
        for point in points {
            for &seed in &self.file.bench.seeds {
                let config = self.config(point, seed, CellKind::Pretrain, methods)?;
                let dataset = dataset_label(point.dataset, &config);
                let model = point
                    .model
                    .map_or_else(|| format!("{}-{}", config.model.backbone, config.model.preset), ModelAxis::label);
                let key = |variant: String, method: &str| CellKey {
                    dataset: dataset.clone(),
                    model: model.clone(),
                    variant,
                    seed,
                    method: method.into(),
                };
                let pretrain_key = key(variant(point.values_of(CellKind::Pretrain)), PRETRAINED);
                // Points that differ only in axes outside the pretraining cell's stages share it.
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
                    let kind = CellKind::Method(method);
                    let key = key(variant(point.values_of(kind)), method.name());
                    let config = self.config(point, seed, kind, &[method])?;
                    method_cells.push(Cell { index: 0, dir: cell_dir(&key), key, kind, pretrain, config });
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

    /// The run config of a `kind` cell of `point` at `seed`: the data set's base config, the
    /// model keys, the bench's overrides, the data set's, the axis values (a pretraining cell
    /// only those of axes reaching its stages), the command line's, the seed, and `methods`.
    fn config(&self, point: &Point<'_>, seed: u64, kind: CellKind, methods: &[Method]) -> Result<RunConfig> {
        let source = format!("{} (as bench cell of {})", self.base_path.display(), point_label(point));
        let in_cell = |e: Error| Error::Config { file: source.clone(), message: e.to_string() };
        let mut config = point.base.clone();
        let model_keys = point.model.map(|m| &m.keys).into_iter().flatten();
        let model =
            model_keys.map(|(k, v)| Override::of("model", k, v)).collect::<Result<Vec<_>>>().map_err(in_cell)?;
        let axes = point.values_of(kind).flat_map(|p| &p.value.set);
        let overrides = model.iter().chain(&self.file.bench.set).chain(&point.dataset.set).chain(axes).chain(self.set);
        for o in overrides {
            o.apply(&mut config).map_err(in_cell)?;
        }
        config.run.seed = seed;
        config.pretrain.seed = seed;
        config.finetune.train.seed = seed;
        config.finetune.methods = methods.to_vec();
        config.validate(&source)?;
        Ok(config)
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

/// `name=label` of each of `values`, comma-joined.
fn variant<'a, 'b: 'a>(values: impl Iterator<Item = &'a AxisPoint<'b>>) -> String {
    let parts: Vec<String> = values.map(|p| format!("{}={}", p.name, p.value.label)).collect();
    parts.join(",")
}

fn point_label(point: &Point<'_>) -> String {
    let mut parts = vec![format!("dataset {:?}", point.dataset.label)];
    if let Some(m) = point.model {
        parts.push(format!("model {:?}", m.label()));
    }
    let v = variant(point.values.iter());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::RunDir;

    /// The grid of a bench on tests/fixtures/tiny-run.toml: seeds 0 and 1, uniform and guided,
    /// then `rest` (TOML of `[bench]`), with the command line's `set`.
    fn grid(rest: &str, set: &[&str]) -> Grid {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-run.toml");
        let head =
            format!("[bench]\nbase = {:?}\nseeds = [0, 1]\nmethods = [\"uniform\", \"guided\"]\n", base.display());
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, head + rest).unwrap();
        let file = BenchFile::load(&path).unwrap();
        let set: Vec<Override> = set.iter().map(|s| Override::parse(s).unwrap()).collect();
        Grid::expand(&file, &path, &set).unwrap()
    }

    fn axis(key: &str, a: &str, b: &str) -> String {
        format!(
            "[[bench.axes]]\nname = \"x\"\nvalues = [{{ label = \"a\", set = [\"{key}={a}\"] }}, {{ label = \"b\", set = [\"{key}={b}\"] }}]\n"
        )
    }

    /// `config` with everything the fine-tuning stage alone reads cleared.
    fn outside_finetuning(config: &RunConfig) -> RunConfig {
        RunConfig { finetune: Default::default(), ..config.clone() }
    }

    #[test]
    fn an_axis_reaching_only_finetuning_shares_pretraining_and_others_do_not() {
        let cases = [
            ("finetune.train.optimizer.lr", "1e-4", "1e-3", true),
            ("finetune.train.epochs", "1", "2", true),
            ("pretrain.epochs", "1", "2", false),
            ("scoring.max_forward", "8", "12", false),
            ("smoothing.tau", "0.5", "1.0", false),
            ("eval.batch_size", "4", "8", false),
            ("data.generator.tiles", "24", "30", false),
        ];
        for (key, a, b, shared) in cases {
            let g = grid(&axis(key, a, b), &[]);
            let pretraining = g.pretrain_cells();
            assert_eq!(pretraining, if shared { 2 } else { 4 }, "{key}");
            assert_eq!(g.cells.len(), pretraining + 8, "{key}");
            for cell in &g.cells[pretraining..] {
                let pre = &g.cells[cell.pretrain];
                assert_eq!(pre.kind, CellKind::Pretrain);
                assert_eq!((pre.key.seed, cell.key.variant.starts_with("x=")), (cell.key.seed, true), "{key}");
                // Each cell fine-tunes from a pretraining cell of exactly its config.
                assert_eq!(outside_finetuning(&pre.config), outside_finetuning(&cell.config), "{key} {:?}", cell.key);
                assert_eq!(pre.key.variant.is_empty(), shared, "{key}");
            }
        }
    }

    #[test]
    fn cells_resolve_as_lssg_run_with_the_same_overrides() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bench.toml");
        let file = BenchFile::load(&path).unwrap();
        let g = Grid::expand(&file, &path, &[Override::parse("eval.batch_size=4").unwrap()]).unwrap();
        let base = path.with_file_name("tiny-run.toml");
        for cell in &g.cells {
            let lr = if cell.key.variant.ends_with("1e-3") { "1e-3" } else { "1e-4" };
            let seed = cell.key.seed;
            let methods = match cell.kind {
                CellKind::Pretrain => "[\"uniform\", \"guided\"]".to_string(),
                CellKind::Method(m) => format!("[\"{m}\"]"),
            };
            let mut sets = vec!["pretrain.epochs=2", "finetune.train.epochs=1", "data.generator.tiles=24"];
            let lr = format!("finetune.train.optimizer.lr={lr}");
            if !cell.key.variant.is_empty() {
                sets.push(&lr);
            }
            let sets = sets.iter().map(|s| s.to_string()).chain([
                "eval.batch_size=4".to_string(),
                format!("run.seed={seed}"),
                format!("pretrain.seed={seed}"),
                format!("finetune.train.seed={seed}"),
                format!("finetune.methods={methods}"),
            ]);
            let run = RunConfig::load(&base, &sets.collect::<Vec<_>>()).unwrap();
            assert_eq!(cell.config, run, "{:?}", cell.key);
            assert_eq!(cell.config.to_toml(), run.to_toml());
        }
    }

    #[test]
    fn set_applies_to_every_cell_last_and_is_part_of_its_identity() {
        let file = "set = [\"pretrain.epochs=2\"]\n".to_string() + &axis("finetune.train.optimizer.lr", "1e-4", "1e-3");
        let full = grid(&file, &[]);
        let short = grid(&file, &["pretrain.epochs=1", "finetune.train.optimizer.lr=5e-4"]);
        assert_eq!(full.cells.len(), short.cells.len());
        for (f, s) in full.cells.iter().zip(&short.cells) {
            assert_eq!((f.config.pretrain.epochs, s.config.pretrain.epochs), (2, 1));
            if let CellKind::Method(_) = s.kind {
                assert_eq!(s.config.finetune.train.optimizer.lr, 5e-4, "--set comes after the axes");
            }
            // The same directory, but not the same cell: a directory of one refuses the other.
            assert_eq!(f.dir, s.dir);
            let tmp = tempfile::tempdir().unwrap();
            let dir = RunDir::new(tmp.path());
            dir.prepare(&s.config).unwrap();
            dir.check_config(&s.config).unwrap();
            let e = dir.check_config(&f.config).unwrap_err().to_string();
            assert!(e.contains("[pretrain]"), "{e}");
        }
    }

    #[test]
    fn a_bad_override_names_its_key_and_its_cell() {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-run.toml");
        let path = dir.path().join("bench.toml");
        let text = format!("[bench]\nbase = {:?}\nseeds = [0]\n", base.display()) + &axis("pretrain.epochz", "1", "2");
        std::fs::write(&path, text).unwrap();
        let file = BenchFile::load(&path).unwrap();
        let e = Grid::expand(&file, &path, &[]).unwrap_err().to_string();
        assert!(e.contains("pretrain.epochz") && e.contains("bench cell of") && e.contains("x=a"), "{e}");
        // An unknown section is caught when the file is read.
        std::fs::write(
            &path,
            format!("[bench]\nbase = {:?}\nseeds = [0]\nset = [\"pretrian.epochs=1\"]\n", base.display()),
        )
        .unwrap();
        let e = BenchFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("bench.toml") && e.contains("unknown key pretrian.epochs"), "{e}");
    }
}
