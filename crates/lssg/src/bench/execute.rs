//! Running cells in this process (docs/bench.md §2): each cell under an exclusive lock on its
//! directory, skipped when its `cell.json` exists, resumed through the `lssg run` machinery
//! otherwise. A fine-tuning cell first makes sure its pretraining cell is finished — doing it
//! itself, under that cell's lock, when nobody has — so no pretraining is ever trained twice,
//! whichever order and however many processes run the cells. A cell's identity is its resolved
//! config: a directory whose `config.toml` differs (the same grid with other overrides) is never
//! taken for the cell, finished or not.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lssg_report::CELL_FILE;

use crate::bench::file::BenchFile;
use crate::bench::grid::{Cell, CellKind, Grid, PRETRAINED};
use crate::bench::overrides::Override;
use crate::bench::record::{CellOutput, cell_record};
use crate::error::{Error, Result};
use crate::pipeline::{self, Opened, Pretrained};
use crate::reporter::Reporter;
use crate::run_dir::{RunDir, write_json};

/// The report settings a bench leaves in its output directory.
pub const REPORT_CONFIG: &str = "report.toml";

/// A bench file expanded into its grid, with the directory its cells go to.
#[derive(Debug, Clone)]
pub struct Bench {
    /// The bench file.
    pub file: BenchFile,
    /// Where it was read from.
    pub path: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// Its cells.
    pub grid: Grid,
    /// libtorch threads of every cell run by this process (overrides `[run] threads`).
    pub threads: Option<usize>,
    /// The command line's overrides of every cell, which child processes and Slurm tasks repeat.
    pub set: Vec<Override>,
}

/// Where a cell stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellStatus {
    /// Its `cell.json` exists.
    Done,
    /// Its directory exists but it has not finished (interrupted, failed, or running now).
    Started,
    /// Nothing of it exists.
    Pending,
    /// Its directory holds the work of another config (e.g. the same grid with other `--set`
    /// overrides): running it is an error.
    Conflict,
}

/// What running a cell did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellOutcome {
    /// It ran (or resumed) to the end now.
    Ran,
    /// It had finished earlier.
    DoneEarlier,
}

impl Bench {
    /// Reads the bench file at `path` and expands it, with the command line's overrides `set`
    /// applied to every cell; cells go under `out`.
    pub fn open(path: &Path, out: &Path, set: Vec<Override>) -> Result<Self> {
        let file = BenchFile::load(path)?;
        let grid = Grid::expand(&file, path, &set)?;
        Ok(Self { file, path: path.to_path_buf(), out: out.to_path_buf(), grid, threads: None, set })
    }

