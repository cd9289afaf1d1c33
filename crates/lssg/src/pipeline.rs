//! `lssg run`: pretrain → score → fine-tune every method → evaluate every method under every
//! scenario → results tables (docs/method.md §1; the data flow is in docs/architecture.md).
//!
//! This module only sequences the stages and their files: each stage is one library call
//! ([`lssg_trainer::pretrain`], [`lssg_scoring::measure_distortion`] and
//! [`lssg_scoring::probabilities`], [`lssg_trainer::finetune`], [`lssg_trainer::evaluate`]).
//! Each stage is done when its output file exists (written atomically), so running the same
//! command again after an interruption continues from the last finished stage; the trainer
//! continues from the last finished epoch inside a stage. The directory layout is in
//! [`crate::run_dir`].

use std::path::{Path, PathBuf};

use lssg_backbones::Weights;
use lssg_datasets::DataSplits;
use lssg_scenario::ProbabilitiesFile;
use lssg_scoring::DistortionReport;
use lssg_trainer::{EvalReport, FinetuneFrom, Method, Network};
use tch::Device;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::reporter::{Reporter, Stage, StageStatus};
use crate::results::RunResults;
use crate::run_dir::{RunDir, read_json, write_json};

/// Opens the configured data set; a missing file gets a hint on where the data should be.
pub fn open_data(config: &RunConfig) -> Result<DataSplits> {
    lssg_datasets::open(&config.data).map_err(|e| match e {
        lssg_datasets::Error::Missing { .. } => Error::DataMissing { source: e },
        e => Error::Data(e),
    })
}

/// The run's network for `data` on `device`: the config's architecture with the data set's
/// classes and channels, initialised from `[run] seed`.
pub fn network(config: &RunConfig, data: &DataSplits, device: Device) -> Network {
    Network::for_data(&config.model, data, config.run.seed, device)
}

/// Scores the pretrained `checkpoint` on the training split: the distortion report and the
/// probabilities file built from it.
pub fn score(
    config: &RunConfig,
    data: &DataSplits,
    network: &Network,
    checkpoint: &Path,
    reporter: &mut dyn Reporter,
) -> Result<(DistortionReport, ProbabilitiesFile)> {
    let model = network.load(&network.model, Weights::Checkpoint(checkpoint))?;
    let mut progress = |done: usize, total: usize| reporter.progress("scoring", done, total);
    let report = lssg_scoring::measure_distortion(
        model.net.as_ref(),
        data.train.clone(),
        &config.scoring,
        network.device,
        &mut progress,
    )?;
    let probabilities = lssg_scoring::probabilities(
        &report,
        data.train.modalities(),
        &config.smoothing,
        network.model.backbone.as_str(),
        &checkpoint.display().to_string(),
    )?;
    Ok((report, probabilities))
}

/// Evaluates `checkpoint` (with LoRA adapters when `lora`) under `scenarios` (the config's
/// `eval.scenarios` by default) on the test split.
pub fn evaluate(
    config: &RunConfig,
    data: &DataSplits,
    network: &Network,
    checkpoint: &Path,
    lora: bool,
    scenarios: Option<&str>,
    reporter: &mut dyn Reporter,
) -> Result<EvalReport> {
    let set = data.test.modalities();
    let list = set.parse_scenario_list(scenarios.unwrap_or(&config.eval.scenarios))?;
    // The network as the `lora` method trained it (adapters), or the plain one.
    let method = if lora { Method::Lora } else { Method::Uniform };
    let model_config = config.finetune.model_config(method, &network.model);
    let model = network.load(&model_config, Weights::Checkpoint(checkpoint))?;
    Ok(lssg_trainer::evaluate(
        model.net.as_ref(),
        data.test.clone(),
        &list,
        config.eval.batch_size,
        network.device,
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
    dir.prepare(config)?;
    let device = config.run.device.resolve()?;
    let threads = tch::get_num_threads();
    dir.log(
        reporter,
        &format!("run directory {}, device {device:?}, {threads} libtorch threads", dir.root().display()),
    )?;
    let data = open_data(config)?;
    let set = data.train.modalities();
    let summary = format!(
        "data: {} train / {} val / {} test tiles, modalities {}, {} classes",
        data.train.len(),
        data.val.len(),
        data.test.len(),
        set.names().join(","),
        data.train.num_classes()
    );
    dir.log(reporter, &summary)?;
    let network = network(config, &data, device);

    // 1. Pretraining with uniform scenario dropout.
    dir.log_stage(reporter, &Stage::Pretrain, StageStatus::Running)?;
    let pretrained =
        lssg_trainer::pretrain(&network, &data, &config.pretrain, &dir.pretrain(), reporter.observer())?.checkpoint;

    // 2. Scoring and smoothing.
    let probabilities = if dir.probabilities().exists() {
        dir.log_stage(reporter, &Stage::Scoring, StageStatus::DoneEarlier)?;
        ProbabilitiesFile::read(&dir.probabilities())?
    } else {
        dir.log_stage(reporter, &Stage::Scoring, StageStatus::Running)?;
        let (report, probabilities) = score(config, &data, &network, &pretrained, reporter)?;
        write_json(&dir.distortion(), &report)?;
        probabilities.write(&dir.probabilities())?;
        probabilities
    };

    // 3. Fine-tuning, every method from the same pretrained weights.
    let mut checkpoints: Vec<(String, PathBuf, bool)> = Vec::new();
    if config.eval.include_pretrained {
        checkpoints.push(("pretrained".into(), pretrained.clone(), false));
    }
    let probabilities_path = dir.probabilities();
    let from = FinetuneFrom { pretrained: &pretrained, probabilities: Some((&probabilities, &probabilities_path)) };
    for &method in &config.finetune.methods {
        dir.log_stage(reporter, &Stage::Finetune(method), StageStatus::Running)?;
        let summary = lssg_trainer::finetune(
            method,
            &config.finetune,
            &network,
            from,
            &data,
            &dir.finetune(method),
            reporter.observer(),
        )?;
        checkpoints.push((method.name().to_string(), summary.checkpoint, method.uses_lora()));
    }

    // 4. Evaluation under every scenario.
    let mut evaluations = Vec::new();
    for (name, checkpoint, lora) in &checkpoints {
        let path = dir.eval(name);
        let stage = Stage::Eval(name.clone());
        let report: EvalReport = if path.exists() {
            dir.log_stage(reporter, &stage, StageStatus::DoneEarlier)?;
            read_json(&path)?
        } else {
            dir.log_stage(reporter, &stage, StageStatus::Running)?;
            let r = evaluate(config, &data, &network, checkpoint, *lora, None, reporter)?;
            write_json(&path, &r)?;
            r
        };
        evaluations.push((name.clone(), report.scenarios.into_iter().map(|s| (s.scenario, s.metrics)).collect()));
    }

    // 5. Results.
    let results = RunResults::new(evaluations, data.test.num_classes() == 1)?;
    results.write(dir.root())?;
    dir.log(reporter, &format!("results written to {}", dir.root().join("results.md").display()))?;
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
    score(config, &data, &network(config, &data, device), checkpoint, reporter)
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
    evaluate(config, &data, &network(config, &data, device), checkpoint, lora, scenarios, reporter)
}
