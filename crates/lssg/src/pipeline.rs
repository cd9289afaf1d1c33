//! `lssg run`: pretrain → score → fine-tune every method → evaluate every method under every
//! scenario → results tables (SPEC §1).
//!
//! Each stage is done when its output file exists (written atomically), so running the same
//! command again after an interruption continues from the last finished stage; the trainer
//! continues from the last finished epoch inside a stage.
//!
//! ```text
//! <dir>/config.toml  run.log
//! <dir>/pretrain/    checkpoint/… metrics.jsonl
//! <dir>/scoring/     distortion.json probabilities.json
//! <dir>/finetune/<method>/  checkpoint/… metrics.jsonl
//! <dir>/eval/<method>.json
//! <dir>/results.{md,json,csv}
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use lssg_backbones::{ModelConfig, SegmentationModel};
use lssg_datasets::DataSplits;
use lssg_scenario::{ModalitySet, ProbabilitiesFile, SamplingStrategy, io::write_atomic};
use lssg_scoring::DistortionReport;
use lssg_trainer::{EvalReport, TrainObserver};
use tch::{Device, nn};

use crate::config::{LoraSampling, Method, RunConfig};
use crate::error::{Error, Result};
use crate::results::RunResults;

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
    /// A fine-tuning method's directory.
    pub fn finetune(&self, method: Method) -> PathBuf {
        self.root.join("finetune").join(method.name())
    }
    /// The evaluation of `name` (a method or `pretrained`).
    pub fn eval(&self, name: &str) -> PathBuf {
        self.root.join("eval").join(format!("{name}.json"))
    }
}

/// Messages of the pipeline for the user; also appended to `run.log`.
pub trait Reporter {
    /// A stage starts or is skipped, or something noteworthy happened.
    fn info(&mut self, message: &str);
    /// `done` of `total` items of `what` (e.g. scoring samples) are finished.
    fn progress(&mut self, what: &str, done: usize, total: usize);
    /// The observer that draws training and evaluation progress.
    fn observer(&mut self) -> &mut dyn TrainObserver;
}

/// Appends `message` to `run.log` with a timestamp and forwards it to the reporter.
fn log(dir: &RunDir, reporter: &mut dyn Reporter, message: &str) -> Result<()> {
    reporter.info(message);
    let path = dir.root().join("run.log");
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| Error::Io { path: path.clone(), source })?;
    writeln!(f, "[{secs}] {message}").map_err(|source| Error::Io { path, source })
}

/// Writes the resolved config, or checks that an existing run directory was made by the same
/// config (a resumed run must not silently mix two configs).
fn prepare_dir(config: &RunConfig, dir: &RunDir) -> Result<()> {
    let path = dir.config();
    let resolved = config.to_toml();
    if path.exists() {
        let existing = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let previous = RunConfig::parse(&existing, &path.display().to_string(), &[])?;
        let mut a = previous.clone();
        let mut b = config.clone();
        // Where the run lives does not change its results.
        a.run.output_dir = PathBuf::new();
        b.run.output_dir = PathBuf::new();
        if a != b {
            let mut differences = Vec::new();
            let (ta, tb): (toml::Table, toml::Table) = (
                toml::from_str(&a.to_toml()).expect("own TOML parses"),
                toml::from_str(&b.to_toml()).expect("own TOML parses"),
            );
            for (k, v) in &ta {
                if tb.get(k) != Some(v) {
                    differences.push(format!("[{k}]"));
                }
            }
            return Err(Error::ConfigChanged { dir: dir.root().to_path_buf(), differences: differences.join(", ") });
        }
        return Ok(());
    }
    write_atomic(&path, resolved.as_bytes())?;
    Ok(())
}

/// The model config with the data set's class count and, for LoRA, adapters.
fn model_config(config: &RunConfig, data: &DataSplits, lora: bool) -> ModelConfig {
    let mut m = config.model.clone();
    m.classes = data.train.num_classes() as i64;
    m.lora = if lora { Some(config.finetune.lora) } else { None };
    m
}

/// Builds a model on `device`, loading `weights` when given (partially for LoRA: the adapters
/// are new). Returns the var store and the model.
fn build_model(
    model: &ModelConfig,
    channels: &[i64],
    device: Device,
    seed: u64,
    weights: Option<&Path>,
) -> Result<(nn::VarStore, Box<dyn SegmentationModel>)> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let net = model.init(&vs.root(), channels)?;
    if let Some(w) = weights {
        if model.lora.is_some() {
            lssg_backbones::checkpoint::load_base(&vs, w)?;
            lssg_backbones::lora::freeze_base(&vs);
        } else {
            lssg_backbones::checkpoint::load(&vs, w)?;
        }
    }
    Ok((vs, net))
}