    /// Writes the bench's `[report]` settings to `<out>/report.toml`, where `lssg report`
    /// finds them (unchanged files are left alone: many Slurm tasks call this at once).
    pub fn write_report_config(&self) -> Result<()> {
        let path = self.out.join(REPORT_CONFIG);
        let text = toml::to_string_pretty(&self.file.report)
            .map_err(|e| Error::Bench(format!("serialising [report]: {e}")))?;
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            lssg_scenario::io::write_atomic(&path, text.as_bytes())?;
        }
        Ok(())
    }

    /// The run directory of `cell`.
    pub fn dir(&self, cell: &Cell) -> PathBuf {
        self.out.join(&cell.dir)
    }

    /// Where `cell` stands.
    pub fn status(&self, cell: &Cell) -> CellStatus {
        let dir = RunDir::new(self.dir(cell));
        if !dir.root().exists() {
            CellStatus::Pending
        } else if dir.check_config(&self.config(cell)).is_err() {
            CellStatus::Conflict
        } else if dir.root().join(CELL_FILE).exists() {
            CellStatus::Done
        } else {
            CellStatus::Started
        }
    }

    /// Checks, before anything runs, that no directory `cells` or their pretraining cells use
    /// holds the work of another config; the error lists those that do and why the first does.
    pub fn check_identity(&self, cells: &[usize]) -> Result<()> {
        let mut needed: Vec<usize> = cells.iter().flat_map(|&i| [self.grid.cells[i].pretrain, i]).collect();
        needed.sort_unstable();
        needed.dedup();
        let conflicts: Vec<(usize, Error)> = needed
            .into_iter()
            .filter_map(|i| {
                let cell = &self.grid.cells[i];
                RunDir::new(self.dir(cell)).check_config(&self.config(cell)).err().map(|e| (i, e))
            })
            .collect();
        let Some((_, first)) = conflicts.first() else { return Ok(()) };
        let indices: Vec<usize> = conflicts.iter().map(|(i, _)| *i).collect();
        Err(Error::Bench(format!(
            "cells {indices:?} were run with another config (another bench file or other --set overrides) in {}; {first}",
            self.out.display()
        )))
    }

    /// Runs cell `index` (its pretraining cell first, when that has not finished).
    pub fn run_cell(&self, index: usize, reporter: &mut dyn Reporter) -> Result<CellOutcome> {
        let cell = self.cell(index)?;
        if let CellKind::Method(_) = cell.kind {
            self.run_cell(cell.pretrain, reporter)?;
        }
        let dir = RunDir::new(self.dir(cell));
        let _lock = lock(dir.root(), reporter)?;
        let config = self.config(cell);
        // Before the finished check: a cell finished under another config is not this cell.
        dir.prepare(&config)?;
        if dir.root().join(CELL_FILE).exists() {
            return Ok(CellOutcome::DoneEarlier);
        }
        let started = Instant::now();
        dir.log(reporter, &format!("bench cell {index}: {}", describe(cell)))?;
        let opened = pipeline::open(&config, &dir, reporter)?;
        let record = match cell.kind {
            CellKind::Pretrain => {
                let pretrained = pipeline::pretrain_and_score(&config, &opened, &dir, reporter)?;
                let eval = pipeline::evaluate_stage(
                    &config,
                    PRETRAINED,
                    &pretrained.checkpoint,
                    false,
                    &opened,
                    &dir,
                    reporter,
                )?;
                let scores: lssg_scoring::DistortionReport = crate::run_dir::read_json(&dir.distortion())?;
                let maps = read_maps(&dir, PRETRAINED)?;
                let output = CellOutput {
                    eval: &eval,
                    eval_path: &dir.eval(PRETRAINED),
                    stage: "pretrain".into(),
                    history: &pretrained.summary.history,
                    probabilities: Some(&pretrained.probabilities),
                    scores: Some(&scores),
                    task_probabilities: Some(&pretrained.task_probabilities),
                    maps: maps.as_ref(),
                };
                cell_record(index, &cell.key, &output, started.elapsed().as_secs_f64())?
            }
            CellKind::Method(method) => {
                let pretrained = self.pretrained(cell.pretrain, &opened, reporter)?;
                let summary = pipeline::finetune_method(&config, method, &opened, &pretrained, &dir, reporter)?;
                let name = method.name();
                let eval = pipeline::evaluate_stage(
                    &config,
                    name,
                    &summary.checkpoint,
                    method.uses_lora(),
                    &opened,
                    &dir,
                    reporter,
                )?;
                let maps = read_maps(&dir, name)?;
                let output = CellOutput {
                    eval: &eval,
                    eval_path: &dir.eval(name),
                    stage: format!("finetune/{name}"),
                    history: &summary.history,
                    probabilities: None,
                    scores: None,
                    task_probabilities: None,
                    maps: maps.as_ref(),
                };
                cell_record(index, &cell.key, &output, started.elapsed().as_secs_f64())?
            }
        };
        write_json(&dir.root().join(CELL_FILE), &record)?;
        dir.log(reporter, &format!("bench cell {index} finished"))?;
        Ok(CellOutcome::Ran)
    }

    /// The finished pretraining of cell `index`, read back under its lock.
    fn pretrained(&self, index: usize, opened: &Opened, reporter: &mut dyn Reporter) -> Result<Pretrained> {
        let cell = self.cell(index)?;
        let dir = RunDir::new(self.dir(cell));
        let _lock = lock(dir.root(), reporter)?;
        pipeline::pretrain_and_score(&self.config(cell), opened, &dir, reporter)
    }

    /// `cell`'s config, with this process' thread count and its directory.
    fn config(&self, cell: &Cell) -> crate::config::RunConfig {
        let mut config = cell.config.clone();
        config.run.output_dir = self.dir(cell);
        if self.threads.is_some() {
            config.run.threads = self.threads;
        }
        config
    }

    fn cell(&self, index: usize) -> Result<&Cell> {
        self.grid.cells.get(index).ok_or_else(|| {
            Error::Bench(format!("cell {index} does not exist: the grid has {} cells", self.grid.cells.len()))
        })
    }
}

/// The predicted maps evaluation `name` left in `dir`, if protocols wrote any.
fn read_maps(dir: &RunDir, name: &str) -> Result<Option<lssg_scenario::robustness::TileMaps>> {
    let path = dir.eval_maps(name);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(crate::run_dir::read_json(&path)?))
}

/// One line naming a cell: `pretrain synthetic cmx-tiny seed 0` or `guided … seed 0 lr=1e-3`.
pub fn describe(cell: &Cell) -> String {
    let k = &cell.key;
    let what = match cell.kind {
        CellKind::Pretrain => "pretrain".to_string(),
        CellKind::Method(m) => m.name().to_string(),
    };
    let variant = if k.variant.is_empty() { String::new() } else { format!(" {}", k.variant) };
    format!("{what} {} {} seed {}{variant}", k.dataset, k.model, k.seed)
}

/// Takes the exclusive lock of the cell directory `dir` (created if needed), waiting for
/// another process that holds it; released when the file is dropped.
fn lock(dir: &Path, reporter: &mut dyn Reporter) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(".lock");
    let file = File::create(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            reporter.info(&format!("waiting for {} (another process runs this cell)", dir.display()))
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(Error::Io { path, source }),
    }
    file.lock().map_err(|source| Error::Io { path, source })?;
    Ok(file)
}
