//! The run directory of `lssg run`: where each stage's files go, the resolved config written
//! before any work (and compared when a run resumes), and the run log.
//!
//! ```text
//! <dir>/config.toml  run.log
//! <dir>/pretrain/    checkpoint/… metrics.jsonl
//! <dir>/scoring/     distortion.json probabilities.json probabilities-task.json
//!                    latent_per_sample.npy task_per_sample.npy
//! <dir>/finetune/<method>/  checkpoint/… metrics.jsonl
//! <dir>/eval/<method>.json
//! <dir>/results.{md,json,csv}
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use lssg_scenario::io::write_atomic;
use lssg_trainer::Method;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::reporter::{Reporter, Stage, StageStatus};

/// Where the run's files go.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `run.log`.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("run.log")
    }
    /// The pretraining stage's directory.
    pub fn pretrain(&self) -> PathBuf {
        self.root.join("pretrain")
    }
    /// `scoring/distortion.json`.
    pub fn distortion(&self) -> PathBuf {
        self.root.join("scoring").join("distortion.json")
    }
    /// `scoring/probabilities.json`.
    pub fn probabilities(&self) -> PathBuf {
        self.root.join("scoring").join("probabilities.json")
    }
    /// `scoring/probabilities-task.json`: the task-score distribution (docs/method.md §3.4).
    pub fn task_probabilities(&self) -> PathBuf {
        self.root.join("scoring").join("probabilities-task.json")
    }
    /// `scoring/latent_per_sample.npy`: d_k(x), float32 `[N, S]`.
    pub fn latent_per_sample(&self) -> PathBuf {
        self.root.join("scoring").join("latent_per_sample.npy")
    }
    /// `scoring/task_per_sample.npy`: t_k(x), float32 `[N, S]`.
    pub fn task_per_sample(&self) -> PathBuf {
        self.root.join("scoring").join("task_per_sample.npy")
    }
    /// A fine-tuning method's directory.
    pub fn finetune(&self, method: Method) -> PathBuf {
        lssg_trainer::finetune::method_dir(&self.root.join("finetune"), method)
    }
    /// The evaluation of `name` (a method or `pretrained`).
    pub fn eval(&self, name: &str) -> PathBuf {
        self.root.join("eval").join(format!("{name}.json"))
    }

    /// `eval/<name>.maps.json`: the predicted maps of the first test tiles (with protocols).
    pub fn eval_maps(&self, name: &str) -> PathBuf {
        self.root.join("eval").join(format!("{name}.maps.json"))
    }

    /// Creates the directory and writes the resolved config, or checks that an existing run
    /// directory was made by the same config (a resumed run must not silently mix two configs).
    pub fn prepare(&self, config: &RunConfig) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(|source| Error::Io { path: self.root.clone(), source })?;
        let path = self.config();
        if !path.exists() {
            return Ok(write_atomic(&path, config.to_toml().as_bytes())?);
        }
        self.check_config(config)
    }

    /// Checks that the directory's `config.toml`, when it has one, was written for `config`
    /// (where the run lives and its thread count aside); the error names the differing sections.
    pub fn check_config(&self, config: &RunConfig) -> Result<()> {
        let path = self.config();
        if !path.exists() {
            return Ok(());
        }
        let existing = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let previous = RunConfig::parse(&existing, &path.display().to_string(), &[])?;
        // Where the run lives does not change what it computes, and neither does the thread
        // count in any way a resume must refuse (`lssg bench --jobs N` divides the threads).
        let (mut a, mut b) = (previous, config.clone());
        for c in [&mut a, &mut b] {
            c.run.output_dir = PathBuf::new();
            c.run.threads = None;
        }
        if a == b {
            return Ok(());
        }
        let sections = |c: &RunConfig| toml::Table::try_from(c).unwrap_or_default();
        let (ta, tb) = (sections(&a), sections(&b));
        let differences: Vec<String> =
            ta.iter().filter(|(k, v)| tb.get(*k) != Some(*v)).map(|(k, _)| format!("[{k}]")).collect();
        Err(Error::ConfigChanged { dir: self.root.clone(), differences: differences.join(", ") })
    }

    /// Appends `message` to `run.log` with the local time and forwards it to the reporter.
    pub fn log(&self, reporter: &mut dyn Reporter, message: &str) -> Result<()> {
        reporter.info(message);
        self.append_log(message)
    }

    /// Logs that `stage` runs now or was done earlier, to `run.log` and the reporter.
    pub fn log_stage(&self, reporter: &mut dyn Reporter, stage: &Stage, status: StageStatus) -> Result<()> {
        reporter.stage(stage, status);
        self.append_log(&status.line(stage))?;
        // Data-parallel ranks enter and leave stages together, after rank 0 wrote the files
        // the next stage's decisions read (docs/distributed.md §2).
        Ok(lssg_trainer::dist::barrier()?)
    }

    /// Appends `[YYYY-MM-DD HH:MM:SS] message` (local time) to `run.log`.
    fn append_log(&self, message: &str) -> Result<()> {
        // Only rank 0 of a data-parallel run writes.
        if !lssg_scenario::io::writes() {
            return Ok(());
        }
        let path = self.log_file();
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io { path: path.clone(), source })?;
        writeln!(f, "[{now}] {message}").map_err(|source| Error::Io { path, source })
    }
}

/// Reads a JSON file written by an earlier stage.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

/// Writes a JSON file atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    Ok(write_atomic(path, text.as_bytes())?)
}
