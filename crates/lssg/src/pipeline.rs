//! `lssg run`: pretrain → score → fine-tune every method → evaluate every method under every
//! scenario → results tables (docs/method.md §1; the data flow is in docs/architecture.md).
//!
//! This module only sequences the stages and their files: each stage is one library call
//! ([`lssg_trainer::pretrain`], [`lssg_scoring::measure_scores`] and
//! [`lssg_scoring::probabilities`], [`lssg_trainer::finetune`], [`lssg_trainer::evaluate`]).
//! Each stage is done when its output file exists (written atomically), so running the same
//! command again after an interruption continues from the last finished stage; the trainer
//! continues from the last finished epoch inside a stage. The directory layout is in
//! [`crate::run_dir`].

use std::path::{Path, PathBuf};

use lssg_backbones::Weights;
use lssg_core::ScoreKind;
use lssg_datasets::DataSplits;
use lssg_scenario::ProbabilitiesFile;
use lssg_scenario::robustness::TileMaps;
use lssg_scoring::{DistortionReport, PerSampleScores, score_intervals};
use lssg_torch::Precision;
use lssg_trainer::{EvalOptions, EvalReport, FinetuneFrom, Method, Network};
use tch::Device;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::reporter::{Reporter, Stage, StageStatus};
use crate::results::RunResults;
use crate::run_dir::{RunDir, write_json};

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
    Network { layout: config.run.layout, ..Network::for_data(&config.model, data, config.run.seed, device) }
}

/// What scoring a pretrained network gives (docs/method.md §3, §4).
pub struct Scored {
    /// Mean scores per scenario, with their intervals.
    pub report: DistortionReport,
    /// Every sample's scores.
    pub per_sample: PerSampleScores,
    /// The distribution of the latent distortion (what `guided` samples).
    pub probabilities: ProbabilitiesFile,
    /// The distribution of the task-loss increase (what `guided-task` samples).
    pub task_probabilities: ProbabilitiesFile,
}

/// Scores the pretrained `checkpoint` on the training split: both scores per sample, their
/// means with bootstrap intervals (`[scoring] bootstrap_resamples`), and the probabilities
/// files built from them.
pub fn score(
    config: &RunConfig,
    data: &DataSplits,
    network: &Network,
    checkpoint: &Path,
    reporter: &mut dyn Reporter,
) -> Result<Scored> {
    let model = network.load(&network.model, Weights::Checkpoint(checkpoint))?;
    let mut progress = |done: usize, total: usize| reporter.progress("scoring", done, total);
    // The scoring forwards at `[run] precision` (docs/precision.md §1).
    // One inference session for the whole pass (`[run] inference`, docs/speed.md §10).
    let (mut report, per_sample) = config.run.precision.autocast(network.device, || {
        model.net.inference(config.run.inference).region(network.device, || {
            lssg_scoring::measure_scores(
                model.net.as_ref(),
                data.train.clone(),
                &config.scoring,
                network.device,
                &mut progress,
            )
        })
    })???;
    let set = data.train.modalities();
    let (s, sm) = (&config.scoring, &config.smoothing);
    if s.bootstrap_resamples > 0 {
        let intervals =
            |rows: &[Vec<f64>]| score_intervals(rows, set, sm, s.bootstrap_resamples, s.bootstrap_seed, 0.95);
        report.intervals = Some(intervals(&per_sample.latent)?);
        report.task_intervals = Some(intervals(&per_sample.task)?);
    }
    let (backbone, ckpt) = (network.model.backbone.as_str(), checkpoint.display().to_string());
    let probabilities = lssg_scoring::probabilities(ScoreKind::Latent, &report, set, sm, backbone, &ckpt)?;
    let task_probabilities = lssg_scoring::probabilities(ScoreKind::Task, &report, set, sm, backbone, &ckpt)?;
    Ok(Scored { report, per_sample, probabilities, task_probabilities })
}

