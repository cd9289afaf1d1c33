//! One scene from rasters to rasters (docs/predict.md §4–§7): what `lssg predict` calls. Opens
//! the available modalities' rasters, creates the outputs (so an unwritable path fails before
//! any work), predicts strip by strip into the label / probability rasters and the preview, and
//! renames the outputs into place only when everything succeeded.

use std::path::PathBuf;

use lssg_backbones::SegmentationModel;
use lssg_datasets::raster::grid::{GdalScene, ModalityInput, SceneGrid};
use lssg_scenario::Scenario;

use crate::error::{Error, Result};
use crate::predict::{PredictOptions, PredictSummary, RowSink, Tee, predict_scene};
use crate::preview::PreviewSink;
use crate::raster_out::{OutputSpec, RasterWriter};
use crate::source::Normalization;

/// Everything one scene prediction needs besides the model.
#[derive(Debug, Clone)]
pub struct SceneJob {
    /// Modality names, in the model's order.
    pub names: Vec<String>,
    /// Channels per modality in training.
    pub channels: Vec<usize>,
    /// A raster per modality (`None`: no file; fine for an unavailable modality).
    pub inputs: Vec<Option<ModalityInput>>,
    /// The grid reference and footprint rule (default: the first available modality's grid,
    /// footprints checked).
    pub grid: SceneGrid,
    /// The available modalities.
    pub scenario: Scenario,
    /// The training normalisation.
    pub norm: Normalization,
    /// Tiling, blending, batch and device.
    pub options: PredictOptions,
    /// The label (and probability) rasters.
    pub output: OutputSpec,
    /// The colour preview PNG, if wanted.
    pub preview: Option<PathBuf>,
}

/// GDAL's block cache defaults to 5 % of the machine's memory and holds written blocks until
/// it is full: cap it at [`GDAL_CACHE_BYTES`] unless `GDAL_CACHEMAX` is set (docs/predict.md §6).
fn limit_gdal_cache() {
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        // SAFETY: a plain setter of a process-wide GDAL setting.
        unsafe { gdal_sys::GDALSetCacheMax64(GDAL_CACHE_BYTES) };
    }
}

/// The GDAL block cache `predict_files` allows itself (64 MiB).
pub const GDAL_CACHE_BYTES: i64 = 64 << 20;

/// Predicts `job`'s scene with `model` and writes its outputs; `progress(done, total)` after each
/// row of tiles. On any error no output file is left behind.
pub fn predict_files(
    model: &dyn SegmentationModel,
    job: &SceneJob,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PredictSummary> {
    if job.scenario.count() == 0 {
        return Err(Error::Modality("--available names no modality".into()));
    }
    if job.inputs.len() != job.names.len() {
        return Err(Error::Shape { what: "modality inputs".into(), expected: job.names.len(), got: job.inputs.len() });
    }
    // Only the available modalities are opened: the others may have no (or any) file.
    let mut inputs = Vec::with_capacity(job.inputs.len());
    for (m, input) in job.inputs.iter().enumerate() {
        if !job.scenario.contains(m) {
            inputs.push(None);
            continue;
        }
        match input {
            Some(i) => inputs.push(Some(i.clone())),
            None => return Err(Error::MissingInput(job.names[m].clone())),
        }
    }
    limit_gdal_cache();
    let mut scene = GdalScene::open_with(&job.names, &job.channels, &inputs, &job.grid)?;
    let geo = scene.geo().clone();
    let classes = model.num_classes().max(1) as usize;
    let mut writer = RasterWriter::create(job.output.clone(), &geo, classes)?;
    let mut preview = job.preview.as_ref().map(|_| PreviewSink::new(geo.height, geo.width));
    let summary = {
        let mut sinks: Vec<&mut dyn RowSink> = vec![&mut writer];
        if let Some(p) = preview.as_mut() {
            sinks.push(p);
        }
        let mut tee = Tee(sinks);
        predict_scene(model, &mut scene, &job.norm, job.scenario, &job.options, &mut tee, progress)
            .map_err(|e| e.in_scene(&scene_name(&inputs)))?
    };
    writer.finish()?;
    if let (Some(p), Some(path)) = (&preview, &job.preview) {
        p.write(path, &job.output.class_names, &job.output.palette)?;
    }
    Ok(summary)
}

/// The scene as its rasters: the available modalities' files.
fn scene_name(inputs: &[Option<ModalityInput>]) -> String {
    let paths: Vec<String> = inputs.iter().flatten().map(|i| i.path.display().to_string()).collect();
    format!("scene {}", paths.join(", "))
}