/// The sampling strategy of a fine-tuning method.
fn strategy(
    config: &RunConfig,
    method: Method,
    set: &ModalitySet,
    probabilities: &ProbabilitiesFile,
    source: &Path,
) -> Result<SamplingStrategy> {
    let guided = || -> Result<SamplingStrategy> {
        Ok(SamplingStrategy::Weighted {
            probabilities: probabilities.probabilities_for(set, &source.display().to_string())?,
        })
    };
    Ok(match method {
        Method::Uniform => SamplingStrategy::Uniform,
        Method::Guided => guided()?,
        Method::Lora => match config.finetune.lora_sampling {
            LoraSampling::Uniform => SamplingStrategy::Uniform,
            LoraSampling::Guided => guided()?,
        },
        Method::FullOnly => SamplingStrategy::FullOnly,
        Method::Fixed => {
            let text = config.finetune.fixed_scenario.as_deref().unwrap_or_default();
            SamplingStrategy::Fixed { scenario: set.parse_scenario(text)? }
        }
    })
}

/// Opens the configured data set; a missing file gets a hint on where the data should be.
pub fn open_data(config: &RunConfig) -> Result<DataSplits> {
    lssg_datasets::open(&config.data).map_err(|e| match e {
        lssg_datasets::Error::Missing { .. } => Error::DataMissing { source: e },
        e => Error::Data(e),
    })
}

/// Reads a JSON file written by an earlier stage.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
}

/// Writes a JSON file atomically.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|source| Error::Json { path: path.to_path_buf(), source })?;
    Ok(write_atomic(path, text.as_bytes())?)
}

/// Scores the pretrained checkpoint and writes `distortion.json` and `probabilities.json`.
pub fn score(
    config: &RunConfig,
    data: &DataSplits,
    checkpoint: &Path,
    device: Device,
    reporter: &mut dyn Reporter,
) -> Result<(DistortionReport, ProbabilitiesFile)> {
    let set = data.train.modalities().clone();
    let channels: Vec<i64> = set.channels().iter().map(|&c| c as i64).collect();
    let (_vs, net) =
        build_model(&model_config(config, data, false), &channels, device, config.run.seed, Some(checkpoint))?;
    let mut progress = |done: usize, total: usize| reporter.progress("scoring", done, total);
    let report =
        lssg_scoring::measure_distortion(net.as_ref(), data.train.clone(), &config.scoring, device, &mut progress)?;
    let backbone =
        serde_json::to_value(config.model.backbone).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let probabilities =
        lssg_scoring::probabilities(&report, &set, &config.smoothing, &backbone, &checkpoint.display().to_string())?;
    Ok((report, probabilities))
}

/// Evaluates `checkpoint` under `scenarios` (every scenario by default) on the test split.
pub fn evaluate(
    config: &RunConfig,
    data: &DataSplits,
    checkpoint: &Path,
    lora: bool,
    scenarios: Option<&str>,
    device: Device,
    reporter: &mut dyn Reporter,
) -> Result<EvalReport> {
    let set = data.test.modalities().clone();
    let list = set.parse_scenario_list(scenarios.unwrap_or(&config.eval.scenarios))?;
    let channels: Vec<i64> = set.channels().iter().map(|&c| c as i64).collect();
    let model = model_config(config, data, lora);
    tch::manual_seed(config.run.seed as i64);
    let vs = nn::VarStore::new(device);
    let net = model.init(&vs.root(), &channels)?;
    lssg_backbones::checkpoint::load(&vs, checkpoint)?;
    Ok(lssg_trainer::evaluate(
        net.as_ref(),
        data.test.clone(),
        &list,
        config.eval.batch_size,
        device,
        reporter.observer(),
    )?)
}

/// Applies the process-wide settings of `[run]` (libtorch threads).
pub fn apply_run_settings(config: &RunConfig) {
    if let Some(n) = config.run.threads {
        tch::set_num_threads(n as i32);
    }
}

