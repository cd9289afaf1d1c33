//! `lssg export`: a trained network as a self-contained TorchScript or ONNX file that runs
//! without lssg (docs/export.md). The model is traced on the CPU in fp32 from lssg's own
//! network, LoRA adapters merged into the base weights, with the run's input normalisation in
//! front of it; `lssg.json` (`metadata`) travels inside the file. The file is written
//! atomically: on any error nothing is left at the output path.

pub mod metadata;
pub mod onnx;
mod trace;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lssg_backbones::{LoadedModel, Weights, lora};
use lssg_datasets::{DataSplits, offsets_and_scales};
use lssg_trainer::{Method, Network};
use tch::Device;

use crate::error::{Error, Result};
use crate::model_source::{ModelSource, ResolvedModel};
use metadata::{ExportMetadata, ModalityInfo, NormalizationInfo, ScenarioInfo, ShapeInfo};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A TorchScript archive (`torch.jit.load`, libtorch's `torch::jit::load`).
    TorchScript,
    /// An ONNX model (opset 17), converted in the venv's Python.
    Onnx,
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "torchscript" => Ok(Self::TorchScript),
            "onnx" => Ok(Self::Onnx),
            _ => Err(Error::Model(format!("--format {s:?}: expected torchscript or onnx"))),
        }
    }
}

/// Everything `lssg export` was asked for.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The network.
    pub model: ModelSource,
    /// `--set` overrides of the configuration.
    pub overrides: Vec<String>,
    /// TorchScript or ONNX.
    pub format: Format,
    /// The file to write.
    pub out: PathBuf,
    /// Tiles per call (fixed in the exported graph).
    pub batch: usize,
    /// Tile side (fixed; default: the data set's tile size).
    pub tile: Option<usize>,
}

/// The network to export, its adapters merged, with the data it was trained on.
struct Prepared {
    model: LoadedModel,
    data: DataSplits,
    offset: Vec<Vec<f32>>,
    scale: Vec<Vec<f32>>,
}

/// Builds the network of `resolved` on the CPU and merges LoRA adapters into a plain network.
fn prepare(resolved: &ResolvedModel) -> Result<Prepared> {
    let config = &resolved.config;
    let (data, stats) = lssg_datasets::open_with_stats(&config.data).map_err(|e| match e {
        lssg_datasets::Error::Missing { .. } => Error::DataMissing { source: e },
        e => Error::Data(e),
    })?;
    let channels = data.train.modalities().channels();
    let (offset, scale) = match &stats {
        Some(s) => offsets_and_scales(s, &lssg_datasets::normalize_config(&config.data)),
        None => (channels.iter().map(|&c| vec![0.0; c]).collect(), channels.iter().map(|&c| vec![1.0; c]).collect()),
    };
    // The default layout and the CPU whatever the run trained with: the traced graph is plain
    // fp32 NCHW, which every runtime accepts.
    let network = Network::for_data(&config.model, &data, config.run.seed, Device::Cpu);
    let checkpoint = Weights::Checkpoint(&resolved.checkpoint);
    let model = if resolved.lora {
        let adapted = config.finetune.model_config(Method::Lora, &network.model);
        let with_adapters = network.load(&adapted, checkpoint)?;
        lora::merge_lora(&with_adapters.vs, &config.finetune.lora)?;
        // The merged base weights go into a network without adapters, so that the traced graph
        // has none.
        let mut plain = network.load(&network.model, Weights::Random)?;
        plain.vs.copy(&with_adapters.vs)?;
        plain
    } else {
        network.load(&network.model, checkpoint)?
    };
    Ok(Prepared { model, data, offset, scale })
}

fn method_name(source: &ModelSource) -> Option<String> {
    match source {
        ModelSource::Run { method, .. } => Some(method.clone()),
        ModelSource::Checkpoint { .. } => None,
    }
}

/// `lssg.json` for `p` traced at `batch` × `tile`².
fn describe(req: &ExportRequest, resolved: &ResolvedModel, p: &Prepared, tile: usize) -> Result<ExportMetadata> {
    let set = p.data.train.modalities();
    let config = &resolved.config;
    let k = p.data.train.num_classes();
    let mut classes = p.data.train.class_names();
    if k == 1 {
        classes.insert(0, "background".into());
    }
    let palette = lssg_datasets::palette::class_palette(&config.data, classes.len());
    let modalities: Vec<ModalityInfo> =
        set.modalities().iter().map(|m| ModalityInfo { name: m.name.clone(), bands: m.channels }).collect();
    let b = req.batch;
    let config_json = serde_json::to_value(config)
        .map_err(|e| Error::Model(format!("the run configuration cannot be written as JSON: {e}")))?;
    Ok(ExportMetadata {
        format: "lssg-export",
        version: 1,
        backbone: config.model.backbone.as_str().into(),
        preset: config.model.preset.as_str().into(),
        method: method_name(&req.model),
        lora_merged: resolved.lora,
        shapes: ShapeInfo {
            batch: b,
            tile,
            inputs: modalities.iter().map(|m| [b, m.bands, tile, tile]).collect(),
            availability: [b, modalities.len()],
            logits: [b, k, tile, tile],
        },
        modalities,
        classes,
        palette,
        task: if k == 1 { "binary" } else { "multiclass" },
        normalization: NormalizationInfo { offset: p.offset.clone(), scale: p.scale.clone(), non_finite: 0.0 },
        scenarios: set
            .scenarios()
            .into_iter()
            .map(|s| ScenarioInfo { name: set.scenario_name(s), availability: s.mask_row(set.len()) })
            .collect(),
        config: config_json,
    })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Runs `lssg export`: returns the metadata written into `req.out`.
pub fn export(req: &ExportRequest) -> Result<ExportMetadata> {
    if req.batch == 0 || req.tile == Some(0) {
        return Err(Error::Model(format!("--batch {} --tile {:?}: both must be at least 1", req.batch, req.tile)));
    }
    let resolved = crate::model_source::resolve(&req.model, &req.overrides)?;
    if let Some(tile) = req.tile {
        resolved.config.model.check_tile("--tile", tile, None)?;
    }
    resolved.require_finished()?;
    crate::pipeline::apply_run_settings(&resolved.config);
    let mut prepared = prepare(&resolved)?;
    // A variable that requires grad cannot become a constant of the traced graph.
    prepared.model.vs.freeze();
    let tile = req.tile.unwrap_or_else(|| prepared.data.train.tile_size().0);
    let meta = describe(req, &resolved, &prepared, tile)?;
    let json =
        serde_json::to_string_pretty(&meta).map_err(|e| Error::Model(format!("lssg.json cannot be written: {e}")))?;
    let traceable =
        trace::Traceable { net: prepared.model.net.as_ref(), offset: &prepared.offset, scale: &prepared.scale };
    let module = trace::trace(&traceable, req.batch, tile)?;
    let scratch = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    let traced = scratch.path().join("traced.pt");
    module.save(&traced)?;
    let done = scratch.path().join("export");
    match req.format {
        Format::TorchScript => lssg_torch::jit::save_with_extra_file(&traced, &done, "lssg.json", json.as_bytes())?,
        Format::Onnx => {
            let meta_file = scratch.path().join("lssg.json");
            std::fs::write(&meta_file, &json).map_err(io(&meta_file))?;
            onnx::convert(&traced, &done, &meta_file)?;
        }
    }
    let bytes = std::fs::read(&done).map_err(io(&done))?;
    lssg_scenario::io::write_atomic(&req.out, &bytes)?;
    Ok(meta)
}