/// Evaluates `checkpoint` (with LoRA adapters when `lora`) under `scenarios` (the config's
/// `eval.scenarios` by default) on the test split, with the robustness protocols of
/// `[eval.protocols]` (docs/method.md §6.1).
pub fn evaluate(
    config: &RunConfig,
    data: &DataSplits,
    network: &Network,
    checkpoint: &Path,
    lora: bool,
    scenarios: Option<&str>,
    reporter: &mut dyn Reporter,
) -> Result<Evaluated> {
    let set = data.test.modalities();
    let list = set.parse_scenario_list(scenarios.unwrap_or(&config.eval.scenarios))?;
    // The network as the `lora` method trained it (adapters), or the plain one.
    let method = if lora { Method::Lora } else { Method::Uniform };
    let model_config = config.finetune.model_config(method, &network.model);
    let model = network.load(&model_config, Weights::Checkpoint(checkpoint))?;
    let options =
        EvalOptions { batch_size: config.eval.batch_size, device: network.device, protocols: &config.eval.protocols };
    // The evaluation forwards at `[run] precision` (docs/precision.md §1).
    let evaluation = config.run.precision.autocast(network.device, || {
        model.net.inference(config.run.inference).region(network.device, || {
            lssg_trainer::evaluate_with(model.net.as_ref(), data.test.clone(), &list, options, reporter.observer())
        })
    })???;
    let maps = (!evaluation.maps.is_empty()).then(|| {
        let classes = evaluation.report.class_names.len();
        TileMaps { palette: lssg_datasets::palette::class_palette(&config.data, classes), tiles: evaluation.maps }
    });
    Ok(Evaluated { report: evaluation.report, maps })
}

/// An evaluation file and, with protocols enabled, the predicted maps of the first test tiles.
pub struct Evaluated {
    /// `eval/<name>.json`.
    pub report: EvalReport,
    /// `eval/<name>.maps.json`, coloured with the data set's palette.
    pub maps: Option<TileMaps>,
}

/// Applies the process-wide settings of `[run]` (libtorch threads).
pub fn apply_run_settings(config: &RunConfig) {
    if let Some(n) = config.run.threads {
        tch::set_num_threads(n as i32);
    }
}

/// The data and network of a run, opened once: the process-wide settings applied, the device
/// resolved, and both described in the run log.
pub struct Opened {
    /// The data set's splits.
    pub data: DataSplits,
    /// The run's network on its device.
    pub network: Network,
}

/// Applies `[run]`, resolves the device, opens the data and logs both into `dir`.
pub fn open(config: &RunConfig, dir: &RunDir, reporter: &mut dyn Reporter) -> Result<Opened> {
    apply_run_settings(config);
    let device = config.run.device.resolve()?;
    config.check_precision_on(device, &dir.config().display().to_string())?;
    let threads = tch::get_num_threads();
    let precision = config.run.precision;
    let line = format!("run directory {}, device {device:?}, {threads} libtorch threads", dir.root().display());
    // fp32 runs log what they always logged.
    let line = match precision {
        Precision::Fp32 => line,
        Precision::Auto => format!("{line}, precision auto ({} here)", precision.resolve(device)),
        _ => format!("{line}, precision {precision}"),
    };
    dir.log(reporter, &line)?;
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
    Ok(Opened { data, network })
}

/// What every method fine-tunes from: the pretrained weights and the scenario distributions.
pub struct Pretrained {
    /// The pretrained checkpoint.
    pub checkpoint: PathBuf,
    /// The stage's summary (its history is the learning curve).
    pub summary: lssg_trainer::TrainSummary,
    /// The probabilities file built from the pretrained network's latent distortions.
    pub probabilities: ProbabilitiesFile,
    /// Where it is.
    pub probabilities_path: PathBuf,
    /// The probabilities file built from its task-loss increases.
    pub task_probabilities: ProbabilitiesFile,
    /// Where that is.
    pub task_probabilities_path: PathBuf,
}

/// Stages 1 and 2 in `dir`: pretraining with uniform scenario dropout, then scoring and
/// smoothing; each resumes or is skipped when an earlier call finished it.
pub fn pretrain_and_score(
    config: &RunConfig,
    opened: &Opened,
    dir: &RunDir,
    reporter: &mut dyn Reporter,
) -> Result<Pretrained> {
    let Opened { data, network } = opened;
    dir.log_stage(reporter, &Stage::Pretrain, StageStatus::Running)?;
    let summary = lssg_trainer::pretrain(network, data, &config.pretrain, &dir.pretrain(), reporter.observer())?;
    let checkpoint = summary.checkpoint.clone();
    // The task-score file is written last: with it, scoring is complete.
    let (probabilities, task_probabilities) = if dir.task_probabilities().exists() {
        dir.log_stage(reporter, &Stage::Scoring, StageStatus::DoneEarlier)?;
        (ProbabilitiesFile::read(&dir.probabilities())?, ProbabilitiesFile::read(&dir.task_probabilities())?)
    } else {
        dir.log_stage(reporter, &Stage::Scoring, StageStatus::Running)?;
        let scored = score(config, data, network, &checkpoint, reporter)?;
        write_json(&dir.distortion(), &scored.report)?;
        let npy = |path: PathBuf, rows: &[Vec<f64>]| {
            lssg_scoring::write_npy_f32(&path, rows).map_err(|source| Error::Io { path, source })
        };
        npy(dir.latent_per_sample(), &scored.per_sample.latent)?;
        npy(dir.task_per_sample(), &scored.per_sample.task)?;
        scored.probabilities.write(&dir.probabilities())?;
        scored.task_probabilities.write(&dir.task_probabilities())?;
        (scored.probabilities, scored.task_probabilities)
    };
    Ok(Pretrained {
        checkpoint,
        summary,
        probabilities,
        probabilities_path: dir.probabilities(),
        task_probabilities,
        task_probabilities_path: dir.task_probabilities(),
    })
}