/// Runs the whole pipeline in `dir`, resuming whatever an earlier run finished.
pub fn run(config: &RunConfig, dir: &RunDir, reporter: &mut dyn Reporter) -> Result<RunResults> {
    apply_run_settings(config);
    std::fs::create_dir_all(dir.root()).map_err(|source| Error::Io { path: dir.root().to_path_buf(), source })?;
    prepare_dir(config, dir)?;
    let device = config.run.device.resolve()?;
    log(dir, reporter, &format!("run directory {}, device {device:?}", dir.root().display()))?;

    let data = open_data(config)?;
    let set = data.train.modalities().clone();
    let channels: Vec<i64> = set.channels().iter().map(|&c| c as i64).collect();
    log(
        dir,
        reporter,
        &format!(
            "data: {} train / {} val / {} test tiles, modalities {}, {} classes",
            data.train.len(),
            data.val.len(),
            data.test.len(),
            set.names().join(","),
            data.train.num_classes()
        ),
    )?;

    // 1. Pretraining with uniform scenario dropout.
    log(dir, reporter, "stage pretrain")?;
    let pretrained = {
        let (vs, net) = build_model(&model_config(config, &data, false), &channels, device, config.run.seed, None)?;
        let summary = lssg_trainer::train(
            net.as_ref(),
            &vs,
            data.train.clone(),
            data.val.clone(),
            SamplingStrategy::Uniform,
            &config.pretrain,
            &dir.pretrain(),
            device,
            reporter.observer(),
        )?;
        summary.checkpoint
    };

    // 2. Scoring and smoothing.
    let probabilities = if dir.probabilities().exists() {
        log(dir, reporter, "stage scoring: done earlier")?;
        ProbabilitiesFile::read(&dir.probabilities())?
    } else {
        log(dir, reporter, "stage scoring")?;
        let (report, probabilities) = score(config, &data, &pretrained, device, reporter)?;
        write_json(&dir.distortion(), &report)?;
        probabilities.write(&dir.probabilities())?;
        probabilities
    };

    // 3. Fine-tuning, every method from the same pretrained weights.
    let mut checkpoints: Vec<(String, PathBuf, bool)> = Vec::new();
    if config.eval.include_pretrained {
        checkpoints.push(("pretrained".into(), pretrained.clone(), false));
    }
    for &method in &config.finetune.methods {
        log(dir, reporter, &format!("stage finetune/{}", method.name()))?;
        let lora = method == Method::Lora;
        let strategy = strategy(config, method, &set, &probabilities, &dir.probabilities())?;
        let (vs, net) =
            build_model(&model_config(config, &data, lora), &channels, device, config.run.seed, Some(&pretrained))?;
        let summary = lssg_trainer::train(
            net.as_ref(),
            &vs,
            data.train.clone(),
            data.val.clone(),
            strategy,
            &config.finetune.train,
            &dir.finetune(method),
            device,
            reporter.observer(),
        )?;
        checkpoints.push((method.name().to_string(), summary.checkpoint, lora));
    }

    // 4. Evaluation under every scenario.
    let mut reports = Vec::new();
    for (name, checkpoint, lora) in &checkpoints {
        let path = dir.eval(name);
        let report: EvalReport = if path.exists() {
            log(dir, reporter, &format!("stage eval/{name}: done earlier"))?;
            read_json(&path)?
        } else {
            log(dir, reporter, &format!("stage eval/{name}"))?;
            let r = evaluate(config, &data, checkpoint, *lora, None, device, reporter)?;
            write_json(&path, &r)?;
            r
        };
        reports.push((name.clone(), report));
    }

    // 5. Results.
    let binary = data.test.num_classes() == 1;
    let evaluations = reports
        .into_iter()
        .map(|(name, r)| (name, r.scenarios.into_iter().map(|s| (s.scenario, s.metrics)).collect()))
        .collect();
    let results = RunResults::new(evaluations, binary);
    results.write(dir.root())?;
    log(dir, reporter, &format!("results written to {}", dir.root().join("results.md").display()))?;
    Ok(results)
}

/// `lssg score`: opens the data and device of `config` and scores `checkpoint`.
pub fn score_checkpoint(
    config: &RunConfig,
    checkpoint: &Path,
    reporter: &mut dyn Reporter,
) -> Result<(DistortionReport, ProbabilitiesFile)> {
    apply_run_settings(config);
    let device = config.run.device.resolve()?;
    let data = open_data(config)?;
    score(config, &data, checkpoint, device, reporter)
}

/// `lssg eval`: opens the data and device of `config` and evaluates `checkpoint`.
pub fn evaluate_checkpoint(
    config: &RunConfig,
    checkpoint: &Path,
    lora: bool,
    scenarios: Option<&str>,
    reporter: &mut dyn Reporter,
) -> Result<EvalReport> {
    apply_run_settings(config);
    let device = config.run.device.resolve()?;
    let data = open_data(config)?;
    evaluate(config, &data, checkpoint, lora, scenarios, device, reporter)
}
