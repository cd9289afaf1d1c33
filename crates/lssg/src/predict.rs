//! `lssg predict`: segment one whole scene with whatever sensors are available
//! (docs/predict.md §8). Resolves the model (a run directory and method, or a config and a
//! checkpoint), the training normalisation (the data set's cached statistics), the scene's
//! rasters (`crate::scene_inputs`) and the scenario, then calls
//! [`lssg_predict::predict_files`].

use std::path::PathBuf;

use lssg_backbones::Weights;
use lssg_predict::{BlendWindow, Normalization, OutputSpec, PredictOptions, PredictSummary, SceneJob};
use lssg_scenario::{ModalitySet, Scenario};
use lssg_torch::DeviceSpec;
use lssg_trainer::{Method, Network};

use crate::error::{Error, Result};
use crate::model_source::{ModelSource, ResolvedModel};

/// Everything `lssg predict` was asked for.
#[derive(Debug, Clone)]
pub struct PredictRequest {
    /// The network.
    pub model: ModelSource,
    /// `--set` overrides of the configuration.
    pub overrides: Vec<String>,
    /// A scene id of the configured data set, or a raster holding every modality's bands.
    pub scene: Option<String>,
    /// Where to look the scene id up (default: the configured data root); the normalisation
    /// still comes from the training data.
    pub scene_root: Option<PathBuf>,
    /// `name=path` rasters, one per modality.
    pub modalities: Vec<(String, PathBuf)>,
    /// The available modalities (`rgb,dsm`, a scenario name such as `rgb+dsm`, or an index).
    pub available: String,
    /// The outputs.
    pub labels: PathBuf,
    /// Float32 class probabilities.
    pub probs: Option<PathBuf>,
    /// A colour PNG.
    pub preview: Option<PathBuf>,
    /// Write the labels as a COG.
    pub cog: bool,
    /// Tile side (default: the data set's tile size).
    pub tile: Option<usize>,
    /// Tile overlap.
    pub overlap: usize,
    /// Tiles per forward.
    pub batch: usize,
    /// Blending window.
    pub blend: BlendWindow,
    /// Device (default: the config's `[run] device`).
    pub device: Option<DeviceSpec>,
}

/// What was predicted.
#[derive(Debug, Clone)]
pub struct Predicted {
    /// The scenario's name.
    pub scenario: String,
    /// The checkpoint used.
    pub checkpoint: PathBuf,
    /// Sizes and tile counts.
    pub summary: PredictSummary,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Predict(lssg_predict::Error::Modality(message.into()))
}

/// `--available`: a comma- or plus-separated list of modality names, `all`, or a scenario index.
pub fn parse_available(set: &ModalitySet, text: &str) -> Result<Scenario> {
    let joined = text.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("+");
    if joined.is_empty() {
        return Err(invalid(format!("--available {text:?} names no modality (known: {})", set.names().join(", "))));
    }
    Ok(set.parse_scenario(&joined)?)
}

/// Runs `lssg predict`; `progress(done, total)` after each row of tiles.
pub fn predict(req: &PredictRequest, progress: &mut dyn FnMut(usize, usize)) -> Result<Predicted> {
    let ResolvedModel { config, checkpoint, lora, .. } = crate::model_source::resolve(&req.model, &req.overrides)?;
    // The configured tile passed `config.validate`; a `--tile` is checked the same way.
    let tile = req.tile.unwrap_or(config.data.tile_size().1);
    if req.tile.is_some() {
        config.model.check_tile("--tile", tile, None)?;
    }
    crate::pipeline::apply_run_settings(&config);
    let device = req.device.unwrap_or(config.run.device).resolve()?;
    let (data, stats) = lssg_datasets::open_with_stats(&config.data).map_err(|e| match e {
        lssg_datasets::Error::Missing { .. } => Error::DataMissing { source: e },
        e => Error::Data(e),
    })?;
    let set = data.train.modalities().clone();
    let scenario = parse_available(&set, &req.available)?;
    let scene = crate::scene_inputs::resolve(
        &config.data,
        &set,
        req.scene.as_deref(),
        req.scene_root.as_deref(),
        &req.modalities,
    )?;
    let norm = match &stats {
        Some(s) => Normalization::from_stats(s, &lssg_datasets::normalize_config(&config.data)),
        None => Normalization::identity(&set.channels()),
    };
    let network =
        Network { layout: config.run.layout, ..Network::for_data(&config.model, &data, config.run.seed, device) };
    let method = if lora { Method::Lora } else { Method::Uniform };
    let model =
        network.load(&config.finetune.model_config(method, &network.model), Weights::Checkpoint(&checkpoint))?;
    let mut class_names = data.train.class_names();
    if class_names.len() == 1 {
        // A binary model's labels are 0 = not the class, 1 = the class.
        class_names.insert(0, "background".into());
    }
    let palette = lssg_datasets::palette::class_palette(&config.data, class_names.len().max(2));
    let options = PredictOptions { tile, overlap: req.overlap, batch: req.batch, window: req.blend, device };
    let job = SceneJob {
        names: set.names().iter().map(|s| s.to_string()).collect(),
        channels: set.channels(),
        inputs: scene.inputs,
        grid: scene.grid,
        scenario,
        norm,
        options,
        output: OutputSpec {
            labels: req.labels.clone(),
            probs: req.probs.clone(),
            cog: req.cog,
            class_names,
            palette,
            nodata: Some(lssg_datasets::IGNORE_INDEX),
        },
        preview: req.preview.clone(),
    };
    // The forwards at `[run] precision` (docs/precision.md §1).
    // One inference session for every scene (`[run] inference`, docs/speed.md §10).
    let summary = config.run.precision.autocast(device, || {
        model
            .net
            .inference(config.run.inference)
            .region(device, || lssg_predict::predict_files(model.net.as_ref(), &job, progress))
    })???;
    Ok(Predicted { scenario: set.scenario_name(scenario), checkpoint, summary })
}