/// Stage 3 for one method in `dir`: fine-tuning from `pretrained` (resumable).
pub fn finetune_method(
    config: &RunConfig,
    method: Method,
    opened: &Opened,
    pretrained: &Pretrained,
    dir: &RunDir,
    reporter: &mut dyn Reporter,
) -> Result<lssg_trainer::TrainSummary> {
    dir.log_stage(reporter, &Stage::Finetune(method), StageStatus::Running)?;
    let from = FinetuneFrom {
        pretrained: &pretrained.checkpoint,
        probabilities: Some((&pretrained.probabilities, &pretrained.probabilities_path)),
        task_probabilities: Some((&pretrained.task_probabilities, &pretrained.task_probabilities_path)),
        rescoring: Some((&config.scoring, &config.smoothing)),
    };
    Ok(lssg_trainer::finetune(
        method,
        &config.finetune,
        &opened.network,
        from,
        &opened.data,
        &dir.finetune(method),
        reporter.observer(),
    )?)
}

/// Stage 4 for one network: the evaluation of `checkpoint` (`name` = a method or `pretrained`)
/// under every configured scenario, kept in `dir`'s `eval/<name>.json` and read back from there
/// when an earlier call wrote it.
pub fn evaluate_stage(
    config: &RunConfig,
    name: &str,
    checkpoint: &Path,
    lora: bool,
    opened: &Opened,
    dir: &RunDir,
    reporter: &mut dyn Reporter,
) -> Result<EvalReport> {
    let path = dir.eval(name);
    let stage = Stage::Eval(name.to_string());
    if path.exists() {
        dir.log_stage(reporter, &stage, StageStatus::DoneEarlier)?;
        return Ok(EvalReport::read(&path)?);
    }
    dir.log_stage(reporter, &stage, StageStatus::Running)?;
    let evaluated = evaluate(config, &opened.data, &opened.network, checkpoint, lora, None, reporter)?;
    // The maps first: the evaluation file marks the stage done.
    if let Some(maps) = &evaluated.maps {
        write_json(&dir.eval_maps(name), maps)?;
    }
    write_json(&path, &evaluated.report)?;
    Ok(evaluated.report)
}

/// Runs the whole pipeline in `dir`, resuming whatever an earlier run finished.
pub fn run(config: &RunConfig, dir: &RunDir, reporter: &mut dyn Reporter) -> Result<RunResults> {
    dir.prepare(config)?;
    let opened = open(config, dir, reporter)?;
    let pretrained = pretrain_and_score(config, &opened, dir, reporter)?;

    let mut checkpoints: Vec<(String, PathBuf, bool)> = Vec::new();
    if config.eval.include_pretrained {
        checkpoints.push(("pretrained".into(), pretrained.checkpoint.clone(), false));
    }
    for &method in &config.finetune.methods {
        let summary = finetune_method(config, method, &opened, &pretrained, dir, reporter)?;
        checkpoints.push((method.name().to_string(), summary.checkpoint, method.uses_lora()));
    }

    let mut evaluations = Vec::new();
    for (name, checkpoint, lora) in &checkpoints {
        let report = evaluate_stage(config, name, checkpoint, *lora, &opened, dir, reporter)?;
        evaluations.push((name.clone(), report));
    }

    let results = RunResults::new(&evaluations)?;
    results.write(dir.root())?;
    dir.log(reporter, &format!("results written to {}", dir.root().join("results.md").display()))?;
    Ok(results)
}

/// `lssg score`: opens the data and device of `config` and scores `checkpoint`.
pub fn score_checkpoint(config: &RunConfig, checkpoint: &Path, reporter: &mut dyn Reporter) -> Result<Scored> {
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
) -> Result<Evaluated> {
    apply_run_settings(config);
    let device = config.run.device.resolve()?;
    let data = open_data(config)?;
    evaluate(config, &data, &network(config, &data, device), checkpoint, lora, scenarios, reporter)
}
